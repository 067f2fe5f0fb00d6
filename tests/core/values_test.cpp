// Value checks: count_values against a reference built on convert_elements (every dtype, random
// codes, unaligned spans), scan_values (chunked reads across threads, streamed sources in odd
// pieces, a failing source, skipped dtypes, progress). decode_values against convert_elements
// for every dtype; add_stats and scan_values' statistics against a two-pass reference.
#include "safetensors/values.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

namespace st = safetensors;
using st::dtype;

namespace {

std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> out(n);
  for (auto& b : out) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    b = static_cast<std::byte>(seed >> 56);
  }
  return out;
}

/// NaN/Inf through the converter: every element widened to F32 (F64 stays F64).
st::value_counts reference(dtype t, std::span<const std::byte> bytes) {
  st::value_counts c;
  if (t == dtype::BOOL) {
    for (auto b : bytes) c.bad_bool += static_cast<unsigned>(b) > 1;
    return c;
  }
  const bool f64 = t == dtype::F64;
  const dtype as = t == dtype::C64 ? dtype::F32 : t;
  const std::uint64_t n = bytes.size() * 8 / st::dtype_bits(as);
  std::vector<double> wide(f64 ? n : 0);
  std::vector<float> narrow(f64 ? 0 : n);
  auto out =
      f64 ? std::as_writable_bytes(std::span(wide)) : std::as_writable_bytes(std::span(narrow));
  EXPECT_TRUE(st::convert_elements(as, bytes, f64 ? dtype::F64 : dtype::F32, out, n));
  for (std::uint64_t i = 0; i < n; ++i) {
    const double x = f64 ? wide[i] : narrow[i];
    c.nan += std::isnan(x);
    c.inf += std::isinf(x);
  }
  return c;
}

TEST(CountValues, EveryCheckedDtypeMatchesTheConverter) {
  for (int i = 0; i < st::dtype_count; ++i) {
    const auto t = static_cast<dtype>(i);
    if (!st::value_checked(t)) continue;
    SCOPED_TRACE(std::string(st::dtype_name(t)));
    // 40,000 bytes spans several 16 KiB blocks; +1 makes every load unaligned.
    const std::size_t elem = std::max(1u, st::dtype_bits(t) / 8);
    const std::size_t size = (40'000 / 24) * 24;  // whole elements of every width, F6 included
    auto raw = random_bytes(size + 1, static_cast<std::uint64_t>(i) + 1);
    const std::span<const std::byte> bytes(raw.data() + 1, size);
    st::value_counts got;
    ASSERT_TRUE(st::count_values(t, bytes, got));
    EXPECT_EQ(got, reference(t, bytes));
    if (t == dtype::F16 || t == dtype::F32 || t == dtype::BOOL || t == dtype::F8_E4M3) {
      EXPECT_GT(got.nan + got.inf + got.bad_bool, 0u);  // random codes do hit the specials
    }
    // A block without specials is skipped by the fast test and counts nothing.
    std::vector<std::byte> zeros(4096 * elem);
    st::value_counts none;
    ASSERT_TRUE(st::count_values(t, zeros, none));
    EXPECT_EQ(none, st::value_counts{});
  }
}

TEST(CountValues, PartialElementIsRefused) {
  std::vector<std::byte> three(3);
  st::value_counts c;
  const auto r = st::count_values(dtype::F16, three, c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, st::errc::invalid_argument);
}

TEST(ScanValues, ChunksThreadsStreamsAndFailures) {
  const auto f16 = random_bytes(100'000, 7);
  const auto f32 = random_bytes(64'000, 8);
  const auto i32 = random_bytes(4'000, 9);
  auto reader = [](const std::vector<std::byte>& data) {
    return [&data](std::uint64_t at, std::span<std::byte> out) -> st::result<void> {
      std::memcpy(out.data(), data.data() + at, out.size());
      return {};
    };
  };
  std::vector<st::value_source> sources(5);
  sources[0] = {dtype::F16, f16.size(), reader(f16), {}};
  sources[1] = {
      dtype::F32, f32.size(), {}, [&f32](const st::byte_sink& sink) -> st::result<void> {
        for (std::size_t at = 0; at < f32.size(); at += 3)  // pieces split elements
          if (auto r = sink(std::span(f32).subspan(at, std::min<std::size_t>(3, f32.size() - at)));
              !r)
            return r;
        return {};
      }};
  sources[2] = {dtype::I32, i32.size(), reader(i32), {}};
  sources[3] = {dtype::BF16,
                4096,
                [](std::uint64_t at, std::span<std::byte>) -> st::result<void> {
                  if (at >= 2048) return st::fail(st::errc::io, "shard.bin: read failed");
                  return {};
                },
                {}};
  sources[4] = {dtype::F16, 0, reader(f16), {}};
  for (unsigned threads : {1u, 2u, 4u}) {
    SCOPED_TRACE(threads);
    std::uint64_t progressed = 0;
    st::value_scan_options opts;
    opts.threads = threads;
    opts.chunk_bytes = 1000;  // rounded down to 984, a multiple of 24
    opts.progress = [&](std::uint64_t n) { progressed += n; };
    const auto results = st::scan_values(sources, opts);
    ASSERT_EQ(results.size(), sources.size());
    EXPECT_EQ(results[0].counts, reference(dtype::F16, f16));
    EXPECT_FALSE(results[0].failure);
    EXPECT_EQ(results[1].counts, reference(dtype::F32, f32));
    EXPECT_EQ(results[2].counts, st::value_counts{});  // integers are not checked
    ASSERT_TRUE(results[3].failure);
    EXPECT_EQ(results[3].failure->message, "shard.bin: read failed");
    EXPECT_EQ(results[4].counts, st::value_counts{});
    EXPECT_GE(progressed, f16.size() + f32.size());
    EXPECT_LE(progressed, f16.size() + f32.size() + 4096);
  }
}

/// Every value of `bytes` (whole groups of `t`) through convert_elements to F64 (C64: F32 pairs).
std::vector<double> reference_values(dtype t, std::span<const std::byte> bytes) {
  const dtype as = t == dtype::C64 ? dtype::F32 : t;
  const std::uint64_t n = bytes.size() * 8 / st::dtype_bits(as);
  std::vector<double> out(n);
  EXPECT_TRUE(
      st::convert_elements(as, bytes, dtype::F64, std::as_writable_bytes(std::span(out)), n));
  return out;
}

bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

TEST(DecodeValues, EveryDtypeMatchesTheConverter) {
  for (int i = 0; i < st::dtype_count; ++i) {
    const auto t = static_cast<dtype>(i);
    SCOPED_TRACE(std::string(st::dtype_name(t)));
    // Every code of the 8- and 16-bit types shows up; +1 makes every load unaligned.
    const std::size_t size = (300'000 / 24) * 24;
    auto raw = random_bytes(size + 1, static_cast<std::uint64_t>(i) + 11);
    const std::span<const std::byte> bytes(raw.data() + 1, size);
    const auto want = reference_values(t, bytes);
    const auto layout = st::value_layout_of(t, 0);
    // From value 0 and from an offset (a multiple of the group), lengths that end mid-vector.
    for (std::uint64_t first : {std::uint64_t{0}, 4 * layout.group}) {
      const std::size_t n = want.size() - first - 3 * layout.group;
      std::vector<double> got(n);
      ASSERT_TRUE(st::decode_values(t, bytes, first, got));
      for (std::size_t k = 0; k < n; ++k)
        ASSERT_TRUE(same_value(got[k], want[first + k]))
            << k << ": " << got[k] << " != " << want[first + k];
    }
    std::vector<double> past(want.size() + layout.group);
    EXPECT_FALSE(st::decode_values(t, bytes, 0, past));
    if (layout.group > 1) {
      std::vector<double> one(1);
      EXPECT_FALSE(st::decode_values(t, bytes, 1, one));  // not on a byte
    }
  }
}

TEST(DecodeValues, F16SpecialsAndSubnormals) {
  const std::uint16_t codes[] = {0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x3c00,
                                 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe00};
  std::vector<double> got(std::size(codes));
  ASSERT_TRUE(st::decode_values(dtype::F16, std::as_bytes(std::span(codes)), 0, got));
  const double inf = std::numeric_limits<double>::infinity();
  const double want[] = {
      0, -0.0, std::ldexp(1, -24), -std::ldexp(1023, -24), std::ldexp(1, -14), 1, 65504, inf, -inf};
  for (std::size_t k = 0; k < std::size(want); ++k) {
    EXPECT_EQ(got[k], want[k]) << k;
    EXPECT_EQ(std::signbit(got[k]), std::signbit(want[k])) << k;
  }
  for (std::size_t k = std::size(want); k < got.size(); ++k) EXPECT_TRUE(std::isnan(got[k])) << k;
}

/// Two passes over exact values: the statistics NumPy computes (std with ddof=0).
st::value_stats reference_stats(const std::vector<double>& v) {
  st::value_stats s;
  double sum = 0;
  for (double x : v) {
    if (std::isnan(x)) {
      ++s.nan;
    } else if (std::isinf(x)) {
      ++s.inf;
    } else {
      ++s.finite;
      sum += x;
      s.zeros += x == 0;
      s.min = std::min(s.min, x);
      s.max = std::max(s.max, x);
      s.absmax = std::max(s.absmax, std::fabs(x));
    }
  }
  if (s.finite == 0) return s;
  s.mean = sum / static_cast<double>(s.finite);
  for (double x : v)
    if (std::isfinite(x)) s.m2 += (x - s.mean) * (x - s.mean);
  return s;
}

void expect_stats(const st::value_stats& got, const st::value_stats& want) {
  EXPECT_EQ(got.finite, want.finite);
  EXPECT_EQ(got.nan, want.nan);
  EXPECT_EQ(got.inf, want.inf);
  EXPECT_EQ(got.zeros, want.zeros);
  if (want.finite == 0) return;
  EXPECT_EQ(got.min, want.min);
  EXPECT_EQ(got.max, want.max);
  EXPECT_EQ(got.absmax, want.absmax);
  const double scale = std::max(1.0, std::fabs(want.mean) + want.stddev());
  EXPECT_NEAR(got.mean, want.mean, 1e-10 * scale);
  EXPECT_NEAR(got.stddev(), want.stddev(), 1e-10 * std::max(1.0, want.stddev()));
}

TEST(AddStats, EveryDtypeMatchesATwoPassReference) {
  for (int i = 0; i < st::dtype_count; ++i) {
    const auto t = static_cast<dtype>(i);
    SCOPED_TRACE(std::string(st::dtype_name(t)));
    // Random codes: NaN/Inf in many blocks; a length that ends mid-vector and mid-block.
    const std::size_t size = (50'001 / 24) * 24;
    const auto raw = random_bytes(size, static_cast<std::uint64_t>(i) + 31);
    st::value_stats got;
    ASSERT_TRUE(st::add_stats(t, raw, got));
    auto want = reference_values(t, raw);
    // Random F32/F64/C64 codes span dozens of orders of magnitude (sums in any order differ by
    // more than a tolerance can say): counts and extremes only; their sums are checked below and
    // against NumPy (tests/cli/stats_test.py).
    const bool wide = (st::dtype_is_float(t) || t == dtype::C64) &&
                      st::dtype_bits(st::value_layout_of(t, 0).type) >= 32;
    if (wide) {
      const auto w = reference_stats(want);
      EXPECT_EQ(got.finite, w.finite);
      EXPECT_EQ(got.nan, w.nan);
      EXPECT_EQ(got.min, w.min);
      EXPECT_EQ(got.max, w.max);
      continue;
    }
    expect_stats(got, reference_stats(want));
  }
}

TEST(AddStats, FiniteBlocksNanOnlyBlocksAndPartialGroups) {
  // Normal values around a large offset (the shifted sums keep the variance), one NaN and one
  // -Inf far into the data, a tail that is not a whole vector.
  std::vector<double> v(3 * 2048 + 5);
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = 1e6 + std::sin(static_cast<double>(k)) * 0.5;
  v[5000] = std::numeric_limits<double>::quiet_NaN();
  v[5001] = -std::numeric_limits<double>::infinity();
  v[7] = 0;
  st::value_stats got;
  ASSERT_TRUE(st::add_stats(dtype::F64, std::as_bytes(std::span(v)), got));
  expect_stats(got, reference_stats(v));
  // No finite value at all.
  const std::vector<float> nans(13, std::numeric_limits<float>::quiet_NaN());
  st::value_stats none;
  ASSERT_TRUE(st::add_stats(dtype::F32, std::as_bytes(std::span(nans)), none));
  EXPECT_EQ(none.nan, 13u);
  EXPECT_EQ(none.finite, 0u);
  EXPECT_EQ(none.stddev(), 0);
  // Zeros only: the padding of the tail must not count as zeros.
  const std::vector<std::int16_t> zeros(11, 0);
  st::value_stats z;
  ASSERT_TRUE(st::add_stats(dtype::I16, std::as_bytes(std::span(zeros)), z));
  EXPECT_EQ(z.zeros, 11u);
  EXPECT_EQ(z.finite, 11u);
  std::vector<std::byte> two(2);  // half an F6 group
  st::value_stats s;
  const auto r = st::add_stats(dtype::F6_E2M3, two, s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, st::errc::invalid_argument);
}

TEST(ScanValues, StatisticsOfEveryDtypeAcrossChunksAndStreams) {
  const auto f16 = random_bytes(100'008, 41);
  const auto i32 = random_bytes(40'000, 42);
  const auto f6 = random_bytes(3'000, 43);  // 4,000 F6 values
  auto reader = [](const std::vector<std::byte>& data) {
    return [&data](std::uint64_t at, std::span<std::byte> out) -> st::result<void> {
      std::memcpy(out.data(), data.data() + at, out.size());
      return {};
    };
  };
  auto stream = [](const std::vector<std::byte>& data) {
    return [&data](const st::byte_sink& sink) -> st::result<void> {
      for (std::size_t at = 0; at < data.size(); at += 5)  // pieces split elements and groups
        if (auto r = sink(std::span(data).subspan(at, std::min<std::size_t>(5, data.size() - at)));
            !r)
          return r;
      return {};
    };
  };
  std::vector<st::value_source> sources{{dtype::F16, f16.size(), reader(f16), {}},
                                        {dtype::I32, i32.size(), reader(i32), {}},
                                        {dtype::F6_E3M2, f6.size(), reader(f6), {}},
                                        {dtype::F16, f16.size(), {}, stream(f16)},
                                        {dtype::F6_E3M2, f6.size(), {}, stream(f6)}};
  std::vector<st::value_stats> first;
  for (unsigned threads : {1u, 2u, 3u}) {
    SCOPED_TRACE(threads);
    st::value_scan_options opts;
    opts.threads = threads;
    opts.chunk_bytes = 1000;
    opts.stats = true;
    const auto results = st::scan_values(sources, opts);
    ASSERT_EQ(results.size(), sources.size());
    for (std::size_t k = 0; k < results.size(); ++k) {
      SCOPED_TRACE(k);
      ASSERT_FALSE(results[k].failure);
      EXPECT_EQ(results[k].counts, st::value_counts{});
      const auto& data = k == 1 ? i32 : k % 3 == 0 ? f16 : f6;
      expect_stats(results[k].stats, reference_stats(reference_values(sources[k].type, data)));
      if (first.size() < results.size()) {
        first.push_back(results[k].stats);
      } else {  // the same figures whatever the thread count and timing
        EXPECT_EQ(results[k].stats.mean, first[k].mean);
        EXPECT_EQ(results[k].stats.m2, first[k].m2);
      }
    }
  }
}

}  // namespace
