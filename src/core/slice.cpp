// Slicing with Python slice semantics (docs/FORMAT.md "Slicing") and the slice-string parser.
#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "core/text_util.hpp"
#include "core/try.hpp"
#include "safetensors/tensor.hpp"

namespace safetensors {
namespace {

// One dimension of the result, in source element coordinates.
struct dim_plan {
  std::uint64_t start = 0, count = 0, step = 1;
  bool dropped = false;
};

// |i| for a negative i without overflow on INT64_MIN.
std::uint64_t magnitude(std::int64_t i) { return static_cast<std::uint64_t>(-(i + 1)) + 1; }

// Python's slice.indices() clamping for step > 0.
std::uint64_t clamp_bound(std::optional<std::int64_t> v, std::uint64_t dim, std::uint64_t missing) {
  if (!v) return missing;
  if (*v >= 0) return std::min(static_cast<std::uint64_t>(*v), dim);
  std::uint64_t m = magnitude(*v);
  return m > dim ? 0 : dim - m;
}

result<dim_plan> plan_dim(const slice_spec& s, std::uint64_t dim, std::size_t k) {
  dim_plan p;
  if (s.is_index) {
    std::int64_t i = s.start.value_or(0);
    std::uint64_t m = i < 0 ? magnitude(i) : static_cast<std::uint64_t>(i);
    bool in_range = i < 0 ? m <= dim : m < dim;
    if (!in_range) {
      return fail(errc::invalid_slice,
                  fmt::format("index {} is out of range for dimension {} of size {}", i, k, dim));
    }
    p.start = i < 0 ? dim - m : m;
    p.count = 1;
    p.dropped = true;
    return p;
  }
  if (s.step <= 0) {
    return fail(errc::invalid_slice,
                fmt::format("step {} in dimension {}: only steps > 0 are supported", s.step, k));
  }
  p.step = static_cast<std::uint64_t>(s.step);
  p.start = clamp_bound(s.start, dim, 0);
  std::uint64_t stop = clamp_bound(s.stop, dim, dim);
  p.count = stop > p.start ? (stop - p.start - 1) / p.step + 1 : 0;
  return p;
}

std::string describe(std::span<const slice_spec> idx) {
  std::string out = "[";
  for (std::size_t k = 0; k < idx.size(); ++k) {
    if (k) out += ", ";
    const auto& s = idx[k];
    if (s.is_index) {
      out += std::to_string(s.start.value_or(0));
      continue;
    }
    if (s.start) out += std::to_string(*s.start);
    out += ':';
    if (s.stop) out += std::to_string(*s.stop);
    if (s.step != 1) out += ':' + std::to_string(s.step);
  }
  return out + "]";
}

// Copies runs of `run_elems` elements; the runs are enumerated by an odometer over `outer` dims.
class gatherer {
 public:
  gatherer(std::span<const std::byte> src, unsigned bits) : src_(src), bits_(bits) {}

  result<void> copy_run(std::uint64_t first_elem, std::uint64_t run_elems, std::byte* dst,
                        std::uint64_t& dst_bits) const {
    const std::uint64_t bit_begin = first_elem * bits_, bit_len = run_elems * bits_;
    if (bit_begin % 8 != 0 || bit_len % 8 != 0 || dst_bits % 8 != 0) {
      return fail(
          errc::misaligned_slice,
          fmt::format("a {}-bit dtype chunk of {} elements at element {} does not fall on byte "
                      "boundaries",
                      bits_, run_elems, first_elem));
    }
    std::memcpy(dst + dst_bits / 8, src_.data() + bit_begin / 8, bit_len / 8);
    dst_bits += bit_len;
    return {};
  }

 private:
  std::span<const std::byte> src_;
  unsigned bits_;
};

}  // namespace

result<tensor> tensor_view::slice(std::span<const slice_spec> indexers) const {
  const std::size_t rank = shape_.size();
  if (indexers.size() > rank) {
    return fail(errc::invalid_slice,
                fmt::format("{} indexers for a tensor of rank {} (shape {})", indexers.size(), rank,
                            detail::shape_string(shape_)));
  }
  std::vector<dim_plan> plan(rank);
  std::vector<std::uint64_t> out_shape;
  std::uint64_t out_elems = 1;
  for (std::size_t k = 0; k < rank; ++k) {
    auto p = plan_dim(k < indexers.size() ? indexers[k] : slice_spec::all(), shape_[k], k);
    if (!p) {
      return fail(p.error().code, fmt::format("slice {} of shape {}: {}", describe(indexers),
                                              detail::shape_string(shape_), p.error().message));
    }
    plan[k] = *p;
    if (!p->dropped) out_shape.push_back(p->count);
    out_elems *= p->count;  // <= numel of the source: cannot overflow
  }
  const unsigned bits = dtype_bits(type_);
  if (out_elems == 0)
    return tensor::borrowed(tensor_view(type_, std::move(out_shape), data_.subspan(0, 0)));
  // Source strides (in elements); every dim is >= 1 here, so they fit like numel does.
  std::vector<std::uint64_t> stride(rank, 1);
  for (std::size_t k = rank; k-- > 1;) stride[k - 1] = stride[k] * shape_[k];
  // Trailing dims taken whole form one contiguous block.
  std::size_t j = rank;
  std::uint64_t inner = 1;
  while (j > 0 && plan[j - 1].start == 0 && plan[j - 1].count == shape_[j - 1] &&
         plan[j - 1].step == 1) {
    --j;
    inner *= shape_[j];
  }
  // Run = the block times the count of dim j-1 when that dim has step 1.
  std::size_t outer_dims = j;
  std::uint64_t run = inner;
  if (j > 0 && (plan[j - 1].step == 1 || plan[j - 1].count == 1)) {
    run = inner * plan[j - 1].count;
    outer_dims = j - 1;
  }
  std::uint64_t base = 0;
  for (std::size_t k = 0; k < rank; ++k) base += plan[k].start * stride[k];
  bool single_run = true;
  for (std::size_t k = 0; k < outer_dims; ++k) single_run = single_run && plan[k].count == 1;
  gatherer g(data_, bits);
  const std::uint64_t out_bytes = ST_TRY(dtype_byte_size(type_, out_elems));
  if (single_run) {
    std::uint64_t bit_begin = base * bits;
    if (bit_begin % 8 != 0 || (run * bits) % 8 != 0) {
      return fail(errc::misaligned_slice,
                  fmt::format("slice {} of a {} tensor does not fall on byte boundaries",
                              describe(indexers), dtype_name(type_)));
    }
    return tensor::borrowed(
        tensor_view(type_, std::move(out_shape), data_.subspan(bit_begin / 8, out_bytes)));
  }
  std::vector<std::byte> out(out_bytes);
  std::vector<std::uint64_t> pos(outer_dims, 0);
  std::uint64_t dst_bits = 0;
  while (true) {
    std::uint64_t first = base;
    for (std::size_t k = 0; k < outer_dims; ++k) first += pos[k] * plan[k].step * stride[k];
    if (auto r = g.copy_run(first, run, out.data(), dst_bits); !r) {
      return fail(r.error().code, fmt::format("slice {} of a {} tensor: {}", describe(indexers),
                                              dtype_name(type_), r.error().message));
    }
    std::size_t k = outer_dims;
    while (k > 0 && ++pos[k - 1] == plan[k - 1].count) pos[--k] = 0;
    if (k == 0) break;
  }
  return tensor::owned(type_, std::move(out_shape), std::move(out));
}

// ------------------------------------------------------------------------------------ parser

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

result<std::optional<std::int64_t>> parse_int(std::string_view s, std::string_view whole) {
  s = trim(s);
  if (s.empty()) return std::optional<std::int64_t>{};
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    return fail(errc::invalid_slice,
                fmt::format("slice '{}': '{}' is not a 64-bit integer",
                            detail::ascii_escaped(whole), detail::ascii_escaped(s)));
  }
  return std::optional<std::int64_t>{v};
}

result<slice_spec> parse_one(std::string_view part, std::string_view whole) {
  part = trim(part);
  if (part.empty()) {
    return fail(errc::invalid_slice,
                fmt::format("slice '{}': empty indexer", detail::ascii_escaped(whole)));
  }
  std::string_view fields[3];
  std::size_t nf = 0;
  while (true) {
    auto colon = part.find(':');
    if (nf == 2 && colon != std::string_view::npos) {
      return fail(errc::invalid_slice,
                  fmt::format("slice '{}': too many ':'", detail::ascii_escaped(whole)));
    }
    fields[nf++] = part.substr(0, colon);
    if (colon == std::string_view::npos) break;
    part.remove_prefix(colon + 1);
  }
  const std::optional<std::int64_t> a = ST_TRY(parse_int(fields[0], whole));
  if (nf == 1) return slice_spec::index(*a);
  const std::optional<std::int64_t> b = ST_TRY(parse_int(fields[1], whole));
  std::optional<std::int64_t> step;
  if (nf == 3) step = ST_TRY(parse_int(fields[2], whole));
  if (step && *step <= 0) {
    return fail(errc::invalid_slice,
                fmt::format("slice '{}': step {} (only steps > 0 are supported)",
                            detail::ascii_escaped(whole), *step));
  }
  return slice_spec::range(a, b, step.value_or(1));
}

}  // namespace

result<std::vector<slice_spec>> parse_slices(std::string_view text) {
  std::string_view s = trim(text);
  if (!s.empty() && s.front() == '[') {
    if (s.back() != ']') {
      return fail(errc::invalid_slice,
                  fmt::format("slice '{}': missing ']'", detail::ascii_escaped(text)));
    }
    s = trim(s.substr(1, s.size() - 2));
  }
  std::vector<slice_spec> out;
  if (s.empty()) return out;
  while (true) {
    auto comma = s.find(',');
    out.push_back(ST_TRY(parse_one(s.substr(0, comma), text)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace safetensors
