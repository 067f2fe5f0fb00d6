// The checkpoint pipeline (safetensors/pipeline.hpp) from C++: sources, rules, casts in pieces,
// single-file and sharded outputs (keep_shards, stale shards), verification and its errors.
#include "safetensors/pipeline.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "safetensors/reader.hpp"
#include "safetensors/sharded.hpp"
#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::test;

namespace {

struct model_file {
  std::vector<bytes> data;
  std::vector<tensor_source> sources;
  explicit model_file(int layers = 3) {
    data.reserve(static_cast<std::size_t>(layers) * 2 + 1);
    for (int i = 0; i < layers; ++i) {
      add("model.layers." + std::to_string(i) + ".w", dtype::F32, {4, 4});
      add("model.layers." + std::to_string(i) + ".b", dtype::F16, {4});
    }
    add("lm_head", dtype::BF16, {2, 4});
  }
  void add(std::string name, dtype t, std::vector<std::uint64_t> shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    auto& d = data.emplace_back(n * (dtype_bits(t) / 8));
    for (std::size_t i = 0; i < d.size(); ++i)
      d[i] = static_cast<std::byte>((i * 13 + name.size()) % 120);  // finite in every width
    sources.push_back(source(std::move(name), t, std::move(shape), d));
  }
};

output_options quick() {
  output_options o;
  o.fsync = false;
  return o;
}

std::vector<std::string> names(const tensor_set& s) {
  std::vector<std::string> out;
  for (const auto& t : s.tensors) out.push_back(t.name);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Pipeline, MergeOfSplitIsTheSameFile) {
  temp_dir dir;
  model_file m;
  const auto src = dir / "x.safetensors";
  ASSERT_TRUE(write_file(src, m.sources, meta({{"format", "pt"}})).has_value());
  auto set = open_source(src);
  ASSERT_TRUE(set.has_value()) << set.error().message;
  auto o = quick();
  o.max_shard_size = 100;
  auto split = write_shards(*set, dir / "shards", o);
  ASSERT_TRUE(split.has_value()) << split.error().message;
  EXPECT_GT(split->written.size(), 3u);
  EXPECT_TRUE(split->verified);
  auto shards = open_source(dir / "shards");
  ASSERT_TRUE(shards.has_value());
  ASSERT_TRUE(write_checkpoint(*shards, dir / "m.safetensors", quick()).has_value());
  EXPECT_EQ(read_all(dir / "m.safetensors"), read_all(src));
}

TEST(Pipeline, RulesFilterRenameAndCollisions) {
  temp_dir dir;
  model_file m;
  const auto src = dir / "x.safetensors";
  ASSERT_TRUE(write_file(src, m.sources, {}).has_value());
  auto set = open_source(src);
  ASSERT_TRUE(set.has_value());
  select_rules r;
  r.include = {"model.*"};
  r.exclude = {"*.b"};
  r.rename = {*rename_rule::parse(R"(^model\.layers\.(\d+)=L$1)")};
  ASSERT_TRUE(apply_rules(*set, r).has_value());
  EXPECT_EQ(names(*set), (std::vector<std::string>{"L0.w", "L1.w", "L2.w"}));

  auto again = open_source(src);
  select_rules clash;
  clash.rename = {*rename_rule::parse(R"(\.(w|b)$=.x)")};
  const auto e = apply_rules(*again, clash);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, errc::invalid_argument);
  EXPECT_NE(e.error().message.find("would both be named 'model.layers.0.x'"), std::string::npos)
      << e.error().message;

  select_rules none;
  none.include = {"nothing"};
  auto third = open_source(src);
  EXPECT_FALSE(apply_rules(*third, none).has_value());
  EXPECT_FALSE(rename_rule::parse("no equals").has_value());
  EXPECT_FALSE(rename_rule::parse("(=x").has_value());
  const auto escaped = rename_rule::parse(R"(a\=b=c)");
  ASSERT_TRUE(escaped.has_value());
  EXPECT_EQ(std::regex_replace(std::string("xa=b"), escaped->pattern, escaped->replacement), "xc");
}

TEST(Pipeline, CastStreamsInPiecesAcrossPackedGroups) {
  // An F6 source streamed in 1-byte chunks: every 4-element group spans 3 chunks.
  const bytes f6 = {std::byte{0x41}, std::byte{0x10}, std::byte{0x04},
                    std::byte{0x82}, std::byte{0x20}, std::byte{0x08}};
  tensor_set set;
  source_tensor t;
  t.name = "f6";
  t.type = dtype::F6_E2M3;
  t.shape = {8};
  t.nbytes = f6.size();
  t.stream = [&](const byte_sink& sink) -> result<void> {
    for (const auto& b : f6)
      if (auto r = sink(std::span(&b, 1)); !r) return r;
    return {};
  };
  set.tensors.push_back(t);
  select_rules r;
  r.cast = dtype::F32;
  ASSERT_TRUE(apply_rules(set, r).has_value());
  ASSERT_EQ(set.tensors[0].type, dtype::F32);
  ASSERT_EQ(set.tensors[0].nbytes, 32u);
  bytes got;
  ASSERT_TRUE(set.tensors[0]
                  .stream([&](std::span<const std::byte> c) -> result<void> {
                    got.insert(got.end(), c.begin(), c.end());
                    return {};
                  })
                  .has_value());
  bytes want(32);
  ASSERT_TRUE(convert_elements(dtype::F6_E2M3, f6, dtype::F32, want, 8).has_value());
  EXPECT_EQ(got, want);

  select_rules bad;
  bad.cast = dtype::I8;
  EXPECT_FALSE(apply_rules(set, bad).has_value());
  tensor_set odd;
  source_tensor three;
  three.name = "odd";
  three.shape = {3};
  three.nbytes = 12;
  three.stream = [](const byte_sink&) -> result<void> { return {}; };
  odd.tensors.push_back(three);
  select_rules to_f4;
  to_f4.cast = dtype::F4;
  const auto e = apply_rules(odd, to_f4);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("tensor 'odd': 3 elements cannot be written as F4"),
            std::string::npos)
      << e.error().message;
}

TEST(Pipeline, KeepShardsAndStaleShardsAreRemoved) {
  temp_dir dir;
  model_file m;
  ASSERT_TRUE(write_file(dir / "x.safetensors", m.sources, {}).has_value());
  auto set = open_source(dir / "x.safetensors");
  ASSERT_TRUE(set.has_value());
  for (std::size_t i = 0; i < set->tensors.size(); ++i) set->tensors[i].shard = i % 2;
  auto o = quick();
  o.keep_shards = true;
  auto r = write_shards(*set, dir / "out", o);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(dir.list().size(), 2u);
  EXPECT_EQ(existing_outputs(dir / "out", "model").size(), 3u);  // 2 shards + index

  // The same folder re-cut into one file: refused without force, then the old set goes.
  auto one = open_source(dir / "out");
  ASSERT_TRUE(one.has_value());
  auto single = quick();
  single.max_shard_size = 1u << 30;
  EXPECT_FALSE(write_shards(*one, dir / "out", single).has_value());
  EXPECT_EQ(existing_outputs(dir / "out", "model").size(), 3u);
  single.force = true;
  auto replaced = write_shards(*one, dir / "out", single);
  ASSERT_TRUE(replaced.has_value()) << replaced.error().message;
  EXPECT_EQ(replaced->removed.size(), 3u);
  EXPECT_EQ(existing_outputs(dir / "out", "model"),
            std::vector<std::filesystem::path>{dir / "out" / "model.safetensors"});
}

TEST(Pipeline, VerificationReadsEachSourceOnce) {
  temp_dir dir;
  tensor_set set;
  int calls = 0;
  source_tensor t;
  t.name = "t";
  t.type = dtype::U8;
  t.shape = {4};
  t.nbytes = 4;
  t.stream = [&calls](const byte_sink& sink) -> result<void> {
    const bytes b(4, static_cast<std::byte>(++calls));
    return sink(b);
  };
  set.tensors.push_back(t);
  const auto r = write_checkpoint(set, dir / "o.safetensors", quick());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->verified);
  EXPECT_EQ(calls, 1);  // the check compares checksums taken while writing, not the source
  EXPECT_EQ(read_all(dir / "o.safetensors").back(), std::byte{1});
}

// Fault injection: tensor "b"'s reader changes a byte of "a" that was already handed to the
// writer (still in its buffer), as memory corruption between the writer and the disk would.
// The file then holds other bytes than the ones written: the read-back check must refuse it.
struct corrupting_source {
  /// a: two pieces, the last one still in the writer's buffer when b is read (which flips its
  /// last byte); c (when not empty) comes after them: a file that big is followed while it is
  /// written (detail::write_follower), so a's damaged piece is read back before the file ends.
  explicit corrupting_source(std::size_t c_bytes = 0) : c(c_bytes, std::byte{3}) {}
  bytes a = bytes((5u << 20) + 3, std::byte{7});
  bytes b = bytes(16, std::byte{9});
  bytes c;
  std::span<std::byte> last_a;  // where the writer took a's last bytes
  tensor_set set() {
    tensor_set s;
    for (auto* d : {&a, &b, &c}) {
      if (d == &c && c.empty()) break;
      source_tensor t;
      t.name = d == &a ? "a" : d == &b ? "b" : "c";
      t.type = dtype::U8;
      t.shape = {d->size()};
      t.nbytes = d->size();
      t.read = [this, d](std::uint64_t at, std::span<std::byte> out) -> result<void> {
        std::memcpy(out.data(), d->data() + at, out.size());
        if (d == &a) last_a = out;
        if (d == &b && !last_a.empty()) last_a.back() ^= std::byte{1};
        return {};
      };
      s.tensors.push_back(std::move(t));
    }
    return s;
  }
};

TEST(Pipeline, VerificationCatchesBytesChangedAfterTheWriterTookThem) {
  for (const bool sharded : {false, true})
    for (const std::size_t c_bytes : {std::size_t{0}, std::size_t{64} << 20}) {
      temp_dir dir;
      corrupting_source src(c_bytes);
      const auto set = src.set();
      const auto r = sharded ? write_shards(set, dir / "out", quick())
                             : write_checkpoint(set, dir / "o.safetensors", quick());
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().code, errc::invalid_checkpoint);
      EXPECT_EQ(r.error().message,
                "verify: tensor 'a' differs in bytes [4194304, 5242883) from what was written");
      EXPECT_FALSE(src.last_a.empty());
      // Nothing left behind, not even a temp file.
      EXPECT_EQ(dir.list(), sharded ? std::vector<std::string>{"out"} : std::vector<std::string>{});
      if (sharded) {
        EXPECT_TRUE(std::filesystem::is_empty(dir / "out"));
      }
    }
  // Without verification the damaged file is published (what the check is for).
  temp_dir dir;
  corrupting_source src;
  auto o = quick();
  o.verify = false;
  ASSERT_TRUE(write_checkpoint(src.set(), dir / "o.safetensors", o).has_value());
  const auto f = file::open(dir / "o.safetensors");
  ASSERT_TRUE(f.has_value());
  bytes last(1);
  ASSERT_TRUE(f->read_bytes(*f->find("a"), src.a.size() - 1, last).has_value());
  EXPECT_EQ(last[0], std::byte{6});
}

TEST(Pipeline, CompanionFilesAreCopiedOnce) {
  temp_dir dir;
  model_file m;
  std::filesystem::create_directory(dir / "in");
  ASSERT_TRUE(write_file(dir / "in" / "model.safetensors", m.sources, {}).has_value());
  write_all(dir / "in" / "config.json", "{}");
  write_all(dir / "in" / ".hidden", "x");
  EXPECT_EQ(companion_files(dir / "in"),
            std::vector<std::filesystem::path>{dir / "in" / "config.json"});
  auto set = open_source(dir / "in");
  ASSERT_TRUE(set.has_value());
  auto o = quick();
  o.companions_of = dir / "in";
  auto r = write_shards(*set, dir / "out", o);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->copied, std::vector<std::filesystem::path>{dir / "out" / "config.json"});
  o.prefix = "other";
  const auto again = write_shards(*set, dir / "out", o);
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().message.find("config.json already exists"), std::string::npos);
}

}  // namespace
