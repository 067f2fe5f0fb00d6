// Sharded checkpoints: greedy split, index file, merge, and index validation errors.
#include "safetensors/sharded.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "core/shard_set.hpp"
#include "core/write_plan.hpp"
#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::test;

namespace {

struct five_tensors {
  std::vector<std::vector<std::byte>> data;
  std::vector<tensor_source> sources;
  five_tensors() {
    const std::pair<const char*, std::uint64_t> spec[] = {
        {"a", 10}, {"b", 10}, {"c", 10}, {"d", 30}, {"e", 2}};
    for (const auto& [name, n] : spec) {
      auto& d = data.emplace_back(n * 4);
      for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::byte>(i + name[0]);
    }
    for (std::size_t k = 0; k < 5; ++k)
      sources.push_back(source(spec[k].first, dtype::F32, {spec[k].second}, data[k]));
  }
};

shard_options max_size(std::uint64_t n) {
  shard_options o;
  o.max_shard_size = n;
  o.write.fsync = false;
  return o;
}

void expect_same_tensors(const checkpoint& cp, const five_tensors& t) {
  ASSERT_EQ(cp.tensors().size(), t.sources.size());
  for (const auto& s : t.sources) {
    auto got = cp.get(s.name);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(as_string(got->bytes()), as_string(s.data)) << s.name;
    EXPECT_EQ(got->shape(), s.shape);
  }
}

// Two shards written by hand, and an index text to go with them.
struct hand_made {
  temp_dir dir;
  std::vector<std::byte> four = std::vector<std::byte>(4);
  hand_made() {
    const tensor_source s1[] = {source("a", dtype::F32, {1}, four),
                                source("b", dtype::F32, {1}, four)};
    const tensor_source s2[] = {source("c", dtype::F32, {1}, four)};
    EXPECT_TRUE(write_file(dir / "s1.safetensors", s1, {}));
    EXPECT_TRUE(write_file(dir / "s2.safetensors", s2, {}));
  }
  result<checkpoint> open_with(std::string_view index) {
    write_all(dir / "model.safetensors.index.json", index);
    return checkpoint::open(dir.path());
  }
};

const char* good_map = R"({"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"})";

std::string with_map(std::string_view map, std::string_view meta = R"({"total_size":12})") {
  return std::string(R"({"metadata":)") + std::string(meta) + R"(,"weight_map":)" +
         std::string(map) + "}";
}

void expect_invalid(result<checkpoint> cp, std::initializer_list<std::string_view> words) {
  ASSERT_FALSE(cp);
  EXPECT_EQ(cp.error().code, errc::invalid_index) << cp.error().message;
  for (auto w : words)
    EXPECT_NE(cp.error().message.find(w), std::string::npos) << cp.error().message << " / " << w;
}

}  // namespace

TEST(WriteSharded, GreedySplitInWriterOrder) {
  temp_dir dir;
  five_tensors t;  // 40, 40, 40, 120, 8 bytes
  auto files = write_sharded(dir.path(), t.sources, meta({{"format", "pt"}}), max_size(100));
  ASSERT_TRUE(files) << files.error().message;
  const std::vector<std::string> expected = {
      "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
      "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
      "model.safetensors.index.json"};
  EXPECT_EQ(dir.list(), expected);
  ASSERT_EQ(files->size(), 5u);
  EXPECT_EQ(files->back(), dir / "model.safetensors.index.json");
  EXPECT_EQ(  // as transformers writes it: json.dumps(index, indent=2, sort_keys=True) + "\n"
      as_string(read_all(dir / "model.safetensors.index.json")),
      "{\n  \"metadata\": {\n    \"total_size\": 248\n  },\n  \"weight_map\": {\n"
      "    \"a\": \"model-00001-of-00004.safetensors\",\n"
      "    \"b\": \"model-00001-of-00004.safetensors\",\n"
      "    \"c\": \"model-00002-of-00004.safetensors\",\n"
      "    \"d\": \"model-00003-of-00004.safetensors\",\n"
      "    \"e\": \"model-00004-of-00004.safetensors\"\n  }\n}\n");
  for (const auto& open_path : {dir.path(), dir / "model.safetensors.index.json"}) {
    auto cp = checkpoint::open(open_path);
    ASSERT_TRUE(cp) << cp.error().message;
    EXPECT_TRUE(cp->is_sharded());
    EXPECT_EQ(cp->shards().size(), 4u);
    EXPECT_EQ(cp->total_size(), 248u);
    ASSERT_NE(cp->metadata().find("format"), nullptr);
    EXPECT_EQ(cp->find("d")->shard, 2u);
    expect_same_tensors(*cp, t);
  }
}

TEST(WriteSharded, CheckRunsOnEveryShardAndAFailureStopsTheWrite) {
  temp_dir dir;
  five_tensors t;  // 4 shards of at most 100 bytes
  auto o = max_size(100);
  std::vector<std::size_t> tensors_seen;
  o.write.check = [&](const std::filesystem::path& written) -> result<void> {
    auto f = file::open(written);
    if (!f) return tl::unexpected(f.error());
    tensors_seen.push_back(f->tensors().size());
    return {};
  };
  ASSERT_TRUE(write_sharded(dir.path(), t.sources, {}, o));
  EXPECT_EQ(tensors_seen, (std::vector<std::size_t>{2, 1, 1, 1}));

  temp_dir second;
  int calls = 0;
  o.write.check = [&](const std::filesystem::path&) -> result<void> {
    if (++calls == 2) return fail(errc::invalid_checkpoint, "second shard differs");
    return {};
  };
  auto r = write_sharded(second.path(), t.sources, {}, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_checkpoint);
  EXPECT_TRUE(second.list().empty());  // no shard is renamed into place before all are complete
}

TEST(WriteSharded, OneShardIsAPlainFile) {
  temp_dir dir;
  five_tensors t;
  auto files = write_sharded(dir.path(), t.sources, {}, max_size(1000));
  ASSERT_TRUE(files);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(read_all(dir / "model.safetensors"), *serialize(t.sources, {}));
  auto cp = checkpoint::open(dir.path());
  ASSERT_TRUE(cp);
  EXPECT_FALSE(cp->is_sharded());
  expect_same_tensors(*cp, t);
}

TEST(WriteSharded, CustomPrefixFolderAndMerge) {
  temp_dir dir, merged;
  five_tensors t;
  shard_options o = max_size(80);
  o.prefix = "weights";
  ASSERT_TRUE(write_sharded(dir.path(), t.sources, {}, o));
  EXPECT_EQ(dir.list().back(), "weights.safetensors.index.json");
  auto cp = checkpoint::open(dir.path());  // found as the folder's only index
  ASSERT_TRUE(cp) << cp.error().message;
  std::vector<tensor_source> all;
  for (const auto& e : cp->tensors()) {
    auto tensor = cp->get(e.info->name);
    all.push_back(source(e.info->name, e.info->type, e.info->shape, tensor->bytes()));
  }
  ASSERT_TRUE(write_sharded(merged.path(), all, {}, max_size(1u << 20)));
  EXPECT_EQ(read_all(merged / "model.safetensors"), *serialize(t.sources, {}));
}

TEST(WriteSharded, Errors) {
  temp_dir dir;
  five_tensors t;
  const auto zero = write_sharded(dir.path(), t.sources, {}, max_size(0));
  EXPECT_EQ(zero.error().code, errc::invalid_argument);
  EXPECT_EQ(zero.error().message, "write sharded: max_shard_size is 0");
  shard_options o = max_size(100);
  o.prefix = "a/b";
  const auto prefix = write_sharded(dir.path(), t.sources, {}, o);
  EXPECT_EQ(prefix.error().code, errc::invalid_argument);
  EXPECT_EQ(prefix.error().message, "write sharded: invalid prefix `a/b`");
  t.sources[4].name = "a";
  const auto dup = write_sharded(dir.path(), t.sources, {}, max_size(100));
  EXPECT_EQ(dup.error().code, errc::duplicate_key);
  EXPECT_EQ(dup.error().message, "tensor `a`: appears twice");
  EXPECT_TRUE(dir.list().empty());
}

namespace {

// Shard `g` of `groups` written under its temp name and added to `set`.
result<void> add_shard(detail::shard_set& set, const five_tensors& t,
                       const std::vector<std::size_t>& group) {
  std::vector<tensor_source> shard;
  std::vector<std::string_view> names;
  std::uint64_t bytes = 0;
  for (auto i : group) {
    shard.push_back(t.sources[i]);
    names.push_back(t.sources[i].name);
    bytes += t.data[i].size();
  }
  write_options o;
  o.fsync = false;
  auto f = detail::write_prepared(set.shard_path(set.added()), shard, meta({{"format", "pt"}}), o);
  if (!f) return tl::unexpected(f.error());
  return set.add(std::move(*f), names, bytes);
}

}  // namespace

TEST(ShardSet, IsWhatWriteShardedPublishes) {
  five_tensors t;
  temp_dir a;
  ASSERT_TRUE(write_sharded(a.path(), t.sources, meta({{"format", "pt"}}), max_size(100)));
  // The same split by hand (the torch converter's way: shards chosen by the caller).
  temp_dir b;
  detail::shard_set set(b.path(), "model", 4, false);
  for (const auto& group : std::vector<std::vector<std::size_t>>{{0, 1}, {2}, {3}, {4}}) {
    ASSERT_TRUE(add_shard(set, t, group));
  }
  EXPECT_EQ(b.list().size(), 4u);
  for (const auto& name : b.list()) EXPECT_EQ(name.front(), '.') << name;  // hidden temp names only
  auto written = set.publish();
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(written->back(), b / "model.safetensors.index.json");
  EXPECT_EQ(a.list(), b.list());
  for (const auto& name : a.list()) EXPECT_EQ(read_all(a / name), read_all(b / name)) << name;
}

TEST(ShardSet, DuplicateTensorOrMissingShardPublishesNothing) {
  five_tensors t;
  temp_dir dir;
  {
    detail::shard_set set(dir.path(), "model", 2, false);
    ASSERT_TRUE(add_shard(set, t, {0, 1}));
    auto dup = add_shard(set, t, {1});
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().code, errc::duplicate_key);
    EXPECT_NE(dup.error().message.find("tensor 'b' is in two shards"), std::string::npos)
        << dup.error().message;
    auto incomplete = set.publish();
    ASSERT_FALSE(incomplete);
    EXPECT_EQ(incomplete.error().code, errc::invalid_argument);
  }
  EXPECT_TRUE(dir.list().empty());  // the temp files went with the set
}

TEST(CheckpointIndex, HandMadeIndexOpens) {
  hand_made h;
  auto cp = h.open_with(with_map(good_map));
  ASSERT_TRUE(cp) << cp.error().message;
  EXPECT_EQ(cp->tensors().size(), 3u);
  const auto missing = cp->get("zz");
  EXPECT_EQ(missing.error().code, errc::tensor_not_found);
  EXPECT_EQ(missing.error().message,
            "'" + (h.dir / "model.safetensors.index.json").string() + "': tensor `zz` not found");

  EXPECT_TRUE(h.open_with(with_map(good_map, R"({"format":"pt"})")));  // total_size is optional
  EXPECT_TRUE(h.open_with(R"({"weight_map":)" + std::string(good_map) + "}"));
}

TEST(CheckpointIndex, ShardInASubfolder) {
  hand_made h;
  std::filesystem::create_directory(h.dir / "sub");
  std::filesystem::rename(h.dir / "s2.safetensors", h.dir / "sub" / "s2.safetensors");
  EXPECT_TRUE(h.open_with(
      with_map(R"({"a":"s1.safetensors","b":"s1.safetensors","c":"./sub/s2.safetensors"})")));
}

TEST(CheckpointIndex, PathsMustStayInTheFolder) {
  hand_made h;
  expect_invalid(h.open_with(with_map(
                     R"({"a":"/etc/s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"})")),
                 {"absolute", "/etc/s1.safetensors"});
  expect_invalid(h.open_with(with_map(
                     R"({"a":"../s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"})")),
                 {".."});
  expect_invalid(
      h.open_with(with_map(R"({"a":"sub/../../x","b":"s1.safetensors","c":"s2.safetensors"})")),
      {".."});
  expect_invalid(h.open_with(with_map(
                     R"({"a":"sub\\s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"})")),
                 {"backslash"});
  expect_invalid(h.open_with(with_map(R"({"a":"","b":"s1.safetensors","c":"s2.safetensors"})")),
                 {"empty"});
}

TEST(CheckpointIndex, MissingShard) {
  hand_made h;
  expect_invalid(
      h.open_with(with_map(R"({"a":"s1.safetensors","b":"s1.safetensors","c":"s3.safetensors"})")),
      {"s3.safetensors", "does not exist"});
}

TEST(CheckpointIndex, TensorInTheWrongShard) {
  hand_made h;
  expect_invalid(
      h.open_with(with_map(R"({"a":"s1.safetensors","b":"s2.safetensors","c":"s2.safetensors"})")),
      {"`b`", "s1.safetensors", "s2.safetensors"});
}

TEST(CheckpointIndex, ExtraTensorInAShard) {
  hand_made h;
  expect_invalid(h.open_with(with_map(R"({"a":"s1.safetensors","c":"s2.safetensors"})",
                                      R"({"total_size":8})")),
                 {"`b`", "s1.safetensors", "not in the weight_map"});
}

TEST(CheckpointIndex, TensorMissingFromItsShard) {
  hand_made h;
  expect_invalid(
      h.open_with(with_map(
          R"({"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors","z":"s2.safetensors"})")),
      {"`z`", "s2.safetensors", "missing"});
}

TEST(CheckpointIndex, DuplicateTensorAcrossShards) {
  hand_made h;
  const tensor_source again[] = {source("a", dtype::F32, {1}, h.four),
                                 source("c", dtype::F32, {1}, h.four)};
  ASSERT_TRUE(write_file(h.dir / "s2.safetensors", again, {}));
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":16})")),
                 {"`a`", "s1.safetensors", "s2.safetensors"});
}

TEST(CheckpointIndex, BadJsonAndSchema) {
  hand_made h;
  expect_invalid(h.open_with(R"({"weight_map":{"a":"s1.safetensors",}})"), {"invalid JSON"});
  expect_invalid(h.open_with("[]"), {"not a JSON object"});
  expect_invalid(h.open_with(R"({"metadata":{}})"), {"weight_map"});
  expect_invalid(h.open_with(R"({"weight_map":[]})"), {"field 'weight_map': must be an object"});
  expect_invalid(h.open_with(R"({"weight_map":{}})"), {"empty"});
  expect_invalid(h.open_with(R"({"weight_map":{"a":1}})"),
                 {"field 'weight_map.a': must be a string"});
  expect_invalid(h.open_with(R"({"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}})"),
                 {"field 'weight_map.a': duplicate key"});
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":12,"total_size":12})")),
                 {"field 'metadata.total_size': duplicate key"});
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":12,"extra":{"x":1,"x":2}})")),
                 {"field 'metadata.extra.x': duplicate key"});
  expect_invalid(h.open_with(with_map(good_map) + R"(,"weight_map":{})"), {"invalid JSON"});
  expect_invalid(h.open_with(R"({"weight_map":)" + std::string(good_map) + R"(,"weight_map":)" +
                             std::string(good_map) + "}"),
                 {"field 'weight_map': duplicate key"});
  expect_invalid(h.open_with(with_map(good_map, "[]")), {"metadata"});
}

TEST(CheckpointIndex, TotalSize) {
  hand_made h;
  auto differs = h.open_with(with_map(good_map, R"({"total_size":13})"));  // kept, not an error
  ASSERT_TRUE(differs) << differs.error().message;
  EXPECT_EQ(differs->declared_total_size(), 13u);
  EXPECT_EQ(differs->total_size(), 12u);
  auto absent = h.open_with(with_map(good_map, R"({"format":"pt"})"));
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->declared_total_size().has_value());
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":12.0})")),
                 {"model.safetensors.index.json: field 'metadata.total_size': must be a "
                  "non-negative integer"});
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":-12})")), {"total_size"});
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":"12"})")), {"total_size"});
}

TEST(CheckpointIndex, IndexFileIsBoundedAndNeverBlocks) {
  hand_made h;
  write_all(h.dir / "model.safetensors.index.json", with_map(good_map));
  open_options small;
  small.max_header_size = 20;  // the index is read with the header limit
  auto big = checkpoint::open(h.dir / "model.safetensors.index.json", small);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, errc::limit_exceeded);
  EXPECT_NE(big.error().message.find("above the limit of 20 bytes"), std::string::npos)
      << big.error().message;
  std::filesystem::remove(h.dir / "model.safetensors.index.json");
  ASSERT_EQ(::mkfifo((h.dir / "model.safetensors.index.json").c_str(), 0600), 0);
  auto fifo =
      checkpoint::open(h.dir / "model.safetensors.index.json");  // would block in open() otherwise
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().code, errc::io);
  EXPECT_NE(fifo.error().message.find("FIFO"), std::string::npos) << fifo.error().message;
}

TEST(CheckpointOpen, FolderWithoutCheckpointAndBadShard) {
  temp_dir dir;
  auto cp = checkpoint::open(dir.path());
  ASSERT_FALSE(cp);
  EXPECT_EQ(cp.error().code, errc::io);
  hand_made h;
  write_all(h.dir / "s2.safetensors", "garbage");
  auto bad = h.open_with(with_map(good_map));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::header_too_small);
}

TEST(CheckpointIndex, NumberedShardTheIndexDoesNotName) {
  temp_dir dir;
  five_tensors t;
  ASSERT_TRUE(write_sharded(dir.path(), t.sources, meta({{"format", "pt"}}), max_size(100)));
  const auto index = dir / "model.safetensors.index.json";
  // Shard 4 of 4 left in the folder but dropped from the index: the index and folder disagree.
  std::string text = as_string(read_all(index));
  const std::string entry = ",\n    \"e\": \"model-00004-of-00004.safetensors\"";
  text.replace(text.find(entry), entry.size(), "");
  std::ofstream(index, std::ios::binary | std::ios::trunc) << text;
  expect_invalid(checkpoint::open(dir.path()),
                 {"model-00004-of-00004.safetensors", "is in the folder but the weight_map"});
  // Other numbered names (another total, another prefix) are not shards of this index.
  std::filesystem::rename(dir / "model-00004-of-00004.safetensors",
                          dir / "model-00001-of-00005.safetensors");
  EXPECT_TRUE(checkpoint::open(dir.path()));
}
