// Element-wise and row kernels of the DistilBERT forward (private): LayerNorm, masked softmax,
// embeddings, and scalar reference activations. Rows are independent, so each kernel
// parallelizes over rows with OpenMP (the runtime oneDNN uses).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "model/gemm.hpp"

namespace safetensors::model::detail {

/// In place over `rows` rows of `dim` floats spaced `ld` apart: torch nn.LayerNorm
/// ((x - mean) / sqrt(biased var + eps) * gamma + beta).
void layer_norm(float* x, std::size_t rows, std::size_t ld, std::size_t dim, const float* gamma,
                const float* beta, float eps);

/// In place over `rows` rows of `cols` floats: softmax over the first `valid` entries (the
/// unmasked keys), exact zeros after them. Equivalent to masked_fill(finfo.min) + softmax.
void masked_softmax(float* x, std::size_t rows, std::size_t cols, std::size_t valid);

/// exp(x) for x <= 0 with a vectorizable polynomial (relative error < 2e-7); 0 below -87.
float fast_exp_nonpositive(float x) noexcept;

/// An embedding table: f32 rows, or bf16 rows (a BF16 checkpoint in bf16 mode) widened to f32
/// as they are looked up.
struct table_ref {
  const void* data = nullptr;
  bool bf16 = false;
};

/// out[i] = word[ids[i]] + pos[i] for i < ids.size() (in f32), zeros for the remaining rows up
/// to `padded_len` (padding rows never reach a result: their keys are masked).
void embed_sequence(std::span<const std::int32_t> ids, table_ref word, table_ref pos,
                    std::size_t dim, std::size_t padded_len, float* out);

/// IEEE f32 -> bf16 with round to nearest even (NaN stays NaN), and back.
std::uint16_t to_bf16(float x) noexcept;
float from_bf16(std::uint16_t x) noexcept;
/// out[r * cols + c] = to_bf16(x[r * ld + c]): a dense bf16 copy of strided rows.
void rows_to_bf16(const float* x, std::size_t rows, std::size_t ld, std::size_t cols,
                  std::uint16_t* out);

/// An affine u8 quantization: real = scale * (q - zero_point).
struct u8_quantization {
  float scale;
  std::int32_t zero_point;
};
/// Quantizes strided rows into a dense u8 [rows, cols] block with one scale and zero point over
/// all of them, as torch's dynamic quantization does: the range [min(0, min x), max(0, max x)]
/// mapped onto [0, qmax] (0 exactly representable), q = clamp(round(x / scale) + zero_point).
/// qmax is 255, or 127 where the u8 x s8 products must not saturate 16-bit pair sums (CPUs
/// without VNNI).
u8_quantization quantize_rows_u8(const float* x, std::size_t rows, std::size_t ld, std::size_t cols,
                                 int qmax, std::uint8_t* out);

/// Quantizes each row of a dense [rows, cols] matrix on its own, symmetric, as torch's
/// per-channel qint8: scales[r] = max |x| / 127 (1 for an all-zero or non-finite row),
/// q = nearbyint(x / scale) clamped to [-127, 127], sums[r] = the row's sum of q.
void quantize_rows_s8(const float* x, std::size_t rows, std::size_t cols, std::int8_t* out,
                      float* scales, std::int32_t* sums);

/// out[i] = from_bf16(x[i]) for i < n.
void bf16_to_f32(const std::uint16_t* x, std::size_t n, float* out);

/// Splits rows of `parts * width` floats into `parts` dense [rows, width] blocks, one after the
/// other in `out` (block p, row r at out[(p * rows + r) * width]).
void split_columns(const float* in, std::size_t rows, std::size_t width, std::size_t parts,
                   float* out);

/// transformers ACT2FN key -> activation ("gelu" is the exact erf form; "gelu_new",
/// "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate" the tanh form); nullopt when unknown.
std::optional<activation_kind> activation_from_name(std::string_view name) noexcept;

/// Scalar reference of each activation (tests, and the definition the fused GEMM
/// post-ops must match).
float activation_reference(activation_kind act, float x) noexcept;

}  // namespace safetensors::model::detail
