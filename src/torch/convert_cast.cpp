#include "torch/convert_cast.hpp"

#include <fmt/format.h>

#include <numeric>
#include <vector>

#include "core/try.hpp"

namespace safetensors::torch::detail {

dtype target_type(dtype src, const convert_options& opts) {
  if (opts.cast && dtype_is_float(src)) return *opts.cast;
  return src;
}

result<std::uint64_t> target_bytes(const source_tensor& s, dtype to) {
  if (to == s.type) return s.nbytes;
  std::uint64_t numel = 1;
  for (auto d : s.shape) numel *= d;  // checked when the source was read (its bytes exist)
  return dtype_byte_size(to, numel);
}

result<void> stream_target(const source_tensor& s, dtype to, const torch_sink& sink) {
  if (to == s.type) return s.stream(sink);
  // The smallest run of whole elements that is also whole bytes: 1 element of 8+ bits, 2 F4,
  // 4 F6.
  const unsigned bits = dtype_bits(s.type);
  const std::size_t group_elems = 8 / std::gcd(bits, 8u), group_bytes = group_elems * bits / 8;
  std::vector<std::byte> carry, out;
  const auto convert = [&](std::span<const std::byte> in) -> result<void> {
    const std::uint64_t count = in.size() / group_bytes * group_elems;
    out.resize(static_cast<std::size_t>(ST_TRY(dtype_byte_size(to, count))));
    ST_TRY(convert_elements(s.type, in, to, out, count));
    return sink(out);
  };
  const auto take_chunk = [&](std::span<const std::byte> chunk) -> result<void> {
    if (!carry.empty()) {
      const std::size_t take = std::min(group_bytes - carry.size(), chunk.size());
      carry.insert(carry.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(take));
      chunk = chunk.subspan(take);
      if (carry.size() < group_bytes) return {};
      ST_TRY(convert(carry));
      carry.clear();
    }
    const std::size_t whole = chunk.size() - chunk.size() % group_bytes;
    if (whole > 0) ST_TRY(convert(chunk.first(whole)));
    carry.assign(chunk.begin() + static_cast<std::ptrdiff_t>(whole), chunk.end());
    return {};
  };
  ST_TRY(s.stream(take_chunk));
  if (!carry.empty())
    return fail(errc::invalid_checkpoint,
                fmt::format("tensor '{}': its {} bytes end inside a {} element", s.name, s.nbytes,
                            dtype_name(s.type)));
  return {};
}

}  // namespace safetensors::torch::detail
