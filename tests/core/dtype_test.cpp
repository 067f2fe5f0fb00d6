// dtype table: names, bit widths, byte sizes.
#include "safetensors/dtype.hpp"

#include <gtest/gtest.h>

namespace st = safetensors;

TEST(DtypeTable, NamesRoundTripInEnumOrder) {
  const char* expected[] = {"BOOL",    "F4",      "F6_E2M3", "F6_E3M2",     "U8",          "I8",
                            "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16",
                            "U16",     "F16",     "BF16",    "I32",         "U32",         "F32",
                            "C64",     "F64",     "I64",     "U64"};
  ASSERT_EQ(std::size(expected), static_cast<std::size_t>(st::dtype_count));
  for (int i = 0; i < st::dtype_count; ++i) {
    auto t = static_cast<st::dtype>(i);
    EXPECT_EQ(st::dtype_name(t), expected[i]);
    auto back = st::dtype_from_name(expected[i]);
    ASSERT_TRUE(back.has_value()) << expected[i];
    EXPECT_EQ(*back, t);
  }
}

TEST(DtypeTable, UnknownNamesRejected) {
  for (const char* name : {"F8", "f32", "E8M0", "F8_E4M3FN", "U4", "I4", "C128", "F128", "STR", "",
                           "F32 ", " F32", "bool"}) {
    EXPECT_FALSE(st::dtype_from_name(name).has_value()) << name;
  }
}

TEST(DtypeTable, Bits) {
  using st::dtype;
  EXPECT_EQ(st::dtype_bits(dtype::F4), 4u);
  EXPECT_EQ(st::dtype_bits(dtype::F6_E2M3), 6u);
  EXPECT_EQ(st::dtype_bits(dtype::F6_E3M2), 6u);
  EXPECT_EQ(st::dtype_bits(dtype::BOOL), 8u);
  EXPECT_EQ(st::dtype_bits(dtype::F8_E8M0), 8u);
  EXPECT_EQ(st::dtype_bits(dtype::BF16), 16u);
  EXPECT_EQ(st::dtype_bits(dtype::U32), 32u);
  EXPECT_EQ(st::dtype_bits(dtype::C64), 64u);
  EXPECT_EQ(st::dtype_bits(dtype::U64), 64u);
}

TEST(DtypeTable, ByteSizeForEightElementsMatchesReference) {
  // docs/FORMAT.md section 8 (measured with the reference): BOOL 8, F4 4, F6 6, 8-bit 8,
  // 16-bit 16, 32-bit 32, 64-bit 64.
  for (int i = 0; i < st::dtype_count; ++i) {
    auto t = static_cast<st::dtype>(i);
    auto n = st::dtype_byte_size(t, 8);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, st::dtype_bits(t)) << st::dtype_name(t);
  }
}

TEST(DtypeTable, ByteSizeErrors) {
  using st::dtype;
  auto odd = st::dtype_byte_size(dtype::F4, 3);
  ASSERT_FALSE(odd.has_value());
  EXPECT_EQ(odd.error().code, st::errc::misaligned_slice);
  EXPECT_EQ(*st::dtype_byte_size(dtype::F6_E2M3, 4), 3u);
  EXPECT_EQ(st::dtype_byte_size(dtype::F6_E3M2, 2).error().code, st::errc::misaligned_slice);
  auto big = st::dtype_byte_size(dtype::U8, UINT64_MAX);
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, st::errc::validation_overflow);
  EXPECT_EQ(*st::dtype_byte_size(dtype::BOOL, UINT64_MAX / 8), UINT64_MAX / 8);
  EXPECT_EQ(*st::dtype_byte_size(dtype::F32, 0), 0u);
}

TEST(DtypeTable, Categories) {
  using st::dtype;
  EXPECT_TRUE(st::dtype_is_float(dtype::F8_E8M0));
  EXPECT_TRUE(st::dtype_is_float(dtype::F4));
  EXPECT_FALSE(st::dtype_is_float(dtype::C64));
  EXPECT_FALSE(st::dtype_is_float(dtype::I8));
  EXPECT_TRUE(st::dtype_is_integer(dtype::BOOL));
  EXPECT_TRUE(st::dtype_is_integer(dtype::U64));
  EXPECT_FALSE(st::dtype_is_integer(dtype::F16));
  EXPECT_FALSE(st::dtype_is_integer(dtype::C64));
}

// ------------------------------------------------------------------------------ conversions

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype_convert.hpp"
#include "core/float_formats.hpp"

namespace {

using st::dtype;
using bytes = std::vector<std::byte>;

bytes encode_f64(std::initializer_list<double> values, dtype to) {
  bytes src(values.size() * 8);
  std::memcpy(src.data(), std::data(values), src.size());
  bytes dst(*st::dtype_byte_size(to, values.size()));
  auto r = st::convert_elements(dtype::F64, src, to, dst, values.size());
  EXPECT_TRUE(r) << r.error().message;
  return dst;
}

// Code of `v` in `to` (element 0 of 8, so sub-byte dtypes fill whole bytes).
std::uint32_t code_of(double v, dtype to) {
  auto b = encode_f64({v, 0, 0, 0, 0, 0, 0, 0}, to);
  std::uint32_t c = 0;
  std::memcpy(&c, b.data(), std::min<std::size_t>(b.size(), 4));
  const unsigned bits = st::dtype_bits(to);
  return bits >= 32 ? c : c & ((1u << bits) - 1);
}

double value_of(std::uint32_t code, dtype t) {
  bytes b(*st::dtype_byte_size(t, 8));
  std::memcpy(b.data(), &code, std::min<std::size_t>(b.size(), 4));
  return st::detail::element_to_double(t, b, 0);
}

const dtype f8_types[] = {dtype::F8_E5M2, dtype::F8_E4M3, dtype::F8_E4M3FNUZ, dtype::F8_E5M2FNUZ,
                          dtype::F8_E8M0};

}  // namespace

TEST(DtypeConvert, EveryF8CodeThroughF32AndBack) {
  for (dtype t : f8_types) {
    bytes codes(256), f32(256 * 4), back(256);
    for (int i = 0; i < 256; ++i) codes[i] = static_cast<std::byte>(i);
    ASSERT_TRUE(st::convert_elements(t, codes, dtype::F32, f32, 256));
    ASSERT_TRUE(st::convert_elements(dtype::F32, f32, t, back, 256));
    int nans = 0;
    for (int i = 0; i < 256; ++i) {
      float f;
      std::memcpy(&f, f32.data() + 4 * i, 4);
      if (std::isnan(f)) {
        ++nans;
        EXPECT_TRUE(std::isnan(value_of(std::to_integer<unsigned>(back[i]), t)))
            << st::dtype_name(t) << " " << i;
        continue;
      }
      EXPECT_EQ(std::to_integer<int>(back[i]), i)
          << st::dtype_name(t) << " code " << i << " value " << f;
    }
    // NaN encodings: E5M2 has 6 (0x7d-0x7f, 0xfd-0xff), E4M3 2, FNUZ 1 (0x80), E8M0 1 (0xff).
    int want = t == dtype::F8_E5M2 ? 6 : t == dtype::F8_E4M3 ? 2 : 1;
    EXPECT_EQ(nans, want) << st::dtype_name(t);
  }
}

TEST(DtypeConvert, EveryF6F4CodeRoundTrips) {
  for (dtype t : {dtype::F6_E2M3, dtype::F6_E3M2, dtype::F4}) {
    const unsigned bits = st::dtype_bits(t);
    const std::uint32_t n = 1u << bits;
    for (std::uint32_t c = 0; c < n; ++c) {
      double v = value_of(c, t);
      ASSERT_FALSE(std::isnan(v));
      EXPECT_EQ(code_of(v, t), c) << st::dtype_name(t) << " code " << c << " value " << v;
    }
  }
}

TEST(DtypeConvert, KnownValuesFromTheSpecs) {
  // OCP 8-bit FP spec / ml_dtypes: E4M3FN max 448, NaN S.1111.111, min subnormal 2^-9.
  EXPECT_EQ(value_of(0x7e, dtype::F8_E4M3), 448.0);
  EXPECT_EQ(value_of(0x38, dtype::F8_E4M3), 1.0);
  EXPECT_EQ(value_of(0x01, dtype::F8_E4M3), std::ldexp(1.0, -9));
  EXPECT_EQ(value_of(0x08, dtype::F8_E4M3), std::ldexp(1.0, -6));
  EXPECT_EQ(value_of(0xfe, dtype::F8_E4M3), -448.0);
  EXPECT_TRUE(std::isnan(value_of(0x7f, dtype::F8_E4M3)));
  EXPECT_EQ(value_of(0x78, dtype::F8_E4M3), 256.0);  // exponent 1111 is a normal binade
  // E5M2: IEEE-like, max 57344, inf 0x7c, min subnormal 2^-16.
  EXPECT_EQ(value_of(0x7b, dtype::F8_E5M2), 57344.0);
  EXPECT_TRUE(std::isinf(value_of(0x7c, dtype::F8_E5M2)));
  EXPECT_EQ(value_of(0xfc, dtype::F8_E5M2), -INFINITY);
  EXPECT_EQ(value_of(0x01, dtype::F8_E5M2), std::ldexp(1.0, -16));
  EXPECT_EQ(value_of(0x3c, dtype::F8_E5M2), 1.0);
  // FNUZ: bias 8 / 16, NaN 0x80, no -0, no inf.
  EXPECT_EQ(value_of(0x7f, dtype::F8_E4M3FNUZ), 240.0);
  EXPECT_EQ(value_of(0x40, dtype::F8_E4M3FNUZ), 1.0);
  EXPECT_EQ(value_of(0x01, dtype::F8_E4M3FNUZ), std::ldexp(1.0, -10));
  EXPECT_TRUE(std::isnan(value_of(0x80, dtype::F8_E4M3FNUZ)));
  EXPECT_EQ(value_of(0x7f, dtype::F8_E5M2FNUZ), 57344.0);
  EXPECT_EQ(value_of(0x40, dtype::F8_E5M2FNUZ), 1.0);
  EXPECT_EQ(value_of(0x01, dtype::F8_E5M2FNUZ), std::ldexp(1.0, -17));
  EXPECT_TRUE(std::isnan(value_of(0x80, dtype::F8_E5M2FNUZ)));
  // E8M0: 2^(e-127), 0xff NaN.
  EXPECT_EQ(value_of(0x7f, dtype::F8_E8M0), 1.0);
  EXPECT_EQ(value_of(0x00, dtype::F8_E8M0), std::ldexp(1.0, -127));
  EXPECT_EQ(value_of(0xfe, dtype::F8_E8M0), std::ldexp(1.0, 127));
  EXPECT_TRUE(std::isnan(value_of(0xff, dtype::F8_E8M0)));
  // MX FP6 / FP4 (OCP MX spec): E2M3 max 7.5, E3M2 max 28, E2M1 values 0..6.
  EXPECT_EQ(value_of(0x1f, dtype::F6_E2M3), 7.5);
  EXPECT_EQ(value_of(0x01, dtype::F6_E2M3), 0.125);
  EXPECT_EQ(value_of(0x08, dtype::F6_E2M3), 1.0);
  EXPECT_EQ(value_of(0x3f, dtype::F6_E2M3), -7.5);
  EXPECT_EQ(value_of(0x1f, dtype::F6_E3M2), 28.0);
  EXPECT_EQ(value_of(0x01, dtype::F6_E3M2), 0.0625);
  EXPECT_EQ(value_of(0x0c, dtype::F6_E3M2), 1.0);
  const double e2m1[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  for (std::uint32_t c = 0; c < 8; ++c) {
    EXPECT_EQ(value_of(c, dtype::F4), e2m1[c]);
    EXPECT_EQ(value_of(c | 8, dtype::F4), -e2m1[c]);
  }
  // F16 / BF16.
  EXPECT_EQ(value_of(0x7bff, dtype::F16), 65504.0);
  EXPECT_EQ(value_of(0x0001, dtype::F16), std::ldexp(1.0, -24));
  EXPECT_EQ(value_of(0x3c00, dtype::F16), 1.0);
  EXPECT_EQ(value_of(0x3f80, dtype::BF16), 1.0);
  EXPECT_EQ(value_of(0xc000, dtype::BF16), -2.0);
}

TEST(DtypeConvert, RoundToNearestEvenTies) {
  // E4M3: ulp at 1.0 is 1/8.
  EXPECT_EQ(code_of(1.0625, dtype::F8_E4M3), 0x38u);                     // tie -> 1.0 (even)
  EXPECT_EQ(code_of(1.1875, dtype::F8_E4M3), 0x3au);                     // tie -> 1.25 (even)
  EXPECT_EQ(code_of(1.0625 + 1e-9, dtype::F8_E4M3), 0x39u);              // above the tie
  EXPECT_EQ(code_of(std::ldexp(1.0, -10), dtype::F8_E4M3), 0x00u);       // subnormal tie -> 0
  EXPECT_EQ(code_of(3 * std::ldexp(1.0, -10), dtype::F8_E4M3), 0x02u);   // subnormal tie -> even
  EXPECT_EQ(code_of(-std::ldexp(1.0, -11), dtype::F8_E4M3), 0x80u);      // -0 kept
  EXPECT_EQ(code_of(-std::ldexp(1.0, -12), dtype::F8_E4M3FNUZ), 0x00u);  // no -0 in FNUZ
  // F4: 5 is a tie between 4 (even) and 6; 0.25 between 0 and 0.5; 0.75 between 0.5 and 1.
  EXPECT_EQ(code_of(5.0, dtype::F4), 0x6u);
  EXPECT_EQ(code_of(0.25, dtype::F4), 0x0u);
  EXPECT_EQ(code_of(0.75, dtype::F4), 0x2u);
  EXPECT_EQ(code_of(2.5, dtype::F4), 0x4u);
  // F16 / BF16.
  EXPECT_EQ(code_of(1.0 + std::ldexp(1.0, -11), dtype::F16), 0x3c00u);
  EXPECT_EQ(code_of(1.0 + 3 * std::ldexp(1.0, -11), dtype::F16), 0x3c02u);
  EXPECT_EQ(code_of(std::ldexp(1.0, -25), dtype::F16), 0x0000u);
  EXPECT_EQ(code_of(1.0 + std::ldexp(1.0, -8), dtype::BF16), 0x3f80u);
  EXPECT_EQ(code_of(1.0 + 3 * std::ldexp(1.0, -8), dtype::BF16), 0x3f82u);
}

TEST(DtypeConvert, OverflowInfinityAndNaN) {
  // ieee: overflow -> inf (RNE), fn / fnuz: -> NaN, finite (MX): saturate.
  EXPECT_EQ(code_of(61439.0, dtype::F8_E5M2), 0x7bu);
  EXPECT_EQ(code_of(61440.0, dtype::F8_E5M2), 0x7cu);
  EXPECT_EQ(code_of(-INFINITY, dtype::F8_E5M2), 0xfcu);
  EXPECT_EQ(code_of(464.0, dtype::F8_E4M3), 0x7eu);  // tie -> 448 (even mantissa)
  EXPECT_EQ(code_of(465.0, dtype::F8_E4M3), 0x7fu);
  EXPECT_EQ(code_of(-1e9, dtype::F8_E4M3), 0xffu);
  EXPECT_EQ(code_of(INFINITY, dtype::F8_E4M3), 0x7fu);
  EXPECT_EQ(code_of(NAN, dtype::F8_E4M3), 0x7fu);
  EXPECT_EQ(code_of(247.0, dtype::F8_E4M3FNUZ), 0x7fu);
  EXPECT_EQ(code_of(248.0, dtype::F8_E4M3FNUZ), 0x80u);  // tie rounds to 256: overflow
  EXPECT_EQ(code_of(-INFINITY, dtype::F8_E5M2FNUZ), 0x80u);
  EXPECT_EQ(code_of(NAN, dtype::F8_E5M2FNUZ), 0x80u);
  EXPECT_EQ(code_of(7.0, dtype::F4), 0x7u);
  EXPECT_EQ(code_of(-100.0, dtype::F4), 0xfu);
  EXPECT_EQ(code_of(INFINITY, dtype::F6_E2M3), 0x1fu);
  EXPECT_EQ(code_of(1e6, dtype::F6_E3M2), 0x1fu);
  EXPECT_EQ(code_of(65519.0, dtype::F16), 0x7bffu);
  EXPECT_EQ(code_of(65520.0, dtype::F16), 0x7c00u);
  EXPECT_EQ(code_of(3.4e38, dtype::BF16), 0x7f80u);
  EXPECT_TRUE(std::isnan(value_of(code_of(NAN, dtype::F16), dtype::F16)));
  EXPECT_TRUE(std::isnan(value_of(code_of(-NAN, dtype::BF16), dtype::BF16)));
  // NaN has no encoding in F6 / F4: a clear error.
  bytes src(8), dst(1);
  double nan = NAN;
  std::memcpy(src.data(), &nan, 8);
  bytes two(16);
  std::memcpy(two.data(), &nan, 8);
  auto r = st::convert_elements(dtype::F64, two, dtype::F4, dst, 2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, st::errc::invalid_argument);
  EXPECT_NE(r.error().message.find("F4"), std::string::npos);
}

TEST(DtypeConvert, E8M0FollowsTorch) {
  EXPECT_EQ(code_of(1.0, dtype::F8_E8M0), 0x7fu);
  EXPECT_EQ(code_of(1.49, dtype::F8_E8M0), 0x7fu);
  EXPECT_EQ(code_of(1.5, dtype::F8_E8M0), 0x80u);  // guard set, normal input: rounds up
  EXPECT_EQ(code_of(0.75, dtype::F8_E8M0), 0x7fu);
  EXPECT_EQ(code_of(-4.0, dtype::F8_E8M0), 0x81u);  // the sign is ignored
  EXPECT_EQ(code_of(0.0, dtype::F8_E8M0), 0x00u);
  EXPECT_EQ(code_of(INFINITY, dtype::F8_E8M0), 0xffu);
  EXPECT_EQ(code_of(NAN, dtype::F8_E8M0), 0xffu);
  EXPECT_EQ(code_of(1.75 * std::ldexp(1.0, 127), dtype::F8_E8M0), 0xffu);
  EXPECT_EQ(code_of(std::ldexp(1.0, -127), dtype::F8_E8M0), 0x00u);
  EXPECT_EQ(code_of(std::ldexp(1.0, -126), dtype::F8_E8M0), 0x01u);
}

TEST(DtypeConvert, F16FastPathMatchesTheGenericCodec) {
  const auto f16 = *st::detail::minifloat_of(dtype::F16);
  for (std::uint32_t c = 0; c < 65536; ++c) {
    double generic = st::detail::minifloat_decode(f16, c);
    float fast = st::detail::f16_to_float(static_cast<std::uint16_t>(c));
    if (std::isnan(generic)) {
      EXPECT_TRUE(std::isnan(fast));
      continue;
    }
    ASSERT_EQ(static_cast<double>(fast), generic) << c;
  }
  const auto bf16 = *st::detail::minifloat_of(dtype::BF16);
  for (std::uint64_t b = 0; b < (1ull << 32); b += 65521) {  // ~65k float bit patterns
    float f = std::bit_cast<float>(static_cast<std::uint32_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(st::detail::float_to_f16(f), *st::detail::minifloat_encode(f16, f)) << b;
    ASSERT_EQ(st::detail::float_to_bf16(f), *st::detail::minifloat_encode(bf16, f)) << b;
  }
}

TEST(DtypeConvert, IntegersFollowRustAsCasts) {
  auto one = [](dtype from, const void* v, dtype to) {
    bytes src(*st::dtype_byte_size(from, 1)), dst(*st::dtype_byte_size(to, 1));
    std::memcpy(src.data(), v, src.size());
    EXPECT_TRUE(st::convert_elements(from, src, to, dst, 1));
    return st::detail::element_to_double(to, dst, 0);
  };
  std::int32_t m1 = -1;
  EXPECT_EQ(one(dtype::I32, &m1, dtype::U8), 255.0);
  EXPECT_EQ(one(dtype::I32, &m1, dtype::U64), 18446744073709551615.0);
  EXPECT_EQ(one(dtype::I32, &m1, dtype::BOOL), 1.0);
  float f = 300.7f;
  EXPECT_EQ(one(dtype::F32, &f, dtype::U8), 255.0);
  f = -5.5f;
  EXPECT_EQ(one(dtype::F32, &f, dtype::U8), 0.0);
  f = -2.9f;
  EXPECT_EQ(one(dtype::F32, &f, dtype::I8), -2.0);
  f = NAN;
  EXPECT_EQ(one(dtype::F32, &f, dtype::I32), 0.0);
  f = 3e10f;
  EXPECT_EQ(one(dtype::F32, &f, dtype::I32), 2147483647.0);
  f = -0.0f;
  EXPECT_EQ(one(dtype::F32, &f, dtype::BOOL), 0.0);
  f = 0.25f;
  EXPECT_EQ(one(dtype::F32, &f, dtype::BOOL), 1.0);
  std::uint8_t two = 2;
  EXPECT_EQ(one(dtype::BOOL, &two, dtype::F32), 1.0);
  std::int64_t big = INT64_MAX;
  EXPECT_EQ(one(dtype::I64, &big, dtype::F32), std::ldexp(1.0, 63));
  std::uint64_t umax = UINT64_MAX;
  EXPECT_TRUE(std::isinf(one(dtype::U64, &umax, dtype::F16)));
  // Integers above 2^53 round once: 2^60 + 2^52 + 1 is just above the BF16 tie -> 2^60 + 2^53.
  std::int64_t sticky = (std::int64_t{1} << 60) + (std::int64_t{1} << 52) + 1;
  EXPECT_EQ(one(dtype::I64, &sticky, dtype::BF16), std::ldexp(1.0, 60) + std::ldexp(1.0, 53));
  std::int64_t neg = -sticky;
  EXPECT_EQ(one(dtype::I64, &neg, dtype::BF16), -(std::ldexp(1.0, 60) + std::ldexp(1.0, 53)));
  std::int16_t s = -300;
  EXPECT_EQ(one(dtype::I16, &s, dtype::I8),
            static_cast<double>(static_cast<std::int8_t>(-300 & 0xff)));
  EXPECT_EQ(one(dtype::I16, &s, dtype::F8_E4M3), -288.0);
}

TEST(DtypeConvert, SubBytePacking) {
  // F4: two per byte, low nibble first (torch float4_e2m1fn_x2).
  auto b = encode_f64({1.0, 6.0, -0.5, 0.0}, dtype::F4);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(std::to_integer<int>(b[0]), 0x72);
  EXPECT_EQ(std::to_integer<int>(b[1]), 0x09);
  // F6: four per three bytes, little-endian bit stream.
  auto c = encode_f64({1.0, 7.5, -1.0, 0.125}, dtype::F6_E2M3);  // codes 0x08 0x1f 0x28 0x01
  ASSERT_EQ(c.size(), 3u);
  std::uint32_t stream = std::to_integer<std::uint32_t>(c[0]) |
                         std::to_integer<std::uint32_t>(c[1]) << 8 |
                         std::to_integer<std::uint32_t>(c[2]) << 16;
  EXPECT_EQ(stream, 0x08u | 0x1fu << 6 | 0x28u << 12 | 0x01u << 18);
  for (int i = 0; i < 4; ++i) {
    const double want[] = {1.0, 7.5, -1.0, 0.125};
    EXPECT_EQ(st::detail::element_to_double(dtype::F6_E2M3, c, static_cast<std::uint64_t>(i)),
              want[i]);
  }
  bytes back(32);
  ASSERT_TRUE(st::convert_elements(dtype::F6_E2M3, c, dtype::F64, back, 4));
  double d[4];
  std::memcpy(d, back.data(), 32);
  EXPECT_EQ(d[1], 7.5);
  EXPECT_EQ(d[2], -1.0);
}

TEST(DtypeConvert, ErrorsAndSameType) {
  bytes src(16), dst(16);
  auto c64 = st::convert_elements(dtype::C64, src, dtype::F32, dst, 2);
  ASSERT_FALSE(c64);
  EXPECT_EQ(c64.error().code, st::errc::unsupported);
  EXPECT_EQ(st::convert_elements(dtype::F32, src, dtype::C64, dst, 2).error().code,
            st::errc::unsupported);
  src[3] = std::byte{0x40};
  ASSERT_TRUE(st::convert_elements(dtype::C64, src, dtype::C64, dst, 2));
  EXPECT_EQ(dst[3], std::byte{0x40});
  EXPECT_EQ(st::convert_elements(dtype::F32, src, dtype::F64, dst, 4).error().code,
            st::errc::invalid_argument);
  EXPECT_EQ(st::convert_elements(dtype::F64, src, dtype::F32, dst, 3).error().code,
            st::errc::invalid_argument);
  EXPECT_EQ(st::convert_elements(dtype::F32, src, dtype::F4, dst, 3).error().code,
            st::errc::misaligned_slice);
  EXPECT_TRUE(std::isnan(st::detail::element_to_double(dtype::F32, src, 4)));
  EXPECT_TRUE(std::isnan(st::detail::element_to_double(dtype::F32, src, UINT64_MAX)));
}
