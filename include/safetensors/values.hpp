// Reading tensor values: element values as doubles (every dtype), per-tensor statistics, and
// value checks over whole checkpoints (NaN/Inf in floating tensors, BOOL bytes other than 0/1),
// at memory bandwidth and in bounded memory (bytes are read with pread into small per-thread
// buffers, never through a growing mapping).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include "safetensors/dtype.hpp"
#include "safetensors/error.hpp"
#include "safetensors/writer.hpp"

namespace safetensors {

struct value_counts {
  std::uint64_t nan = 0, inf = 0, bad_bool = 0;
  value_counts& operator+=(const value_counts& o) noexcept {
    nan += o.nan;
    inf += o.inf;
    bad_bool += o.bad_bool;
    return *this;
  }
  bool operator==(const value_counts&) const = default;
};

/// How a tensor's bytes split into values: `type` of each value (F32 for C64), how many
/// (2 x numel for C64), and the smallest run of values that starts on a byte (`group`: 2 for
/// F4, 4 for F6, else 1). Decode ranges whose start is a multiple of `group`.
struct value_layout {
  dtype type;
  std::uint64_t count;
  std::uint64_t group;
};
value_layout value_layout_of(dtype t, std::uint64_t numel) noexcept;

/// Values [first, first + out.size()) of a tensor of dtype `t` whose bytes are `bytes`, as
/// doubles (exact for every float dtype; integers as `static_cast<double>`; BOOL as 0/1; C64 as
/// its components real, imaginary, ...). Vectorized for the running CPU for F16, BF16, F32, F64,
/// the 8-bit floats and the integers. `first` must be a multiple of the layout's group.
/// invalid_argument when the range runs past the bytes.
result<void> decode_values(dtype t, std::span<const std::byte> bytes, std::uint64_t first,
                           std::span<double> out);

/// Statistics of a run of values. min/max/mean/m2/absmax cover the finite values only.
struct value_stats {
  std::uint64_t finite = 0, nan = 0, inf = 0, zeros = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double absmax = 0;
  double mean = 0;
  double m2 = 0;  ///< sum of squared deviations from the mean

  /// Chan et al.'s pairwise combination with another partial result.
  void merge(const value_stats& o) noexcept;
  std::uint64_t values() const noexcept { return finite + nan + inf; }
  /// Population standard deviation (NumPy's default, ddof=0); 0 without finite values.
  double stddev() const noexcept;
};

/// Adds the statistics of `bytes`, whole value groups of `type` (see value_layout), to `stats`:
/// decoded in L1-sized blocks and accumulated by one vectorized pass (shifted sums per lane,
/// blocks merged with Chan's formula). invalid_argument when `bytes` is not whole groups.
result<void> add_stats(dtype type, std::span<const std::byte> bytes, value_stats& stats);

/// True for the dtypes whose values are checked: every floating dtype, C64 and BOOL.
bool value_checked(dtype t) noexcept;

/// Adds the NaN, Inf and (BOOL) non-0/1 counts of `bytes`, whole elements of `type` (C64 as
/// pairs of F32; F4/F6 encode neither NaN nor Inf; F8_E4M3, the FNUZ types and F8_E8M0 have
/// NaN codes only). Vectorized for the running CPU; `bytes` needs no alignment.
/// invalid_argument when `bytes` is not a whole number of elements (8-bit and wider types).
result<void> count_values(dtype type, std::span<const std::byte> bytes, value_counts& counts);

/// One tensor to check: its bytes come from `read` (random access, e.g. a pread of a file
/// range: split into chunks shared by the threads) or, when `read` is empty, from `stream`,
/// which pushes them in order (one thread walks it).
struct value_source {
  dtype type = dtype::F32;
  std::uint64_t nbytes = 0;
  byte_reader read;
  std::function<result<void>(const byte_sink&)> stream;
};

struct value_scan_options {
  unsigned threads = 0;                ///< 0: the number of CPUs the process may use
  std::size_t chunk_bytes = 4u << 20;  ///< per read; rounded down to a multiple of 24
  /// false: count NaN/Inf/bad BOOL (value_checked dtypes only, value_result::counts);
  /// true: statistics of every dtype (value_result::stats; counts stay zero).
  bool stats = false;
  std::function<void(std::uint64_t)> progress;  ///< bytes just checked (called under a lock)
};

struct value_result {
  value_counts counts;
  value_stats stats;
  std::optional<error> failure;  ///< the first read error of this source
};

/// Checks every source (value_checked dtypes; others are skipped) or, with opts.stats, takes
/// the statistics of every source, several chunks in parallel.
/// Memory: threads x chunk_bytes. Results are in source order.
std::vector<value_result> scan_values(std::span<const value_source> sources,
                                      const value_scan_options& opts = {});

}  // namespace safetensors
