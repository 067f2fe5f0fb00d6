// Slicing: the reference's slice tests (docs/FORMAT.md section 8) and our Python-slice semantics.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "safetensors/tensor.hpp"

namespace st = safetensors;
using st::errc;
using st::slice_spec;

namespace {

// F32 tensor with values 0, 1, 2, ... (numel elements).
struct f32_tensor {
  std::vector<float> values;
  st::tensor_view view;
  explicit f32_tensor(std::vector<std::uint64_t> shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    values.resize(n);
    std::iota(values.begin(), values.end(), 0.0f);
    view = st::tensor_view(st::dtype::F32, std::move(shape),
                           std::as_bytes(std::span<const float>(values)));
  }
};

std::vector<float> floats(const st::tensor& t) {
  std::vector<float> out(t.bytes().size() / 4);
  if (!out.empty()) std::memcpy(out.data(), t.bytes().data(), t.bytes().size());
  return out;
}

st::result<st::tensor> slice(const st::tensor_view& v, std::string_view text) {
  auto idx = st::parse_slices(text);
  EXPECT_TRUE(idx) << text;
  return v.slice(*idx);
}

using shape = std::vector<std::uint64_t>;

}  // namespace

// ------------------------------------------------------------------ reference tests (slice.rs)

TEST(SliceReference, TensorRsTestSlicing) {
  f32_tensor t({1, 2, 3});
  auto a = t.view.slice(std::vector<slice_spec>{slice_spec::all(), slice_spec::range({}, 1)});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->shape(), (shape{1, 1, 3}));
  EXPECT_EQ(floats(*a), (std::vector<float>{0, 1, 2}));  // bytes 0..12
  EXPECT_FALSE(a->owns_data());
  auto b = t.view.slice(
      std::vector<slice_spec>{slice_spec::all(), slice_spec::all(), slice_spec::range({}, 1)});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->shape(), (shape{1, 2, 1}));
  EXPECT_EQ(floats(*b), (std::vector<float>{0, 3}));  // chunks 0..4 and 12..16
  EXPECT_TRUE(b->owns_data());
}

TEST(SliceReference, SliceVariety) {
  f32_tensor t({2, 3});
  auto s = slice(t.view, "[:, 1:3]");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->shape(), (shape{2, 2}));
  EXPECT_EQ(floats(*s), (std::vector<float>{1, 2, 4, 5}));  // bytes 4..12 and 16..24
  f32_tensor u({2, 3, 4});
  auto v = slice(u.view, "[:, 1:2, 1:3]");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->shape(), (shape{2, 1, 2}));
  EXPECT_EQ(floats(*v), (std::vector<float>{5, 6, 17, 18}));
  auto w = slice(u.view, "[1]");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->shape(), (shape{3, 4}));
  EXPECT_FALSE(w->owns_data());
  EXPECT_EQ(floats(*w).front(), 12.0f);
}

TEST(SliceReference, Select) {
  f32_tensor t({2, 3});
  auto a = slice(t.view, "[1, 2]");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->shape().empty());
  EXPECT_EQ(floats(*a), (std::vector<float>{5}));
  auto b = slice(t.view, "[:, 0]");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->shape(), (shape{2}));
  EXPECT_EQ(floats(*b), (std::vector<float>{0, 3}));
}

TEST(SliceReference, InvalidRangesAndTooManyIndexers) {
  f32_tensor t({2, 3});
  auto many = slice(t.view, "[0, 0, 0]");
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().code, errc::invalid_slice);
  EXPECT_NE(many.error().message.find("rank 2"), std::string::npos);
  // Our choice (docs/FORMAT.md): range bounds clamp like Python; the reference's Rust iterator
  // errors on 1..4 of a dim of 3 and panics on 3..2.
  auto clamped = slice(t.view, "[:, 1:4]");
  ASSERT_TRUE(clamped);
  EXPECT_EQ(clamped->shape(), (shape{2, 2}));
  auto reversed = slice(t.view, "[:, 3:2]");
  ASSERT_TRUE(reversed);
  EXPECT_EQ(reversed->shape(), (shape{2, 0}));
  EXPECT_TRUE(reversed->bytes().empty());
}

TEST(SliceReference, Fp4) {
  std::vector<std::byte> data{std::byte{0x21}, std::byte{0x43}};  // F4 [2,2]
  st::tensor_view v(st::dtype::F4, {2, 2}, data);
  auto row = slice(v, "[1]");
  ASSERT_TRUE(row) << row.error().message;
  EXPECT_EQ(row->shape(), (shape{2}));
  ASSERT_EQ(row->bytes().size(), 1u);
  EXPECT_EQ(row->bytes()[0], std::byte{0x43});
  auto half = slice(v, "[:, 0:1]");  // half a byte per row
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().code, errc::misaligned_slice);
  st::tensor_view one(st::dtype::F4, {1, 2}, std::span<const std::byte>(data).subspan(0, 1));
  EXPECT_EQ(slice(one, "[:, 0:1]").error().code, errc::misaligned_slice);
  // Every other byte-aligned pair of a [2,4] F4 tensor: a strided copy of whole bytes.
  std::vector<std::byte> d4{std::byte{0x10}, std::byte{0x32}, std::byte{0x54}, std::byte{0x76}};
  st::tensor_view w(st::dtype::F4, {2, 4}, d4);
  auto cols = slice(w, "[:, 2:]");
  ASSERT_TRUE(cols);
  ASSERT_EQ(cols->bytes().size(), 2u);
  EXPECT_EQ(cols->bytes()[0], std::byte{0x32});
  EXPECT_EQ(cols->bytes()[1], std::byte{0x76});
  EXPECT_EQ(slice(w, "[:, ::2]").error().code, errc::misaligned_slice);
}

// ------------------------------------------------------------- Python test_simple.py slices

TEST(SlicePython, NumpyCasesOnTenByFive) {
  f32_tensor t({10, 5});
  struct c {
    const char* text;
    shape want;
    float first;
  };
  const c cases[] = {{"[:]", {10, 5}, 0},     {"[]", {10, 5}, 0},    {"[:2]", {2, 5}, 0},
                     {"[:, :2]", {10, 2}, 0}, {"[0, :2]", {2}, 0},   {"[2:, 0]", {8}, 10},
                     {"[2:, -1]", {8}, 14},   {"[:20]", {10, 5}, 0}, {"[:, :20]", {10, 5}, 0}};
  for (const auto& k : cases) {
    auto s = slice(t.view, k.text);
    ASSERT_TRUE(s) << k.text << ": " << s.error().message;
    EXPECT_EQ(s->shape(), k.want) << k.text;
    EXPECT_EQ(floats(*s).front(), k.first) << k.text;
  }
  auto neg = slice(t.view, "[2:, -6]");
  ASSERT_FALSE(neg);
  EXPECT_EQ(neg.error().code, errc::invalid_slice);
  EXPECT_NE(neg.error().message.find("index -6 is out of range for dimension 1 of size 5"),
            std::string::npos)
      << neg.error().message;
  auto big = slice(t.view, "[2:, 20]");
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("[2:, 20]"), std::string::npos) << big.error().message;
  EXPECT_NE(big.error().message.find("[10, 5]"), std::string::npos) << big.error().message;
}

// --------------------------------------------------------------------------- our semantics

TEST(SliceSemantics, StepsAndNegativeBounds) {
  f32_tensor t({5});
  auto even = slice(t.view, "[::2]");
  ASSERT_TRUE(even);
  EXPECT_EQ(floats(*even), (std::vector<float>{0, 2, 4}));
  EXPECT_TRUE(even->owns_data());
  auto odd = slice(t.view, "[1::2]");
  EXPECT_EQ(floats(*odd), (std::vector<float>{1, 3}));
  auto tail = slice(t.view, "[-2:]");
  EXPECT_EQ(floats(*tail), (std::vector<float>{3, 4}));
  EXPECT_FALSE(tail->owns_data());
  auto mid = slice(t.view, "[-4:-1:2]");
  EXPECT_EQ(floats(*mid), (std::vector<float>{1, 3}));
  auto huge_neg = slice(t.view, "[-100:2]");
  EXPECT_EQ(floats(*huge_neg), (std::vector<float>{0, 1}));
  auto step_big = slice(t.view, "[1::10]");
  EXPECT_EQ(floats(*step_big), (std::vector<float>{1}));
  auto extreme =
      t.view.slice(std::vector<slice_spec>{slice_spec::range(INT64_MIN, INT64_MAX, INT64_MAX)});
  ASSERT_TRUE(extreme);
  EXPECT_EQ(floats(*extreme), (std::vector<float>{0}));
  auto last = t.view.slice(std::vector<slice_spec>{slice_spec::index(-1)});
  EXPECT_EQ(floats(*last), (std::vector<float>{4}));
  EXPECT_EQ(t.view.slice(std::vector<slice_spec>{slice_spec::index(INT64_MIN)}).error().code,
            errc::invalid_slice);
  EXPECT_EQ(t.view.slice(std::vector<slice_spec>{slice_spec::index(5)}).error().code,
            errc::invalid_slice);
  EXPECT_EQ(t.view.slice(std::vector<slice_spec>{slice_spec::range({}, {}, 0)}).error().code,
            errc::invalid_slice);
  EXPECT_EQ(t.view.slice(std::vector<slice_spec>{slice_spec::range({}, {}, -1)}).error().code,
            errc::invalid_slice);
}

TEST(SliceSemantics, MultiDimStridedCopy) {
  f32_tensor t({3, 4, 2});
  auto s = slice(t.view, "[::2, 1:3, 1]");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->shape(), (shape{2, 2}));
  EXPECT_EQ(floats(*s), (std::vector<float>{3, 5, 19, 21}));
  auto rows = slice(t.view, "[1:, ::3]");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->shape(), (shape{2, 2, 2}));
  EXPECT_EQ(floats(*rows), (std::vector<float>{8, 9, 14, 15, 16, 17, 22, 23}));
  auto block = slice(t.view, "[1:3]");  // contiguous rows: a view
  ASSERT_TRUE(block);
  EXPECT_FALSE(block->owns_data());
  EXPECT_EQ(block->bytes().data(), t.view.bytes().data() + 8 * 4);
  auto single = slice(t.view, "[2, 1:3, :]");  // contiguous too
  ASSERT_TRUE(single);
  EXPECT_FALSE(single->owns_data());
  EXPECT_EQ(floats(*single), (std::vector<float>{18, 19, 20, 21}));
}

TEST(SliceSemantics, ZeroSizeDims) {
  f32_tensor t({0, 3});
  auto all = slice(t.view, "[:]");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->shape(), (shape{0, 3}));
  auto cols = slice(t.view, "[:, 1:]");
  ASSERT_TRUE(cols);
  EXPECT_EQ(cols->shape(), (shape{0, 2}));
  EXPECT_EQ(slice(t.view, "[0]").error().code, errc::invalid_slice);
  f32_tensor u({3});
  auto empty = slice(u.view, "[1:1]");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->shape(), (shape{0}));
  // A validated header may hold [0, MAX, MAX]: slicing must not overflow computing strides.
  st::tensor_view huge(st::dtype::F32, {0, UINT64_MAX, UINT64_MAX}, {});
  auto h = huge.slice(std::vector<slice_spec>{slice_spec::all(), slice_spec::index(-1)});
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->shape(), (shape{0, UINT64_MAX}));
}

TEST(SliceSemantics, ScalarAndOwnedResultSurvivesMoves) {
  float x = 7;
  st::tensor_view scalar(st::dtype::F32, {}, std::as_bytes(std::span<const float>(&x, 1)));
  auto s = scalar.slice({});
  ASSERT_TRUE(s);
  EXPECT_EQ(floats(*s), (std::vector<float>{7}));
  EXPECT_EQ(slice(scalar, "[0]").error().code, errc::invalid_slice);
  f32_tensor t({4});
  auto copy = slice(t.view, "[::2]");
  ASSERT_TRUE(copy);
  st::tensor moved = std::move(*copy);
  st::tensor again;
  again = std::move(moved);
  EXPECT_EQ(floats(again), (std::vector<float>{0, 2}));
}

// --------------------------------------------------------------------------------- parser

TEST(SliceParse, Syntax) {
  auto a = st::parse_slices("[:, 1:3, -1, ::2]");
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_EQ(a->size(), 4u);
  EXPECT_FALSE((*a)[0].is_index);
  EXPECT_FALSE((*a)[0].start.has_value());
  EXPECT_FALSE((*a)[0].stop.has_value());
  EXPECT_EQ(*(*a)[1].start, 1);
  EXPECT_EQ(*(*a)[1].stop, 3);
  EXPECT_TRUE((*a)[2].is_index);
  EXPECT_EQ(*(*a)[2].start, -1);
  EXPECT_EQ((*a)[3].step, 2);
  auto b = st::parse_slices(" 0 , 2: ");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 2u);
  EXPECT_TRUE((*b)[0].is_index);
  EXPECT_EQ(*(*b)[1].start, 2);
  EXPECT_TRUE(st::parse_slices("[]")->empty());
  EXPECT_TRUE(st::parse_slices("")->empty());
  EXPECT_EQ(st::parse_slices("1:2:")->front().step, 1);
  for (const char* bad : {"[1,,2]", "[1,]", "[a]", "[1:2:3:4]", "[::0]", "[::-1]", "[1", "[1.5]",
                          "[...]", "[99999999999999999999]", "[--1]", "[+1]"}) {
    auto r = st::parse_slices(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, errc::invalid_slice) << bad;
  }
}
