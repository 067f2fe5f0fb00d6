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

/// out[i] = word[ids[i]] + pos[i] for i < ids.size(), zeros for the remaining rows up to
/// `padded_len` (padding rows never reach a result: their keys are masked).
void embed_sequence(std::span<const std::int32_t> ids, const float* word, const float* pos,
                    std::size_t dim, std::size_t padded_len, float* out);

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
