// Row kernels, fused activations and pipeline scores against hand values (torch float64).
#include "model/kernels.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "model/gemm.hpp"
#include "model/threads.hpp"
#include "safetensors/model/classifier.hpp"

using namespace safetensors::model;
using namespace safetensors::model::detail;

TEST(kernels, layer_norm_matches_torch) {
  std::vector<float> x = {1, 2, 3, 4, /*padding of the stride*/ 99, 5, 5, 5, 5, 99};
  const float gamma[] = {1, 2, 0.5f, 1}, beta[] = {0, 1, 0, -1};
  layer_norm(x.data(), 2, 5, 4, gamma, beta, 1e-12f);
  const double want[] = {-1.341640786499337, 0.10557280900044219, 0.22360679774988956,
                         0.34164078649933716};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(x[i], want[i], 1e-6);
  EXPECT_EQ(x[4], 99.f);  // stride gap untouched
  // A constant row has zero variance: the result is beta (eps keeps it finite).
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(x[5 + i], beta[i], 1e-6);
}

TEST(kernels, masked_softmax_matches_torch_and_zeroes_padding) {
  std::vector<float> x = {1, 2, 3, 1000, -5};
  masked_softmax(x.data(), 1, 5, 3);
  const double want[] = {0.09003057317038045, 0.2447284710547976, 0.6652409557748218};
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(x[i], want[i], 1e-7);
  EXPECT_EQ(x[3], 0.f);
  EXPECT_EQ(x[4], 0.f);
}

TEST(kernels, long_softmax_rows_match_float64) {
  // Rows long enough for the 16-lane path plus a tail, with masked keys and very negative scores.
  for (std::size_t valid : {16u, 35u, 70u}) {
    const std::size_t cols = valid + 3;
    std::vector<float> x(2 * cols);
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] = static_cast<float>((i * 37) % 101) * 0.23f - 11.f;
    x[5] = -300.f;  // exp underflows to 0 after the max shift
    const auto in = x;
    masked_softmax(x.data(), 2, cols, valid);
    for (std::size_t r = 0; r < 2; ++r) {
      const float* row = in.data() + r * cols;
      const double mx = *std::max_element(row, row + valid);
      double sum = 0;
      for (std::size_t j = 0; j < valid; ++j) sum += std::exp(row[j] - mx);
      for (std::size_t j = 0; j < valid; ++j) {
        const double want = std::exp(row[j] - mx) / sum;  // a few float ulps
        EXPECT_NEAR(x[r * cols + j], want, want * 5e-7 + 1e-12) << valid << " " << r << " " << j;
      }
      for (std::size_t j = valid; j < cols; ++j) EXPECT_EQ(x[r * cols + j], 0.f);
    }
  }
}

TEST(kernels, softmax_is_shift_invariant_on_large_values) {
  std::vector<float> x(40);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 1e4f + static_cast<float>(i % 3);
  masked_softmax(x.data(), 2, 20, 20);
  float sum = 0;
  for (int i = 0; i < 20; ++i) sum += x[i];
  EXPECT_NEAR(sum, 1.f, 1e-6);
  EXPECT_FALSE(std::isnan(x[0]));
}

TEST(kernels, fast_exp_is_accurate) {
  for (float v = -90.f; v <= 0.f; v += 0.01f) {
    const double want = std::exp(static_cast<double>(v));
    const double got = fast_exp_nonpositive(v);
    if (v < -87.f) {
      EXPECT_EQ(got, 0.0) << v;
    } else {
      EXPECT_NEAR(got, want, want * 3e-7) << v;
    }
  }
}

TEST(kernels, activation_names_follow_act2fn) {
  EXPECT_EQ(activation_from_name("gelu"), activation_kind::gelu_erf);
  EXPECT_EQ(activation_from_name("gelu_new"), activation_kind::gelu_tanh);
  EXPECT_EQ(activation_from_name("gelu_pytorch_tanh"), activation_kind::gelu_tanh);
  EXPECT_EQ(activation_from_name("quick_gelu"), activation_kind::quick_gelu);
  EXPECT_EQ(activation_from_name("swish"), activation_kind::silu);
  EXPECT_EQ(activation_from_name("linear"), activation_kind::identity);
  EXPECT_FALSE(activation_from_name("gelu_10"));
  EXPECT_FALSE(activation_from_name("GELU"));
}

// Each activation fused into a GEMM (identity weights, zero bias) against torch float64.
TEST(kernels, fused_activations_match_torch) {
  const std::vector<float> xs = {-2, -1, -0.5f, 0, 0.5f, 1, 3};
  const struct {
    activation_kind act;
    std::vector<double> want;
  } cases[] = {
      {activation_kind::gelu_erf,
       {-0.04550026389635842, -0.15865525393145702, -0.15426876936299344, 0.0, 0.34573123063700656,
        0.841344746068543, 2.99595030590511}},
      {activation_kind::gelu_tanh,
       {-0.04540230591222494, -0.15880800939172324, -0.15428599017485606, 0.0, 0.34571400982514394,
        0.8411919906082768, 2.996362607918227}},
      {activation_kind::silu,
       {-0.2384058440442351, -0.2689414213699951, -0.1887703343990727, 0.0, 0.3112296656009273,
        0.7310585786300049, 2.8577223804672998}},
      {activation_kind::quick_gelu,
       {-0.06434137685579186, -0.1542042340671787, -0.1496115633936199, 0.0, 0.35038843660638014,
        0.8457957659328212, 2.981928690292214}},
      {activation_kind::mish,
       {-0.2525014826957089, -0.30340146137410895, -0.22074377465173, 0.0, 0.3752452113048951,
        0.8650983882673103, 2.9865350049679575}},
      {activation_kind::relu, {0, 0, 0, 0, 0.5, 1, 3}},
  };
  gemm_engine g;
  const std::size_t n = xs.size();
  std::vector<float> eye(n * n, 0.f), bias(n, 0.f);
  for (std::size_t i = 0; i < n; ++i) eye[i * n + i] = 1.f;
  for (const auto& c : cases) {
    std::vector<float> y(n, -7.f);
    ASSERT_TRUE(
        g.linear({xs.data(), 1, n}, {eye.data(), bias.data(), n, n}, {y.data(), 1, n}, c.act));
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_NEAR(y[i], c.want[i], 2e-6) << static_cast<int>(c.act) << " x=" << xs[i];
      EXPECT_NEAR(activation_reference(c.act, xs[i]), c.want[i], 2e-6) << static_cast<int>(c.act);
    }
  }
}

TEST(kernels, linear_accumulate_adds_the_residual_and_bias) {
  gemm_engine g;
  const float x[] = {1, 2, 3, 4};        // 2 rows x 2
  const float w[] = {1, 0, 0, 1, 1, 1};  // [out=3, in=2]
  const float b[] = {10, 20, 30};
  std::vector<float> y = {1, 1, 1, 2, 2, 2};
  ASSERT_TRUE(g.linear({x, 2, 2}, {w, b, 3, 2}, {y.data(), 2, 3}, activation_kind::identity, true));
  const std::vector<float> want = {12, 23, 34, 15, 26, 39};
  EXPECT_EQ(y, want);
  EXPECT_EQ(g.cached_primitives(), 1u);
  ASSERT_TRUE(g.linear({x, 2, 2}, {w, b, 3, 2}, {y.data(), 2, 3}, activation_kind::identity, true));
  EXPECT_EQ(g.cached_primitives(), 1u);  // same shape: primitive reused
}

TEST(kernels, primitives_are_cached_per_thread_count) {
  // oneDNN bakes the team size into a primitive: a call with another one needs its own.
  gemm_engine g;
  const float x[] = {1, 2}, w[] = {1, 2, 3, 4};
  float y[2] = {};
  set_compute_threads(1);
  ASSERT_TRUE(g.linear({x, 1, 2}, {w, nullptr, 2, 2}, {y, 1, 2}));
  EXPECT_EQ(g.cached_primitives(), 1u);
  set_compute_threads(2);
  const bool two = compute_threads() == 2;  // 1 in builds without OpenMP
  ASSERT_TRUE(g.linear({x, 1, 2}, {w, nullptr, 2, 2}, {y, 1, 2}));
  EXPECT_EQ(g.cached_primitives(), two ? 2u : 1u);
  EXPECT_EQ(y[0], 5.f);
  EXPECT_EQ(y[1], 11.f);
  set_compute_threads(1);
  ASSERT_TRUE(g.linear({x, 1, 2}, {w, nullptr, 2, 2}, {y, 1, 2}));
  EXPECT_EQ(g.cached_primitives(), two ? 2u : 1u);  // both kept
  set_compute_threads(0);
}

TEST(kernels, primitive_cache_is_bounded) {
  gemm_engine g(8);
  const float w[] = {1, 2, 3, 4};  // [2, 2]
  std::vector<float> x(2 * 20, 1.f), y(2 * 20);
  for (std::size_t m = 1; m <= 20; ++m) {
    ASSERT_TRUE(g.linear({x.data(), m, 2}, {w, nullptr, 2, 2}, {y.data(), m, 2}));
    ASSERT_LE(g.cached_primitives(), 8u);
    EXPECT_EQ(y[2 * (m - 1)], 3.f);
    EXPECT_EQ(y[2 * (m - 1) + 1], 7.f);
  }
  EXPECT_EQ(g.cached_primitives(), 4u);  // 20 shapes: started over at 9 and 17
}

namespace {

std::vector<float> random_values(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Random linear layers [outs[i], in] (weights and biases) to join.
struct random_parts {
  std::vector<std::vector<float>> ws, bs;
  std::vector<linear_weights> parts;
  random_parts(std::size_t in, std::initializer_list<std::size_t> outs, std::mt19937& rng) {
    for (std::size_t o : outs) {
      ws.push_back(random_values(o * in, rng));
      bs.push_back(random_values(o, rng));
    }
    for (std::size_t i = 0; i < ws.size(); ++i)
      parts.push_back({ws[i].data(), bs[i].data(), bs[i].size(), in});
  }
};

}  // namespace

TEST(kernels, packed_joined_weights_match_plain_gemms) {
  // Three [out_i, 7] layers joined into one packed [15, 7] GEMM, against one plain GEMM each.
  std::mt19937 rng(3);
  const std::size_t in = 7;
  const random_parts layers(in, {5, 4, 6}, rng);
  const auto& parts = layers.parts;
  gemm_engine g;
  auto packed = g.pack(parts);
  ASSERT_TRUE(packed) << packed.error().message;
  EXPECT_EQ(packed->type, weight_type::f32_packed);
  EXPECT_EQ(packed->out, 15u);
  EXPECT_GE(g.packed_bytes(), 15 * in * sizeof(float));
  for (std::size_t m : {1u, 3u, 33u}) {
    const auto x = random_values(m * in, rng);
    for (bool accumulate : {false, true}) {
      auto y = random_values(m * 15, rng);
      auto want = y;
      ASSERT_TRUE(g.linear({x.data(), m, in}, *packed, {y.data(), m, 15}, activation_kind::gelu_erf,
                           accumulate));
      std::size_t col = 0;
      for (const auto& p : parts) {
        ASSERT_TRUE(g.linear({x.data(), m, in}, p, {want.data() + col, m, 15},
                             activation_kind::gelu_erf, accumulate));
        col += p.out;
      }
      for (std::size_t i = 0; i < y.size(); ++i)
        EXPECT_NEAR(y[i], want[i], 1e-5) << "m " << m << " i " << i;
    }
  }
}

TEST(kernels, quantize_rows_u8_as_torch_dynamic_quantization) {
  const float x[] = {-1, 0, 99, 0.5f, 3, 99};  // 2 rows x 2, stride 3
  std::uint8_t q[4];
  const auto r = quantize_rows_u8(x, 2, 3, 2, 255, q);
  EXPECT_FLOAT_EQ(r.scale, 4.f / 255);  // range [-1, 3]
  EXPECT_EQ(r.zero_point, 64);          // round(1 / scale) = round(63.75)
  const std::uint8_t want[] = {0, 64, 96, 255};
  EXPECT_TRUE(std::equal(q, q + 4, want));
  const float positive[] = {1, 2};  // the range always includes 0: zero point 0
  const auto p = quantize_rows_u8(positive, 1, 2, 2, 127, q);
  EXPECT_FLOAT_EQ(p.scale, 2.f / 127);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_EQ(q[1], 127);
}

// The vector bodies and scalar tails (37 = 2 x 16 + 5 columns) against the scalar definitions.
TEST(kernels, quantized_rows_match_their_scalar_definitions) {
  std::mt19937 rng(11);
  const std::size_t rows = 4, cols = 37, ld = 40;
  auto x = random_values(rows * ld, rng);
  for (auto& v : x) v = v * 3.f + 0.7f;                   // a zero point well inside [0, 255]
  std::fill(x.begin() + ld, x.begin() + ld + cols, 0.f);  // an all-zero row
  for (int qmax : {255, 127}) {
    std::vector<std::uint8_t> q(rows * cols);
    const auto r = quantize_rows_u8(x.data(), rows, ld, cols, qmax, q.data());
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t c = 0; c < cols; ++c) {
        const float v = std::nearbyint(x[i * ld + c] * (1.f / r.scale)) + float(r.zero_point);
        EXPECT_EQ(q[i * cols + c], std::uint8_t(std::clamp(v, 0.f, float(qmax))))
            << "qmax " << qmax << " (" << i << ", " << c << ")";
      }
  }
  std::vector<float> dense(rows * cols);
  for (std::size_t i = 0; i < rows; ++i)
    std::copy_n(x.begin() + i * ld, cols, dense.begin() + i * cols);
  // Row 2: largest magnitude 127 (negative), so scale 1 and exact ties, rounded to even.
  dense[2 * cols + 3] = -127.f;
  dense[2 * cols + 4] = 2.5f;
  dense[2 * cols + 5] = 3.5f;
  dense[2 * cols + 36] = -0.5f;  // in the scalar tail
  std::vector<std::int8_t> q(rows * cols);
  std::vector<float> scales(rows);
  std::vector<std::int32_t> sums(rows);
  quantize_rows_s8(dense.data(), rows, cols, q.data(), scales.data(), sums.data());
  EXPECT_EQ(scales[1], 1.f);  // the zero row
  EXPECT_EQ(scales[2], 1.f);
  EXPECT_EQ(q[2 * cols + 4], 2);
  EXPECT_EQ(q[2 * cols + 5], 4);
  EXPECT_EQ(q[2 * cols + 36], 0);
  for (std::size_t i = 0; i < rows; ++i) {
    float amax = 0;
    for (std::size_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(dense[i * cols + c]));
    if (amax > 0) {
      EXPECT_EQ(scales[i], amax / 127.f) << i;
    }
    std::int32_t sum = 0;
    for (std::size_t c = 0; c < cols; ++c) {
      const float v = std::clamp(std::nearbyint(dense[i * cols + c] / scales[i]), -127.f, 127.f);
      EXPECT_EQ(q[i * cols + c], std::int8_t(v)) << "(" << i << ", " << c << ")";
      sum += std::int32_t(v);
    }
    EXPECT_EQ(sums[i], sum) << i;
  }
}

TEST(kernels, bf16_rounds_to_nearest_even) {
  EXPECT_EQ(to_bf16(1.f), 0x3f80);
  EXPECT_EQ(to_bf16(from_bf16(0x3f81)), 0x3f81);
  // 1 + 2^-8 lies halfway between 0x3f80 and 0x3f81: to even.
  EXPECT_EQ(to_bf16(1.f + 1.f / 256), 0x3f80);
  EXPECT_EQ(to_bf16(1.f + 3.f / 512), 0x3f81);
  EXPECT_TRUE(std::isnan(from_bf16(to_bf16(std::nanf("")))));
}

// y = gelu(x · Wᵀ + b) + y over three joined parts, in float64, from the operands the packed
// low-precision GEMM sees: BF16-rounded x and W, or x quantized to u8 and W per row to int8.
TEST(kernels, low_precision_linear_matches_its_float64_definition) {
  std::mt19937 rng(5);
  const std::size_t in = 37, n = 15;
  const random_parts layers(in, {5, 4, 6}, rng);
  const auto& parts = layers.parts;
  std::vector<float> w_all, b_all;
  for (std::size_t i = 0; i < 3; ++i) {
    w_all.insert(w_all.end(), layers.ws[i].begin(), layers.ws[i].end());
    b_all.insert(b_all.end(), layers.bs[i].begin(), layers.bs[i].end());
  }
  const auto gelu = [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); };
  for (weight_type t : {weight_type::bf16_packed, weight_type::s8_packed}) {
    gemm_engine g;
    auto packed = g.pack(parts, t);
    ASSERT_TRUE(packed) << packed.error().message;
    EXPECT_EQ(packed->type, t);
    for (std::size_t m : {1u, 3u, 33u}) {
      auto x = random_values(m * in, rng);
      for (auto& v : x) v += 0.4f;  // skewed: a zero point far from the middle
      auto y = random_values(m * n, rng);
      const auto before = y;
      ASSERT_TRUE(
          g.linear({x.data(), m, in}, *packed, {y.data(), m, n}, activation_kind::gelu_erf, true));
      std::vector<double> xd(x.size()), wd(w_all.size()), scale(n, 1.0);
      double x_scale = 1.0;
      if (t == weight_type::bf16_packed) {
        for (std::size_t i = 0; i < x.size(); ++i) xd[i] = from_bf16(to_bf16(x[i]));
        for (std::size_t i = 0; i < w_all.size(); ++i) wd[i] = from_bf16(to_bf16(w_all[i]));
      } else {
        std::vector<std::uint8_t> q(x.size());
        const auto qx = quantize_rows_u8(x.data(), m, in, in, int8_activation_max(), q.data());
        x_scale = qx.scale;
        for (std::size_t i = 0; i < x.size(); ++i) xd[i] = double(q[i]) - qx.zero_point;
        for (std::size_t r = 0; r < n; ++r) {
          float amax = 0;
          for (std::size_t c = 0; c < in; ++c) amax = std::max(amax, std::fabs(w_all[r * in + c]));
          EXPECT_FLOAT_EQ(packed->scales[r], amax / 127.f);
          scale[r] = packed->scales[r];
          for (std::size_t c = 0; c < in; ++c)
            wd[r * in + c] = std::nearbyint(w_all[r * in + c] / packed->scales[r]);
        }
      }
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          double acc = 0;
          for (std::size_t c = 0; c < in; ++c) acc += xd[i * in + c] * wd[j * in + c];
          const double want = gelu(x_scale * scale[j] * acc + b_all[j]) + before[i * n + j];
          EXPECT_NEAR(y[i * n + j], want, 2e-5 * (1 + std::fabs(want)))
              << "type " << int(t) << " m " << m << " (" << i << ", " << j << ")";
        }
    }
  }
}

TEST(kernels, pack_rejects_mismatched_parts) {
  const std::vector<float> w(4 * 3, 1.f), b(4, 0.f);
  gemm_engine g;
  const std::vector<std::vector<linear_weights>> bad = {
      {},                                                        // nothing
      {{w.data(), b.data(), 2, 3}, {w.data(), b.data(), 2, 2}},  // different inputs
      {{w.data(), b.data(), 2, 3}, {w.data(), nullptr, 2, 3}},   // bias on one part only
      {{w.data(), b.data(), 0, 3}},                              // empty layer
  };
  for (const auto& parts : bad) {
    auto r = g.pack(parts);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, safetensors::errc::invalid_argument);
  }
  auto once = g.pack(std::vector<linear_weights>{{w.data(), b.data(), 4, 3}});
  ASSERT_TRUE(once);
  auto twice = g.pack(std::vector<linear_weights>{*once});  // already packed
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, safetensors::errc::invalid_argument);
  gemm_engine other;  // packed weights belong to the engine that made them
  const float x[3] = {1, 2, 3};
  float y[4] = {};
  auto r = other.linear({x, 1, 3}, *once, {y, 1, 4});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, safetensors::errc::invalid_argument);
}

TEST(kernels, split_columns_makes_dense_blocks) {
  const float in[] = {1, 2, 3, 4,  5,  6,    // row 0: parts (1 2) (3 4) (5 6)
                      7, 8, 9, 10, 11, 12};  // row 1
  std::vector<float> out(12, -1.f);
  split_columns(in, 2, 2, 3, out.data());
  const std::vector<float> want = {1, 2, 7, 8, 3, 4, 9, 10, 5, 6, 11, 12};
  EXPECT_EQ(out, want);
}

TEST(kernels, linear_rejects_mismatched_operands) {
  gemm_engine g;
  const float x[4] = {};
  float y[4] = {};
  const float w[4] = {};
  auto r = g.linear({x, 2, 2}, {w, nullptr, 2, 2}, {y, 1, 2});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, safetensors::errc::invalid_argument);
}

TEST(kernels, attention_gemms_use_strided_heads) {
  // batch 1, 2 heads of dim 1, 2 positions; q/k/v interleaved in rows of 3 x dim.
  gemm_engine g;
  const float qkv[] = {1, 2, /*k*/ 3, 4,  /*v*/ 5,  6,    // position 0
                       7, 8, /*k*/ 9, 10, /*v*/ 11, 12};  // position 1
  const attention_shape s{1, 2, 1, 2, 2};
  std::vector<float> scores(8);
  ASSERT_TRUE(g.attention_scores({qkv, 12, 6}, {qkv + 2, 12, 6}, s, 0.5f, scores.data()));
  // head 0: q=(1,7), k=(3,9); head 1: q=(2,8), k=(4,10)
  const std::vector<float> want = {1.5f, 4.5f, 10.5f, 31.5f, 4.f, 10.f, 16.f, 40.f};
  EXPECT_EQ(scores, want);
  const float probs[] = {1, 0, 0.5f, 0.5f, 0, 1, 1, 0};
  std::vector<float> ctx(4, -1.f);
  ASSERT_TRUE(g.attention_context(probs, {qkv + 4, 12, 6}, s, ctx.data(), 4, 2));
  const std::vector<float> want_ctx = {5, 12, 8, 6};  // (pos, head) row-major
  EXPECT_EQ(ctx, want_ctx);
}

TEST(kernels, bf16_attention_reads_strided_heads) {
  // As attention_gemms_use_strided_heads, with the operands converted to BF16 (dense copies):
  // small integers and halves are exact in BF16, so the results are too.
  gemm_engine g(gemm_engine::max_cached_primitives, true);
  ASSERT_TRUE(g.attention_bf16());
  const float qkv[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const attention_shape s{1, 2, 1, 2, 2};
  std::vector<float> scores(8);
  ASSERT_TRUE(g.attention_scores({qkv, 12, 6}, {qkv + 2, 12, 6}, s, 0.5f, scores.data()));
  EXPECT_EQ(scores, (std::vector<float>{1.5f, 4.5f, 10.5f, 31.5f, 4.f, 10.f, 16.f, 40.f}));
  const float probs[] = {1, 0, 0.5f, 0.5f, 0, 1, 1, 0};
  std::vector<float> ctx(4, -1.f);
  ASSERT_TRUE(g.attention_context(probs, {qkv + 4, 12, 6}, s, ctx.data(), 4, 2));
  EXPECT_EQ(ctx, (std::vector<float>{5, 12, 8, 6}));
  // Two sequences whose rows are not one block (batch stride > rows x row stride).
  const attention_shape two{2, 1, 1, 1, 1};
  const float q2[] = {2, -1, -1, 3}, k2[] = {5, -1, -1, 7};
  ASSERT_TRUE(g.attention_scores({q2, 3, 1}, {k2, 3, 1}, two, 1.f, scores.data()));
  EXPECT_EQ(scores[0], 10.f);
  EXPECT_EQ(scores[1], 21.f);
}

TEST(threads, team_uses_only_cores_other_tasks_leave_free) {
  // (requested, usable cores, online CPUs, runnable incl. this thread, own threads last call)
  EXPECT_EQ(threads_for_load(2, 2, 2, 1, 1), 2);  // idle
  EXPECT_EQ(threads_for_load(2, 2, 2, 2, 2), 2);  // idle, our previous worker still spinning
  EXPECT_EQ(threads_for_load(0, 2, 2, 1, 1), 2);  // 0 = all usable cores
  EXPECT_EQ(threads_for_load(2, 2, 2, 2, 1), 1);  // one other busy task: one CPU left
  EXPECT_EQ(threads_for_load(2, 2, 2, 4, 2), 1);  // two other busy tasks: never below 1
  EXPECT_EQ(threads_for_load(0, 8, 8, 3, 1), 6);
  EXPECT_EQ(threads_for_load(4, 8, 8, 3, 1), 4);  // never above the request
  EXPECT_EQ(threads_for_load(0, 4, 64, 30, 1),
            4);  // container: 4 of 64 host CPUs, host busy elsewhere
  EXPECT_EQ(threads_for_load(1, 8, 8, 1, 1), 1);
  EXPECT_EQ(threads_for_load(2, 0, 0, 1, 0), 1);  // nonsense inputs stay in range
}

TEST(threads, machine_state_gives_a_valid_team) {
  const auto runnable = runnable_tasks();
  ASSERT_TRUE(runnable.has_value());  // Linux: /proc/loadavg
  EXPECT_GE(*runnable, 1);            // this thread is running
  const int n = available_threads(2);
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 2);
  EXPECT_EQ(available_threads(1), 1);
}

TEST(scores, softmax_sigmoid_none_as_the_pipeline) {
  distilbert_config cfg;
  cfg.id2label = {"NEG", "NEU", "POS"};
  const float logits[] = {1, 3, 2};
  auto s = score_logits(logits, cfg, score_function::softmax);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].label, "NEU");
  EXPECT_NEAR(s[0].score, 0.6652409557748218, 1e-7);
  EXPECT_EQ(s[1].label, "POS");
  EXPECT_NEAR(s[1].score, 0.2447284710547976, 1e-7);
  EXPECT_NEAR(s[2].score, 0.09003057317038045, 1e-7);
  const float big[] = {-30, 0, 2};
  auto sig = score_logits(big, cfg, score_function::sigmoid);
  EXPECT_EQ(sig[0].label, "POS");
  EXPECT_NEAR(sig[0].score, 0.8807970779778823, 1e-7);
  EXPECT_NEAR(sig[2].score, 9.357622968839299e-14, 1e-19);
  auto none = score_logits(big, cfg, score_function::none);
  EXPECT_EQ(none[2].score, -30.f);
  const float huge[] = {1000, -1000, 0};
  auto stable = score_logits(huge, cfg, score_function::softmax);
  EXPECT_EQ(stable[0].score, 1.f);
  EXPECT_FALSE(std::isnan(stable[2].score));
}

TEST(scores, ties_keep_label_order) {
  distilbert_config cfg;
  cfg.id2label = {"A", "B", "C"};
  const float logits[] = {0.5f, 2, 2};
  auto s = score_logits(logits, cfg, score_function::none);
  EXPECT_EQ(s[0].label, "B");
  EXPECT_EQ(s[1].label, "C");
}
