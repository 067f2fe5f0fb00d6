// The one matrix-multiply interface of the model layer (private). Every GEMM of the DistilBERT
// forward goes through `gemm_engine`, implemented with oneDNN matmul primitives cached per
// shape. Weights in torch's nn.Linear layout [out, in] are read in place as the transposed B
// operand, or re-laid out once (`pack`) into oneDNN's blocked layout so that no call re-packs
// them. Low precision (docs/MODEL.md "Precision"): packing converts to BF16, or quantizes to
// int8 with per-output-channel scales; linear() then converts or quantizes each call's
// activations to match, always accumulating in FP32 (BF16) or int32 (int8).
#pragma once

#include <cstddef>
#include <cstdint>
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

/// Storage of a linear layer's weight matrix: f32 or bf16 [out, in] row-major, or in the
/// blocked layout `gemm_engine::pack` made (owned by that engine, only valid with it): f32,
/// bf16, or s8 with per-output-channel scales (symmetric, as torch's per-channel qint8).
enum class weight_type { f32, f32_packed, bf16, bf16_packed, s8_packed };

/// What the model's GEMMs compute in (load option `precision`, docs/MODEL.md "Precision").
enum class gemm_precision { f32, bf16, int8 };

/// Largest u8 value linear() quantizes activations to for s8_packed weights: 255 where the CPU
/// has VNNI (u8 x s8 products summed in 32 bits), else 127 (oneDNN's pre-VNNI kernels sum
/// pairs of products in saturating 16 bits: 7-bit activations keep them exact, as fbgemm's
/// reduce_range does).
int int8_activation_max();

/// Whether oneDNN's kernels may use native BF16 dot products on this CPU (AVX512-BF16 or AMX):
/// elsewhere BF16 GEMMs are correct but emulated or reference code.
bool native_bf16();

/// Whether oneDNN builds a BF16 x BF16 -> F32 matmul on this CPU (oneDNN 2.6: AVX-512 and up;
/// not on AVX2-only CPUs, where bf16 precision computes in FP32 instead). Asked once.
bool bf16_gemm_available();

/// The oneDNN CPU ISA in effect ("avx512_core_bf16", "avx2", ...; dnnl_get_effective_cpu_isa).
const char* effective_isa_name() noexcept;

/// One nn.Linear: weight [out, in] row-major (borrowed), bias [out] or null. `file_mapped`: the
/// weight bytes lie in a read-only file mapping (their pages may be dropped once packed).
struct linear_weights {
  const void* weight = nullptr;
  const float* bias = nullptr;
  std::size_t out = 0, in = 0;
  weight_type type = weight_type::f32;
  bool file_mapped = false;
  /// s8_packed only: per-output-channel dequantization scales and Σ_k w_q[n][k] (the zero-point
  /// compensation of u8 activations), both [out], owned by the engine.
  const float* scales = nullptr;
  const std::int32_t* col_sums = nullptr;
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
/// data[b * batch_stride + i * row_stride + h * head_dim + d] (f32).
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
  /// `attention_bf16`: the attention score and context GEMMs take BF16 operands (converted per
  /// call) with FP32 accumulation and results.
  explicit gemm_engine(std::size_t max_cached = max_cached_primitives, bool attention_bf16 = false);
  ~gemm_engine();
  gemm_engine(gemm_engine&&) noexcept;
  gemm_engine& operator=(gemm_engine&&) noexcept;

  /// One linear layer whose weight is the row concatenation of `parts` (all f32 or all bf16,
  /// with the same `in`; biases all present or all absent), re-laid out once into the blocked
  /// layout oneDNN prefers for it, as `to` (f32_packed, bf16_packed or s8_packed). The copy (and
  /// a copy of the biases, the scales) is owned by this engine; the parts are no longer read by
  /// linear() calls with the result. Parts that are `file_mapped` are read piece by piece, each
  /// piece's pages dropped from memory once converted (release_mapped_pages).
  result<linear_weights> pack(std::span<const linear_weights> parts,
                              weight_type to = weight_type::f32_packed);
  /// Frees the buffer pack() joins parts in (kept between calls so that packing layer after
  /// layer touches fresh memory once).
  void end_packing() noexcept;

  /// y = act(x · Wᵀ + b), or with `accumulate` y = act(x · Wᵀ + b) + y (residual add, the sum
  /// post-op: act applies before the sum). x has w.in columns, y has w.out columns. With
  /// bf16_packed weights x is rounded to BF16 first; with s8_packed weights x is quantized to u8
  /// with one scale and zero point over the call's rows (torch's dynamic quantization), the
  /// product accumulates in int32 and is dequantized in FP32 before bias, act and sum.
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

  /// Whether the attention GEMMs convert their operands to BF16 (copies with dense strides:
  /// operands with any row stride cost the same).
  bool attention_bf16() const noexcept;

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
