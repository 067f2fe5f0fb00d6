// Sharded checkpoints: greedy split, index file, merge, and index validation errors.
#include "safetensors/sharded.hpp"

#include <gtest/gtest.h>

#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::test;

namespace {

struct five_tensors {
  std::vector<std::vector<std::byte>> data;
  std::vector<tensor_source> sources;
  five_tensors() {
    const std::pair<const char*, std::uint64_t> spec[] = {{"a", 10}, {"b", 10}, {"c", 10}, {"d", 30}, {"e", 2}};
    for (const auto& [name, n] : spec) {
      auto& d = data.emplace_back(n * 4);
      for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::byte>(i + name[0]);
    }
    for (std::size_t k = 0; k < 5; ++k) sources.push_back(source(spec[k].first, dtype::F32, {spec[k].second}, data[k]));
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
    const tensor_source s1[] = {source("a", dtype::F32, {1}, four), source("b", dtype::F32, {1}, four)};
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
  return std::string(R"({"metadata":)") + std::string(meta) + R"(,"weight_map":)" + std::string(map) + "}";
}

void expect_invalid(result<checkpoint> cp, std::initializer_list<std::string_view> words) {
  ASSERT_FALSE(cp);
  EXPECT_EQ(cp.error().code, errc::invalid_index) << cp.error().message;
  for (auto w : words) EXPECT_NE(cp.error().message.find(w), std::string::npos) << cp.error().message << " / " << w;
}

}  // namespace

TEST(WriteSharded, GreedySplitInWriterOrder) {
  temp_dir dir;
  five_tensors t;  // 40, 40, 40, 120, 8 bytes
  auto files = write_sharded(dir.path(), t.sources, meta({{"format", "pt"}}), max_size(100));
  ASSERT_TRUE(files) << files.error().message;
  const std::vector<std::string> expected = {"model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                                             "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                                             "model.safetensors.index.json"};
  EXPECT_EQ(dir.list(), expected);
  ASSERT_EQ(files->size(), 5u);
  EXPECT_EQ(files->back(), dir / "model.safetensors.index.json");
  EXPECT_EQ(as_string(read_all(dir / "model.safetensors.index.json")),
            R"({"metadata":{"total_size":248},"weight_map":{"a":"model-00001-of-00004.safetensors",)"
            R"("b":"model-00001-of-00004.safetensors","c":"model-00002-of-00004.safetensors",)"
            R"("d":"model-00003-of-00004.safetensors","e":"model-00004-of-00004.safetensors"}})");
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
  EXPECT_EQ(write_sharded(dir.path(), t.sources, {}, max_size(0)).error().code, errc::invalid_argument);
  shard_options o = max_size(100);
  o.prefix = "a/b";
  EXPECT_EQ(write_sharded(dir.path(), t.sources, {}, o).error().code, errc::invalid_argument);
  t.sources[4].name = "a";
  EXPECT_EQ(write_sharded(dir.path(), t.sources, {}, max_size(100)).error().code, errc::duplicate_key);
  EXPECT_TRUE(dir.list().empty());
}

TEST(CheckpointIndex, HandMadeIndexOpens) {
  hand_made h;
  auto cp = h.open_with(with_map(good_map));
  ASSERT_TRUE(cp) << cp.error().message;
  EXPECT_EQ(cp->tensors().size(), 3u);
  EXPECT_EQ(cp->get("zz").error().code, errc::tensor_not_found);
  EXPECT_TRUE(h.open_with(with_map(good_map, R"({"format":"pt"})")));  // total_size is optional
  EXPECT_TRUE(h.open_with(R"({"weight_map":)" + std::string(good_map) + "}"));
}

TEST(CheckpointIndex, ShardInASubfolder) {
  hand_made h;
  std::filesystem::create_directory(h.dir / "sub");
  std::filesystem::rename(h.dir / "s2.safetensors", h.dir / "sub" / "s2.safetensors");
  EXPECT_TRUE(h.open_with(with_map(R"({"a":"s1.safetensors","b":"s1.safetensors","c":"./sub/s2.safetensors"})")));
}

TEST(CheckpointIndex, PathsMustStayInTheFolder) {
  hand_made h;
  expect_invalid(h.open_with(with_map(R"({"a":"/etc/s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"})")),
                 {"absolute", "/etc/s1.safetensors"});
  expect_invalid(h.open_with(with_map(R"({"a":"../s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"})")),
                 {".."});
  expect_invalid(h.open_with(with_map(R"({"a":"sub/../../x","b":"s1.safetensors","c":"s2.safetensors"})")), {".."});
  expect_invalid(h.open_with(with_map(R"({"a":"sub\\s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"})")),
                 {"backslash"});
  expect_invalid(h.open_with(with_map(R"({"a":"","b":"s1.safetensors","c":"s2.safetensors"})")), {"empty"});
}

TEST(CheckpointIndex, MissingShard) {
  hand_made h;
  expect_invalid(h.open_with(with_map(R"({"a":"s1.safetensors","b":"s1.safetensors","c":"s3.safetensors"})")),
                 {"s3.safetensors", "does not exist"});
}

TEST(CheckpointIndex, TensorInTheWrongShard) {
  hand_made h;
  expect_invalid(h.open_with(with_map(R"({"a":"s1.safetensors","b":"s2.safetensors","c":"s2.safetensors"})")),
                 {"`b`", "s1.safetensors", "s2.safetensors"});
}

TEST(CheckpointIndex, ExtraTensorInAShard) {
  hand_made h;
  expect_invalid(h.open_with(with_map(R"({"a":"s1.safetensors","c":"s2.safetensors"})", R"({"total_size":8})")),
                 {"`b`", "s1.safetensors", "not in the weight_map"});
}

TEST(CheckpointIndex, TensorMissingFromItsShard) {
  hand_made h;
  expect_invalid(
      h.open_with(with_map(R"({"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors","z":"s2.safetensors"})")),
      {"`z`", "s2.safetensors", "missing"});
}

TEST(CheckpointIndex, DuplicateTensorAcrossShards) {
  hand_made h;
  const tensor_source again[] = {source("a", dtype::F32, {1}, h.four), source("c", dtype::F32, {1}, h.four)};
  ASSERT_TRUE(write_file(h.dir / "s2.safetensors", again, {}));
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":16})")), {"`a`", "s1.safetensors", "s2.safetensors"});
}

TEST(CheckpointIndex, BadJsonAndSchema) {
  hand_made h;
  expect_invalid(h.open_with(R"({"weight_map":{"a":"s1.safetensors",}})"), {"invalid JSON"});
  expect_invalid(h.open_with("[]"), {"not a JSON object"});
  expect_invalid(h.open_with(R"({"metadata":{}})"), {"weight_map"});
  expect_invalid(h.open_with(R"({"weight_map":[]})"), {"not an object"});
  expect_invalid(h.open_with(R"({"weight_map":{}})"), {"empty"});
  expect_invalid(h.open_with(R"({"weight_map":{"a":1}})"), {"`a`", "not a string"});
  expect_invalid(h.open_with(R"({"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}})"), {"`a`", "twice"});
  expect_invalid(h.open_with(with_map(good_map) + R"(,"weight_map":{})"), {"invalid JSON"});
  expect_invalid(h.open_with(R"({"weight_map":)" + std::string(good_map) + R"(,"weight_map":)" +
                             std::string(good_map) + "}"),
                 {"duplicate key `weight_map`"});
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
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":12.0})")), {"total_size"});
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":-12})")), {"total_size"});
  expect_invalid(h.open_with(with_map(good_map, R"({"total_size":"12"})")), {"total_size"});
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
