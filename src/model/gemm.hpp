// The one matrix-multiply interface of the model layer (private). Every GEMM of the DistilBERT
// forward goes through `gemm_engine`, implemented with oneDNN matmul primitives cached per
// shape. Weights in torch's nn.Linear layout [out, in] are read in place as the transposed B
// operand, or re-laid out once (`pack`) into oneDNN's blocked layout so that no call re-packs
// them; `weight_type` is where bf16/int8 weights would plug in.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "safetensors/error.hpp"

namespace safetensors::model::detail {

/// Element-wise function applied to a GEMM result (after the bias), fused into the primitive.
enum class activation_kind {
  identity,
  relu,
  gelu_erf,    ///< x * 0.5 * (1 + erf(x / sqrt 2)): torch's default GELU
  gelu_tanh,   ///< 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  silu,        ///< x * sigmoid(x)
  quick_gelu,  ///< x * sigmoid(1.702 x)
  sigmoid,
  tanh,
  mish,  ///< x * tanh(softplus(x))
};

/// Storage of a linear layer's weight matrix: f32 [out, in] row-major, or f32 in the blocked
/// layout `gemm_engine::pack` made (owned by that engine, only valid with it).
enum class weight_type { f32, f32_packed };

/// One nn.Linear: weight [out, in] row-major (borrowed), bias [out] or null. `file_mapped`: the
/// weight bytes lie in a read-only file mapping (their pages may be dropped once packed).
struct linear_weights {
  const void* weight = nullptr;
  const float* bias = nullptr;
  std::size_t out = 0, in = 0;
  weight_type type = weight_type::f32;
  bool file_mapped = false;
};

/// Strided rows of a float matrix: element (r, c) at data[r * ld + c].
struct matrix_ref {
  float* data;
  std::size_t rows, ld;
};
struct const_matrix_ref {
  const float* data;
  std::size_t rows, ld;
};

/// Per-sequence attention operand: element (b, i, h, d) at
/// data[b * batch_stride + i * row_stride + h * head_dim + d].
struct head_view {
  const float* data;
  std::size_t batch_stride, row_stride;
};

struct attention_shape {
  std::size_t batch, heads, head_dim, q_len, k_len;
};

class gemm_engine {
 public:
  /// Every (batch, length) shape needs its own primitives and a server sees many: past
  /// `max_cached` entries the cache starts over (re-creation is then mostly served by oneDNN's
  /// own LRU primitive cache, 1024 entries by default, instead of a new JIT compilation).
  static constexpr std::size_t max_cached_primitives = 512;
  explicit gemm_engine(std::size_t max_cached = max_cached_primitives);
  ~gemm_engine();
  gemm_engine(gemm_engine&&) noexcept;
  gemm_engine& operator=(gemm_engine&&) noexcept;

  /// One linear layer whose weight is the row concatenation of `parts` (all f32 with the same
  /// `in`; biases all present or all absent), re-laid out once into the blocked layout oneDNN
  /// prefers for it. The copy (and the concatenated bias) is owned by this engine; the parts
  /// are no longer read by linear() calls with the result.
  result<linear_weights> pack(std::span<const linear_weights> parts);
  /// Frees the buffer pack() joins parts in (kept between calls so that packing layer after
  /// layer touches fresh memory once).
  void end_packing() noexcept;

  /// y = act(x · Wᵀ + b), or with `accumulate` y = act(x · Wᵀ + b) + y (residual add, the sum
  /// post-op: act applies before the sum). x has w.in columns, y has w.out columns.
  result<void> linear(const_matrix_ref x, const linear_weights& w, matrix_ref y,
                      activation_kind act = activation_kind::identity, bool accumulate = false);

  /// scores[b, h, i, j] = scale · Σ_d q(b, i, h, d) · k(b, j, h, d); scores is dense
  /// [batch, heads, q_len, k_len].
  result<void> attention_scores(head_view q, head_view k, const attention_shape& s, float scale,
                                float* scores);
  /// ctx(b, i, h, d) = Σ_j probs[b, h, i, j] · v(b, j, h, d); ctx written with its strides.
  result<void> attention_context(const float* probs, head_view v, const attention_shape& s,
                                 float* ctx, std::size_t ctx_batch_stride,
                                 std::size_t ctx_row_stride);

  /// Number of cached primitives (tests).
  std::size_t cached_primitives() const noexcept;
  /// Bytes of packed weight copies this engine owns.
  std::size_t packed_bytes() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Threads for every parallel region started from the calling thread (oneDNN and our kernels
/// share Debian oneDNN's OpenMP runtime). 0 = all cores.
void set_compute_threads(int threads);

}  // namespace safetensors::model::detail
