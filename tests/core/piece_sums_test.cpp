// detail::piece_hasher: the checksums of a stream fed in chunks of any size are those of its
// 4 MiB pieces taken whole.
#include "core/piece_sums.hpp"

#include <gtest/gtest.h>

#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::detail;
using namespace safetensors::test;

namespace {

bytes pattern(std::size_t n) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 2654435761u) >> 13);
  return b;
}

std::vector<std::uint64_t> whole_pieces(std::span<const std::byte> b) {
  std::vector<std::uint64_t> out;
  for (std::size_t at = 0; at < b.size(); at += piece_size)
    out.push_back(piece_sum(b.subspan(at, std::min<std::size_t>(piece_size, b.size() - at))));
  return out;
}

TEST(PieceSums, ChunkSizesDoNotMatter) {
  const auto b = pattern(2 * piece_size + 12345);
  const auto expected = whole_pieces(b);
  ASSERT_EQ(expected.size(), 3u);
  piece_hasher h;
  for (const std::size_t chunk : {std::size_t{1} << 20, std::size_t{4097}, std::size_t{piece_size},
                                  std::size_t{3 * piece_size}}) {
    stream_sums s;
    for (std::size_t at = 0; at < b.size(); at += chunk)
      h.add(s, b.size(), std::span(b).subspan(at, std::min(chunk, b.size() - at)));
    EXPECT_EQ(s.pieces, expected) << chunk;
    EXPECT_EQ(s.length, b.size());
  }
}

TEST(PieceSums, StreamsOneAfterAnother) {
  const auto a = pattern(100), c = pattern(piece_size + 1);
  piece_hasher h;
  stream_sums sa, sc, empty;
  h.add(sa, a.size(), std::span(a).first(40));
  h.add(sa, a.size(), std::span(a).subspan(40));
  h.add(sc, c.size(), c);
  h.add(empty, 0, {});
  EXPECT_EQ(sa.pieces, whole_pieces(a));
  EXPECT_EQ(sc.pieces, whole_pieces(c));
  EXPECT_TRUE(empty.pieces.empty());
  EXPECT_NE(sa.pieces[0], piece_sum(std::span(a).first(99)));  // one byte less is another sum
}

TEST(PieceSums, BytesPastTheLengthMakeMorePieces) {
  const auto b = pattern(10);
  piece_hasher h;
  stream_sums s;
  h.add(s, 8, b);  // the stream was said to be 8 bytes
  EXPECT_EQ(s.pieces.size(), 1u);
  EXPECT_EQ(s.pieces[0], piece_sum(std::span(b).first(8)));
  EXPECT_EQ(s.length, 10u);  // which the check finds (10 bytes written for 8)
}

}  // namespace
