// The usage examples at the top of include/safetensors/reader.hpp and writer.hpp, compiled and
// run. The functions below are copied from those comments; the first test checks that every
// line of each example still appears here, in order, so the two cannot drift apart.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/reader.hpp"
#include "safetensors/writer.hpp"
#include "support/test_files.hpp"

namespace {

// ---- from include/safetensors/reader.hpp
safetensors::result<float> sum(const std::filesystem::path& path, std::string_view name) {
  auto f = safetensors::file::open(path);    // reads and validates the header only
  if (!f) return tl::unexpected(f.error());  // error().message names the file and the field
  auto t = f->get(name);  // zero-copy view into the mapping (tensor_not_found if absent)
  if (!t) return tl::unexpected(t.error());
  auto values = t->as<float>();  // dtype_mismatch unless the tensor is F32
  if (!values) return tl::unexpected(values.error());
  return std::accumulate(values->begin(), values->end(), 0.0f);
}

// ---- from include/safetensors/writer.hpp
safetensors::result<void> save(const std::filesystem::path& path) {
  static const float weights[] = {1, 2, 3, 4, 5, 6};
  safetensors::tensor_source t;
  t.name = "linear.weight";
  t.type = safetensors::dtype::F32;
  t.shape = {2, 3};
  t.data = std::as_bytes(std::span(weights));  // borrowed: no copy
  const safetensors::metadata_map metadata{true, {{"format", "pt"}}};
  return safetensors::write_file(path, {&t, 1}, metadata);  // temp file, fsync, rename
}

// `s` without leading and trailing spaces, inner runs of spaces as one (clang-format aligns
// trailing comments differently in the header and here).
std::string normalized(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ' || (!out.empty() && out.back() != ' ')) out.push_back(c);
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The indented code lines ("//   ...") of a header's opening comment.
std::vector<std::string> example_of(const std::filesystem::path& header) {
  std::vector<std::string> out;
  for (const auto& line : lines_of(header)) {
    if (line.rfind("//", 0) != 0) break;
    if (line.rfind("//   ", 0) == 0) out.push_back(normalized(line.substr(2)));
  }
  return out;
}

}  // namespace

TEST(HeaderExamples, CodeHereMatchesTheHeaderComments) {
  const auto root = safetensors::test::source_dir();
  std::vector<std::string> here;
  for (const auto& line : lines_of(root / "tests/core/header_examples_test.cpp"))
    here.push_back(normalized(line));
  for (const char* header : {"include/safetensors/reader.hpp", "include/safetensors/writer.hpp"}) {
    const auto example = example_of(root / header);
    ASSERT_GE(example.size(), 6u) << header << " has no usage example";
    auto pos = here.begin();
    for (const auto& line : example) {
      pos = std::find(pos, here.end(), line);
      ASSERT_NE(pos, here.end()) << header << ": example line not compiled here: " << line;
    }
  }
}

TEST(HeaderExamples, WriteThenSum) {
  safetensors::test::temp_dir dir;
  const auto path = dir.path() / "example.safetensors";
  auto saved = save(path);
  ASSERT_TRUE(saved) << saved.error().message;
  auto total = sum(path, "linear.weight");
  ASSERT_TRUE(total) << total.error().message;
  EXPECT_EQ(*total, 21.0f);
  auto f = safetensors::file::open(path);
  ASSERT_TRUE(f);
  ASSERT_NE(f->metadata().find("format"), nullptr);
  EXPECT_EQ(*f->metadata().find("format"), "pt");
  EXPECT_EQ(f->find("linear.weight")->shape, (std::vector<std::uint64_t>{2, 3}));
  auto missing = sum(path, "bias");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, safetensors::errc::tensor_not_found);
  auto absent = sum(dir.path() / "absent.safetensors", "linear.weight");
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, safetensors::errc::io);
}
