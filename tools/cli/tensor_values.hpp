// Element values of a tensor as doubles, for the commands that look at numbers (get --format
// text, stats, diff): every float dtype through the core's conversions, the integer dtypes and
// BOOL; C64 as its float components (real, imaginary, ...).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>

#include "safetensors/dtype.hpp"
#include "safetensors/error.hpp"

namespace safetensors::cli {

/// How a tensor's bytes split into values: `type` of each value (F32 for C64), how many
/// (2 x numel for C64), and the smallest run of values that starts on a byte (`group`: 2 for
/// F4, 4 for F6, else 1). Decode ranges whose start is a multiple of `group`.
struct value_layout {
  dtype type;
  std::uint64_t count;
  std::uint64_t group;
};
value_layout value_layout_of(dtype t, std::uint64_t numel);

/// Values [first, first + out.size()) of a tensor of dtype `t` whose bytes are `bytes`, as
/// doubles. `first` must be a multiple of the layout's group. Errors: invalid_argument when the
/// range runs past the bytes.
result<void> decode_values(dtype t, std::span<const std::byte> bytes, std::uint64_t first,
                           std::span<double> out);

/// Element `index` printed like NumPy: integers exactly (U64/I64 too), BOOL as True/False,
/// floats in the shortest form that reads back in their own precision ("1.", "0.1", "nan",
/// "-inf", "1e-08"), C64 as "(re+imj)".
std::string format_element(dtype t, std::span<const std::byte> bytes, std::uint64_t index);

/// Decodes values [begin, end) of a tensor in blocks of at most `block` values (a multiple of
/// every group) and calls fn(first, values) for each. Errors: decode_values's, or fn's.
template <class Fn>
result<void> for_each_value_block(dtype t, std::span<const std::byte> bytes, std::uint64_t begin,
                                  std::uint64_t end, Fn&& fn) {
  constexpr std::uint64_t block = 4096;
  double buf[block];
  for (std::uint64_t at = begin; at < end; at += block) {
    const std::uint64_t n = std::min(block, end - at);
    std::span<double> values(buf, n);
    auto r = decode_values(t, bytes, at, values);
    if (!r) return r;
    fn(at, std::span<const double>(values));
  }
  return {};
}

}  // namespace safetensors::cli
