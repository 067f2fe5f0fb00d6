// detail::write_follower: the pieces of a file that grows are read back as soon as the file holds
// them, at the offsets its header gives; what is not in a known tensor of the right size is not.
#include "core/write_follower.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "core/piece_sums.hpp"
#include "safetensors/reader.hpp"
#include "safetensors/writer.hpp"
#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::detail;
using namespace safetensors::test;

namespace {

bytes pattern(std::size_t n, unsigned seed) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::byte>(((i + seed) * 2654435761u) >> 13);
  return b;
}

struct grown_file {
  bytes content;
  std::vector<tensor_info> tensors;
  std::uint64_t data_start = 0;
};

/// A file of U8 tensors "big" (2 pieces and a bit) and "small", serialized in memory.
grown_file two_tensors() {
  static const bytes big = pattern(2 * piece_size + 1000, 1), small = pattern(10, 2);
  std::vector<tensor_source> src(2);
  src[0].name = "big";
  src[0].type = dtype::U8;
  src[0].shape = {big.size()};
  src[0].data = big;
  src[1].name = "small";
  src[1].type = dtype::U8;
  src[1].shape = {small.size()};
  src[1].data = small;
  grown_file f;
  f.content = serialize(src, {}).value();
  const auto h = parse_buffer(f.content).value();
  f.tensors = h.tensors;
  f.data_start = 8 + h.header_size;
  return f;
}

struct follow_case {
  temp_dir dir;
  std::unordered_map<std::string_view, std::size_t> by_name{{"big", 0}, {"small", 1}};
  std::vector<std::uint64_t> sizes{2 * piece_size + 1000, 10};
};

/// Appends content[from, to) to `path` and tells the follower.
void grow(write_follower& f, const std::filesystem::path& path, const bytes& content,
          std::size_t from, std::size_t to) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(reinterpret_cast<const char*>(content.data() + from),
            static_cast<std::streamsize>(to - from));
  out.close();
  f.advance(path, to);
}

TEST(WriteFollower, ReadsEveryPieceAsTheFileGrows) {
  follow_case c;
  write_follower f(c.by_name, c.sizes, 0);
  const auto file = two_tensors();
  const auto path = c.dir.path() / "out.tmp";
  for (std::size_t at = 0; at < file.content.size(); at += 1 << 20) {
    grow(f, path, file.content, at, std::min(file.content.size(), at + (1 << 20)));
    f.settle();
  }
  f.close();
  for (const auto& t : file.tensors) {
    const std::size_t i = t.name == "big" ? 0 : 1;
    const std::uint64_t n = t.end - t.begin;
    for (std::uint64_t at = 0, k = 0; at < n; at += piece_size, ++k) {
      const auto& s = f.sum(i, static_cast<std::size_t>(k));
      const std::uint64_t len = std::min(piece_size, n - at);
      EXPECT_EQ(s.offset, file.data_start + t.begin + at) << t.name << " " << k;
      EXPECT_EQ(s.length, len);
      EXPECT_EQ(s.sum, piece_sum(std::span(file.content)
                                     .subspan(static_cast<std::size_t>(s.offset),
                                              static_cast<std::size_t>(len))));
    }
  }
}

TEST(WriteFollower, StopsAtCloseAndTakesTheSamePathAgainAsANewFile) {
  follow_case c;
  write_follower f(c.by_name, c.sizes, 0);
  const auto file = two_tensors();
  const auto path = c.dir.path() / "out.tmp";
  const auto& big = file.tensors[0].name == "big" ? file.tensors[0] : file.tensors[1];
  // The header and the first piece of "big" only: the rest never arrives.
  const std::size_t part = static_cast<std::size_t>(file.data_start + big.begin + piece_size);
  grow(f, path, file.content, 0, part);
  f.settle();
  f.close();
  EXPECT_EQ(f.sum(0, 0).length, piece_size);
  EXPECT_EQ(f.sum(0, 1).length, 0u);
  EXPECT_EQ(f.sum(0, 2).length, 0u);
  // Written again under the same name, whole: followed from its start.
  std::filesystem::remove(path);
  grow(f, path, file.content, 0, file.content.size());
  f.settle();
  f.close();
  EXPECT_EQ(f.sum(0, 2).length, 1000u);
  EXPECT_EQ(f.sum(1, 0).length, 10u);
}

TEST(WriteFollower, LeavesFilesBelowItsStartSizeToTheFinalCheck) {
  follow_case c;
  const auto file = two_tensors();
  write_follower f(c.by_name, c.sizes, file.content.size() + 1);
  const auto path = c.dir.path() / "out.tmp";
  grow(f, path, file.content, 0, file.content.size());
  f.close();  // no thread ever started: returns at once
  EXPECT_EQ(f.sum(0, 0).length, 0u);
  EXPECT_EQ(f.sum(1, 0).length, 0u);
}

TEST(WriteFollower, SkipsTensorsItDoesNotKnowOrOfAnotherSize) {
  follow_case c;
  c.by_name = {{"small", 1}};             // "big" unknown
  c.sizes = {2 * piece_size + 1000, 11};  // "small" expected with 11 bytes, the file has 10
  write_follower f(c.by_name, c.sizes, 0);
  const auto file = two_tensors();
  const auto path = c.dir.path() / "out.tmp";
  grow(f, path, file.content, 0, file.content.size());
  f.settle();
  f.close();
  for (std::size_t k = 0; k < 3; ++k) EXPECT_EQ(f.sum(0, k).length, 0u);
  EXPECT_EQ(f.sum(1, 0).length, 0u);
}

TEST(WriteFollower, AFileThatIsNotSafetensorsIsLeftToTheFinalCheck) {
  follow_case c;
  write_follower f(c.by_name, c.sizes, 0);
  const auto path = c.dir.path() / "out.tmp";
  bytes junk(64, std::byte{0xff});  // header length far above the limit
  grow(f, path, junk, 0, junk.size());
  f.settle();
  f.close();
  EXPECT_EQ(f.sum(0, 0).length, 0u);
  EXPECT_EQ(f.sum(1, 0).length, 0u);
}

}  // namespace
