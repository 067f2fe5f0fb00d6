// Checksums of a tensor's bytes in fixed pieces (XXH3-64): taken while the writer hands the bytes
// to the output file, compared with the file read back (the pipeline's verification).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace safetensors::detail {

/// Piece k of a tensor is its bytes [k * piece_size, (k + 1) * piece_size); the last one is
/// shorter.
inline constexpr std::uint64_t piece_size = 4u << 20;

/// The checksum of one piece, given whole.
std::uint64_t piece_sum(std::span<const std::byte> bytes) noexcept;

/// The bytes of one stream (a tensor) hashed so far.
struct stream_sums {
  std::vector<std::uint64_t> pieces;  // the checksum of each complete piece, in order
  std::uint64_t length = 0;           // bytes hashed
};

/// Hashes streams fed in order, in chunks of any size, one stream at a time (a new piece starts
/// a fresh state, so streams must not interleave within a piece).
class piece_hasher {
 public:
  piece_hasher();
  ~piece_hasher();
  piece_hasher(const piece_hasher&) = delete;
  piece_hasher& operator=(const piece_hasher&) = delete;

  /// Hashes `bytes`, the next ones of `sums`' stream of `total` bytes: each piece's checksum is
  /// appended to sums.pieces when its last byte arrives.
  void add(stream_sums& sums, std::uint64_t total, std::span<const std::byte> bytes) noexcept;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace safetensors::detail
