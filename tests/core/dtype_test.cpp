// dtype table: names, bit widths, byte sizes.
#include <gtest/gtest.h>

#include "safetensors/dtype.hpp"

namespace st = safetensors;

TEST(DtypeTable, NamesRoundTripInEnumOrder) {
  const char* expected[] = {"BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
                            "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16",
                            "I32", "U32", "F32", "C64", "F64", "I64", "U64"};
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
  // format.md 1.4: BOOL 8, F4 4, F6 6, 8-bit 8, 16-bit 16, 32-bit 32, 64-bit 64.
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
