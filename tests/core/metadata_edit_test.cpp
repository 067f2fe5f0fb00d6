// __metadata__ edits: apply_metadata_edit rules, write_metadata in place (same N, trailing
// spaces) and by rewrite (alignment kept, data bytes equal), read-only files, and index edits.
#include "safetensors/metadata_edit.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>

#include "safetensors/reader.hpp"
#include "safetensors/sharded.hpp"
#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::test;

namespace {

struct fixture {
  temp_dir dir;
  std::vector<std::byte> w = std::vector<std::byte>(48), b = std::vector<std::byte>(6);
  std::filesystem::path path;
  explicit fixture(const metadata_map& m, std::uint64_t alignment = 8) {
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<std::byte>(i * 3);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::byte>(200 - i);
    const tensor_source ts[] = {source("w", dtype::F32, {3, 4}, w),
                                source("b", dtype::F16, {3}, b)};
    write_options o;
    o.alignment = alignment;
    o.fsync = false;
    path = dir / "m.safetensors";
    EXPECT_TRUE(write_file(path, ts, m, o));
  }
  /// (N, data section bytes)
  std::pair<std::uint64_t, std::vector<std::byte>> layout() const {
    const auto all = read_all(path);
    std::uint64_t n = 0;
    std::memcpy(&n, all.data(), 8);
    return {n, std::vector<std::byte>(all.begin() + static_cast<std::ptrdiff_t>(8 + n), all.end())};
  }
};

metadata_write_options no_sync() {
  metadata_write_options o;
  o.fsync = false;
  return o;
}

TEST(MetadataEdit, ApplyRules) {
  metadata_edit e;
  e.set = {{"b", "2"}, {"a", "1"}};
  e.unset = {"gone"};
  auto m = apply_metadata_edit(meta({{"gone", "x"}, {"keep", "y"}}), e);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->entries, (std::vector<std::pair<std::string, std::string>>{
                            {"a", "1"}, {"b", "2"}, {"keep", "y"}}));
  metadata_edit twice;
  twice.set = {{"k", "1"}, {"k", "2"}};
  EXPECT_EQ(apply_metadata_edit({}, twice).error().code, errc::invalid_argument);
  metadata_edit both;
  both.set = {{"k", "1"}};
  both.unset = {"k"};
  EXPECT_EQ(apply_metadata_edit({}, both).error().code, errc::invalid_argument);
  metadata_edit bad_utf8;
  bad_utf8.set = {{"k", "\xff"}};
  EXPECT_EQ(apply_metadata_edit({}, bad_utf8).error().code, errc::invalid_argument);
}

TEST(MetadataEdit, InPlaceKeepsN) {
  fixture f(meta({{"format", "pt"}, {"long", std::string(64, 'x')}}));
  const auto [n0, data0] = f.layout();
  const auto r = write_metadata(f.path, meta({{"format", "np"}}), no_sync());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, metadata_write::in_place);
  const auto [n1, data1] = f.layout();
  EXPECT_EQ(n1, n0);
  EXPECT_EQ(data1, data0);
  auto opened = file::open(f.path);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->metadata().entries, meta({{"format", "np"}}).entries);
  EXPECT_EQ(*write_metadata(f.path, meta({{"format", "np"}}), no_sync()),
            metadata_write::unchanged);
}

TEST(MetadataEdit, RewriteKeepsAlignmentAndData) {
  fixture f(meta({{"format", "pt"}}), 64);
  const auto [n0, data0] = f.layout();
  const auto r =
      write_metadata(f.path, meta({{"format", "pt"}, {"note", std::string(300, 'v')}}), no_sync());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, metadata_write::rewritten);
  const auto [n1, data1] = f.layout();
  EXPECT_GT(n1, n0);
  EXPECT_EQ((8 + n1) % 64, 0u);
  EXPECT_EQ(data1, data0);
  auto opened = file::open(f.path);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->tensors().size(), 2u);
  EXPECT_EQ(f.dir.list(), std::vector<std::string>{"m.safetensors"});  // no temp file left
}

TEST(MetadataEdit, ReadOnlyAndCorruptFiles) {
  fixture f(meta({{"format", "pt"}}));
  const auto before = read_all(f.path);
  ASSERT_EQ(::chmod(f.path.c_str(), 0444), 0);
  for (const auto& value : {std::string("x"), std::string(500, 'y')}) {
    const auto r = write_metadata(f.path, meta({{"format", value}}), no_sync());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::io);
    EXPECT_NE(r.error().message.find("read-only"), std::string::npos);
  }
  EXPECT_EQ(read_all(f.path), before);
  const auto bad = f.dir.write("bad.safetensors", make_file("{\"a\":1}"));
  EXPECT_EQ(write_metadata(bad, meta({{"k", "v"}})).error().code, errc::invalid_json);
  EXPECT_EQ(write_metadata(f.dir / "none.safetensors", meta({})).error().code, errc::io);
}

TEST(MetadataEdit, IndexMetadata) {
  temp_dir dir;
  const auto index =
      dir.write("model.safetensors.index.json",
                R"({"metadata":{"total_size":24,"x":"1"},"weight_map":{"a":"s.safetensors"}})");
  metadata_edit e;
  e.set = {{"quant", "none"}, {"x", "2"}};
  ASSERT_TRUE(edit_index_metadata(index, e, false));
  auto m = read_index_metadata(index);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->entries, (std::vector<std::pair<std::string, std::string>>{
                            {"total_size", "24"}, {"x", "2"}, {"quant", "none"}}));
  EXPECT_EQ(m->is_string, (std::vector<bool>{false, true, true}));
  EXPECT_EQ(
      as_string(read_all(index)),
      "{\"metadata\":{\"total_size\":24,\"x\":\"2\",\"quant\":\"none\"},\"weight_map\":{\"a\":"
      "\"s.safetensors\"}}\n");
  metadata_edit total;
  total.set = {{"total_size", "1"}};
  EXPECT_EQ(edit_index_metadata(index, total, false).error().code, errc::invalid_argument);
  const auto broken = dir.write("broken.index.json", "{\"metadata\":[1]}");
  metadata_edit any;
  any.set = {{"k", "v"}};
  EXPECT_EQ(edit_index_metadata(broken, any, false).error().code, errc::invalid_index);
}

}  // namespace
