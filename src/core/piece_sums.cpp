#include "core/piece_sums.hpp"

#include <algorithm>

// xxHash (Debian libxxhash-dev) compiled in, header-only: nothing to link or ship.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace safetensors::detail {

struct piece_hasher::state {
  XXH3_state_t xxh;
};

std::uint64_t piece_sum(std::span<const std::byte> bytes) noexcept {
  return XXH3_64bits(bytes.data(), bytes.size());
}

piece_hasher::piece_hasher() : state_(std::make_unique<state>()) {}
piece_hasher::~piece_hasher() = default;

void piece_hasher::add(stream_sums& sums, std::uint64_t total,
                       std::span<const std::byte> bytes) noexcept {
  while (!bytes.empty()) {
    const std::uint64_t in_piece = sums.length % piece_size;
    // The bytes up to the end of the current piece (bytes past `total` go on in pieces of
    // their own: the stream then has more pieces than its length allows, which the check
    // reports).
    const std::uint64_t piece_end = sums.length < total
                                        ? std::min(total, sums.length - in_piece + piece_size)
                                        : sums.length - in_piece + piece_size;
    const auto take =
        static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), piece_end - sums.length));
    const auto chunk = bytes.first(take);
    if (in_piece == 0 && sums.length + take == piece_end) {
      sums.pieces.push_back(piece_sum(chunk));  // a whole piece in one chunk
    } else {
      if (in_piece == 0) XXH3_64bits_reset(&state_->xxh);
      XXH3_64bits_update(&state_->xxh, chunk.data(), chunk.size());
      if (sums.length + take == piece_end) sums.pieces.push_back(XXH3_64bits_digest(&state_->xxh));
    }
    sums.length += take;
    bytes = bytes.subspan(take);
  }
}

}  // namespace safetensors::detail
