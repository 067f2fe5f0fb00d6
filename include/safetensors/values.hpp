// Value checks over whole checkpoints: NaN/Inf in floating tensors, BOOL bytes other than 0/1,
// at memory bandwidth and in bounded memory (bytes are read with pread into small per-thread
// buffers, never through a growing mapping).
#pragma once

#include <cstdint>
#include <functional>
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
  unsigned threads = 0;                         ///< 0: the number of CPUs the process may use
  std::size_t chunk_bytes = 4u << 20;           ///< per read; a multiple of 8
  std::function<void(std::uint64_t)> progress;  ///< bytes just checked (called under a lock)
};

struct value_result {
  value_counts counts;
  std::optional<error> failure;  ///< the first read error of this source
};

/// Checks every source (value_checked dtypes; others are skipped), several chunks in parallel.
/// Memory: threads x chunk_bytes. Results are in source order.
std::vector<value_result> scan_values(std::span<const value_source> sources,
                                      const value_scan_options& opts = {});

}  // namespace safetensors
