// The DistilBERT encoder + classification head forward pass (private), exactly
// the eval-mode forward of docs/MODEL.md "Forward pass".
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <vector>

#include "model/gemm.hpp"
#include "model/weights.hpp"

namespace safetensors::model::detail {

class distilbert_engine {
 public:
  /// `cfg` and `w` must outlive the engine (the classifier owns all three). `precision`: the
  /// type the linear layers compute in once packed (bf16 also runs the attention GEMMs in
  /// BF16, and so does int8 where the CPU has native BF16 dot products); anything but f32
  /// needs prepack(false) before the first forward.
  distilbert_engine(const distilbert_config& cfg, const model_weights& w,
                    gemm_precision precision = gemm_precision::f32);

  /// Re-lays out the linear weights once into oneDNN's blocked layout (q, k and v joined into
  /// one GEMM) so that forwards stop re-packing them on every call, converted to BF16 or
  /// quantized to int8 as the engine's precision says. With `only_file_mapped`,
  /// only layers whose weights all lie in the checkpoint's file mapping are packed, and their
  /// mapped pages are dropped right after (the packed copy replaces them in memory: peak RSS
  /// stays near the file size); other layers keep reading their weights in place.
  result<void> prepack(bool only_file_mapped);

  /// Maps in one call per tensor the pages of every linear weight that lies in the file mapping
  /// (cheaper than the page faults of a first forward pass; the embedding tables stay lazy).
  void populate_mapped_weights() const noexcept;

  /// Logits [batch * num_labels] for sequences of valid token ids (non-empty, at most
  /// max_position_embeddings long, ids < vocab_size: the caller checks). Right-pads to the
  /// longest; padded keys are masked. `cls_only_last_layer`: the last layer computes queries,
  /// attention output and FFN for position 0 only (only [CLS] reaches the head).
  result<std::vector<float>> forward(std::span<const std::span<const std::int32_t>> seqs,
                                     bool cls_only_last_layer);

 private:
  // A layer's GEMM operands: packed copies after prepack(), else the bound weights.
  struct layer_norms {
    const float *sa_gamma, *sa_beta, *out_gamma, *out_beta;
  };
  struct layer_ops {
    layer_norms norms;   // the checkpoint's vectors, or engine-owned copies once packed
    linear_weights qkv;  // out = 3 * dim when q|k|v are packed into one GEMM, else out = 0
    linear_weights kv;   // the packed last layer: k|v joined (out = 2 * dim), q on its own
    linear_weights q, k, v, out, lin1, lin2;
  };

  result<void> layer(const layer_ops& lw, std::span<const std::span<const std::int32_t>> seqs,
                     std::size_t len, bool cls_only);
  result<void> attention(std::span<const std::span<const std::int32_t>> seqs, std::size_t len,
                         bool cls_only, head_view q, head_view k, head_view v);
  // Copies each sequence's [CLS] row of h_ into the dense [batch, dim] block cls_.
  matrix_ref gather_cls(std::size_t batch, std::size_t len);
  result<std::vector<float>> head(std::size_t batch);  // reads cls_

  // An engine-owned copy of a LayerNorm vector of `cfg_.dim` floats.
  const float* owned_copy(const float* v);

  const distilbert_config& cfg_;
  const model_weights& w_;
  const float *emb_gamma_, *emb_beta_;  // as layer_norms
  std::list<std::vector<float>> owned_norms_;
  std::vector<layer_ops> ops_;
  linear_weights pre_classifier_, classifier_;
  activation_kind act_;
  weight_type packed_type_;
  gemm_engine gemm_;
  // Activations, reused across calls (grown on demand).
  std::vector<float> h_, qkv_, q_cls_, cls_, scores_, ctx_, ffn_, pooled_;
};

}  // namespace safetensors::model::detail
