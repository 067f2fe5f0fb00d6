// Per-tensor statistics (values.hpp add_stats). Values are decoded into an L1-sized block of
// doubles, then one branch-free pass over 8 lanes accumulates per lane the sums of (x - K) and
// (x - K)^2 around K, the block's first finite value, min and max of the finite values (abs-max
// follows from them) and the zero count (GCC/Clang vector extensions: the same source becomes
// SSE2, AVX2 or AVX-512 code, built for each by target_clones). A block that holds a NaN or an
// Inf runs again through a masked pass that also counts them. Blocks merge with Chan's formula,
// so no sum runs over more than a few thousand values.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/try.hpp"
#include "core/vector_clones.hpp"
#include "safetensors/values.hpp"

namespace safetensors {
namespace {

constexpr std::size_t lanes = 8;
constexpr std::size_t block_values = 2048;  // 16 KiB of doubles: stays in L1

/// Per-lane partial results of one block.
struct lane_sums {
  double s1[lanes], s2[lanes], min[lanes], max[lanes];
  std::int64_t finite[lanes], nan[lanes], zeros[lanes];
};

using vd = double __attribute__((vector_size(lanes * sizeof(double))));
using vi = std::int64_t __attribute__((vector_size(lanes * sizeof(double))));

/// The common case, every value finite: no masking. Returns false, with `out` unspecified, when
/// the block holds a NaN or an Inf (then accumulate_masked runs). `n` is a multiple of `lanes`.
ST_VECTOR_CLONES bool accumulate_finite(const double* x, std::size_t n, double shift,
                                        lane_sums& out) noexcept {
  const vd zero{};
  const vd k = zero + shift;
  const vd largest = zero + std::numeric_limits<double>::max();
  const vi abs_bits = vi{} + 0x7fffffffffffffff;
  vd s1{}, s2{}, mn = zero + std::numeric_limits<double>::infinity(), mx = -mn;
  vi bad{}, zeros{};
  for (std::size_t i = 0; i < n; i += lanes) {
    vd v;
    std::memcpy(&v, x + i, sizeof v);
    bad |= ~((vd)((vi)v & abs_bits) <= largest);  // NaN or +-Inf
    const vd d = v - k;
    s1 += d;
    s2 += d * d;
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
    zeros -= (v == zero);
  }
  for (std::size_t j = 0; j < lanes; ++j)
    if (bad[j] != 0) return false;
  const vi finite = vi{} + static_cast<std::int64_t>(n / lanes);
  std::memcpy(out.s1, &s1, sizeof s1);
  std::memcpy(out.s2, &s2, sizeof s2);
  std::memcpy(out.min, &mn, sizeof mn);
  std::memcpy(out.max, &mx, sizeof mx);
  std::memcpy(out.finite, &finite, sizeof finite);
  std::memcpy(out.nan, &bad, sizeof bad);  // zero
  std::memcpy(out.zeros, &zeros, sizeof zeros);
  return true;
}

/// Any values: NaN and +-Inf add nothing to the sums and extremes, and are counted.
ST_VECTOR_CLONES void accumulate_masked(const double* x, std::size_t n, double shift,
                                        lane_sums& out) noexcept {
  const vd zero{};
  const vd k = zero + shift;
  const vd largest = zero + std::numeric_limits<double>::max();
  const vi abs_bits = vi{} + 0x7fffffffffffffff;
  vd s1{}, s2{}, mn = zero + std::numeric_limits<double>::infinity(), mx = -mn;
  vi finite{}, nan{}, zeros{};
  for (std::size_t i = 0; i < n; i += lanes) {
    vd v;
    std::memcpy(&v, x + i, sizeof v);
    const vi fin = (vd)((vi)v & abs_bits) <= largest;  // false for NaN and +-Inf
    const vd d = fin ? v - k : zero;
    s1 += d;
    s2 += d * d;
    mn = (fin & (v < mn)) ? v : mn;
    mx = (fin & (v > mx)) ? v : mx;
    finite -= fin;
    nan -= (v != v);
    zeros -= (v == zero);
  }
  std::memcpy(out.s1, &s1, sizeof s1);
  std::memcpy(out.s2, &s2, sizeof s2);
  std::memcpy(out.min, &mn, sizeof mn);
  std::memcpy(out.max, &mx, sizeof mx);
  std::memcpy(out.finite, &finite, sizeof finite);
  std::memcpy(out.nan, &nan, sizeof nan);
  std::memcpy(out.zeros, &zeros, sizeof zeros);
}

/// Statistics of x[0, n); x has room for n rounded up to `lanes` (the tail is padded with
/// copies of a finite value of the block, or NaN when there is none, then taken off the counts
/// and sums).
value_stats block_stats(double* x, std::size_t n) noexcept {
  const std::size_t padded = (n + lanes - 1) / lanes * lanes;
  double shift = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i])) {
      shift = x[i];
      break;
    }
  }
  // Padding with the shift adds 0 to both shifted sums and cannot move min or max.
  std::fill(x + n, x + padded, shift);
  const std::uint64_t pad = padded - n;
  lane_sums l;
  if (std::isnan(shift) || !accumulate_finite(x, padded, shift, l))
    accumulate_masked(x, padded, std::isnan(shift) ? 0.0 : shift, l);
  value_stats b;
  double s1 = 0, s2 = 0;
  for (std::size_t j = 0; j < lanes; ++j) {
    b.finite += static_cast<std::uint64_t>(l.finite[j]);
    b.nan += static_cast<std::uint64_t>(l.nan[j]);
    b.zeros += static_cast<std::uint64_t>(l.zeros[j]);
    s1 += l.s1[j];
    s2 += l.s2[j];
    b.min = std::min(b.min, l.min[j]);
    b.max = std::max(b.max, l.max[j]);
  }
  if (std::isnan(shift)) {
    b.nan -= pad;  // no finite value: the padding was NaN
  } else {
    b.finite -= pad;
    b.zeros -= shift == 0 ? pad : 0;
  }
  b.inf = n - b.finite - b.nan;
  if (b.finite > 0) {
    const double count = static_cast<double>(b.finite);
    b.mean = shift + s1 / count;
    b.m2 = std::max(0.0, s2 - s1 * s1 / count);
    b.absmax = std::max(-b.min, b.max);
  }
  return b;
}

}  // namespace

void value_stats::merge(const value_stats& o) noexcept {
  if (o.finite > 0) {
    const double n = static_cast<double>(finite), m = static_cast<double>(o.finite);
    const double delta = o.mean - mean;
    mean += delta * m / (n + m);
    m2 += o.m2 + delta * delta * n * m / (n + m);
    min = std::min(min, o.min);
    max = std::max(max, o.max);
    absmax = std::max(absmax, o.absmax);
    finite += o.finite;
  }
  nan += o.nan;
  inf += o.inf;
  zeros += o.zeros;
}

double value_stats::stddev() const noexcept {
  return finite > 0 ? std::sqrt(m2 / static_cast<double>(finite)) : 0;
}

result<void> add_stats(dtype type, std::span<const std::byte> bytes, value_stats& stats) {
  const auto layout = value_layout_of(type, 0);
  const std::uint64_t bits = dtype_bits(layout.type);
  const std::uint64_t group_bytes = bits * layout.group / 8;
  if (bytes.size() % group_bytes != 0) {
    return fail(errc::invalid_argument, fmt::format("stats: {} bytes are not whole {} values",
                                                    bytes.size(), dtype_name(type)));
  }
  const std::uint64_t count = bytes.size() * 8 / bits;
  alignas(64) double block[block_values + lanes];
  for (std::uint64_t at = 0; at < count; at += block_values) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(block_values, count - at));
    ST_TRY(decode_values(type, bytes, at, std::span(block, n)));
    stats.merge(block_stats(block, n));
  }
  return {};
}

}  // namespace safetensors
