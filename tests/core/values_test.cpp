// Value checks: count_values against a reference built on convert_elements (every dtype, random
// codes, unaligned spans), scan_values (chunked reads across threads, streamed sources in odd
// pieces, a failing source, skipped dtypes, progress).
#include "safetensors/values.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
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
    opts.chunk_bytes = 1000;  // rounded down to 1000 - 1000 % 8
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

}  // namespace
