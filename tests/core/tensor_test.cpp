// tensor_view / tensor: checked construction, typed access, conversion, copy and move safety.
#include "safetensors/tensor.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace st = safetensors;
using st::errc;

TEST(TensorView, MakeChecksByteCount) {
  std::vector<std::byte> b(16);
  auto ok = st::tensor_view::make(st::dtype::F32, {2, 2}, b);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->numel(), 4u);
  auto bad = st::tensor_view::make(st::dtype::F32, {2, 3}, b);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::invalid_tensor_view);
  EXPECT_NE(bad.error().message.find("F32"), std::string::npos);
  EXPECT_EQ(st::tensor_view::make(st::dtype::F4, {3}, std::span(b).subspan(0, 2)).error().code,
            errc::misaligned_slice);
  EXPECT_EQ(st::tensor_view::make(st::dtype::U8, {UINT64_MAX, 2}, b).error().code,
            errc::validation_overflow);
  EXPECT_TRUE(st::tensor_view::make(st::dtype::F32, {}, std::span(b).subspan(0, 4)));
  EXPECT_TRUE(st::tensor_view::make(st::dtype::F32, {0, 5}, {}));
}

TEST(TensorView, TypedAccess) {
  alignas(8) std::byte b[16] = {};
  float one = 1.0f;
  std::memcpy(b, &one, 4);
  st::tensor_view f(st::dtype::F32, {4}, b);
  auto as_f = f.as<float>();
  ASSERT_TRUE(as_f);
  EXPECT_EQ(as_f->size(), 4u);
  EXPECT_EQ((*as_f)[0], 1.0f);
  EXPECT_EQ(f.as<std::int32_t>().error().code, errc::dtype_mismatch);
  EXPECT_EQ(f.as<double>().error().code, errc::dtype_mismatch);
  st::tensor_view misaligned(st::dtype::F32, {2}, std::span<const std::byte>(b + 1, 8));
  EXPECT_EQ(misaligned.as<float>().error().code, errc::misaligned_slice);
  EXPECT_TRUE((st::tensor_view(st::dtype::F16, {8}, b).as<std::uint16_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::BF16, {8}, b).as<std::uint16_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::U16, {8}, b).as<std::uint16_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::I64, {2}, b).as<std::int64_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::U64, {2}, b).as<std::uint64_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::I8, {16}, b).as<std::int8_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::U8, {16}, b).as<std::uint8_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::I16, {8}, b).as<std::int16_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::I32, {4}, b).as<std::int32_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::U32, {4}, b).as<std::uint32_t>()));
  EXPECT_TRUE((st::tensor_view(st::dtype::F64, {2}, b).as<double>()));
  EXPECT_EQ((st::tensor_view(st::dtype::F8_E4M3, {16}, b).as<std::uint8_t>().error().code),
            errc::dtype_mismatch);
}

TEST(TensorView, BoolBytesMustBeZeroOrOne) {
  std::byte b[3] = {std::byte{0}, std::byte{1}, std::byte{1}};
  st::tensor_view v(st::dtype::BOOL, {3}, b);
  auto ok = v.as<bool>();
  ASSERT_TRUE(ok);
  EXPECT_TRUE((*ok)[1]);
  b[2] = std::byte{2};  // the format allows it (the reference loads it); C++ bool does not
  auto bad = v.as<bool>();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::invalid_argument);
  EXPECT_NE(bad.error().message.find("element 2"), std::string::npos);
}

TEST(TensorView, ToConvertsAndKeepsShape) {
  std::uint16_t halves[3] = {0x3c00, 0xc000, 0x7c00};  // 1, -2, inf
  st::tensor_view v(st::dtype::F16, {3, 1}, std::as_bytes(std::span<const std::uint16_t>(halves)));
  auto f = v.to(st::dtype::F32);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->shape(), (std::vector<std::uint64_t>{3, 1}));
  EXPECT_TRUE(f->owns_data());
  auto values = f->as<float>();
  ASSERT_TRUE(values);
  EXPECT_EQ((*values)[0], 1.0f);
  EXPECT_EQ((*values)[1], -2.0f);
  EXPECT_TRUE(std::isinf((*values)[2]));
  auto bf = f->view().to(st::dtype::BF16);
  ASSERT_TRUE(bf);
  EXPECT_EQ(bf->bytes().size(), 6u);
  EXPECT_EQ(v.to(st::dtype::C64).error().code, errc::unsupported);
  st::tensor_view odd(st::dtype::F32, {3},
                      std::as_bytes(std::span<const std::uint16_t>(halves)).subspan(0, 0));
  EXPECT_EQ(odd.to(st::dtype::F4).error().code, errc::misaligned_slice);
}

TEST(Tensor, CopiesOwnTheirBytesAndMovesKeepViewsValid) {
  std::vector<std::byte> data(8, std::byte{7});
  auto t = st::tensor::owned(st::dtype::U8, {8}, data);
  ASSERT_TRUE(t.owns_data());
  st::tensor copy = t;
  EXPECT_NE(copy.bytes().data(), t.bytes().data());
  EXPECT_EQ(copy.bytes().size(), 8u);
  EXPECT_EQ(copy.bytes()[3], std::byte{7});
  const std::byte* before = t.bytes().data();
  st::tensor moved = std::move(t);
  EXPECT_EQ(moved.bytes().data(), before);  // same heap buffer
  EXPECT_TRUE(t.bytes().empty());           // NOLINT: moved-from is empty, not dangling
  st::tensor assigned;
  assigned = copy;
  copy = st::tensor();
  EXPECT_EQ(assigned.bytes()[7], std::byte{7});
  EXPECT_EQ(assigned.shape(), (std::vector<std::uint64_t>{8}));
  // A vector of tensors reallocating keeps every view valid.
  std::vector<st::tensor> many;
  for (int i = 0; i < 100; ++i)
    many.push_back(st::tensor::owned(st::dtype::U8, {1}, {std::byte(i)}));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(many[i].bytes()[0], std::byte(i));
}

TEST(Tensor, BorrowedAndCheckedOwned) {
  std::byte b[4] = {};
  auto t = st::tensor::borrowed(st::tensor_view(st::dtype::I32, {1}, b));
  EXPECT_FALSE(t.owns_data());
  EXPECT_EQ(t.bytes().data(), b);
  st::tensor copy = t;  // copying a borrowed tensor borrows the same bytes
  EXPECT_EQ(copy.bytes().data(), b);
  EXPECT_TRUE(st::tensor::make_owned(st::dtype::I32, {1}, std::vector<std::byte>(4)));
  EXPECT_EQ(st::tensor::make_owned(st::dtype::I32, {2}, std::vector<std::byte>(4)).error().code,
            errc::invalid_tensor_view);
  auto empty = st::tensor::owned(st::dtype::F32, {0}, {});
  EXPECT_TRUE(empty.owns_data());
  EXPECT_TRUE(empty.bytes().empty());
}
