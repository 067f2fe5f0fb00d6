// The DistilBERT encoder + classification head forward pass (private), exactly
// reference/distilbert.md section 3 in eval mode.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/gemm.hpp"
#include "model/weights.hpp"

namespace safetensors::model::detail {

class distilbert_engine {
 public:
  /// `cfg` and `w` must outlive the engine (the classifier owns all three).
  distilbert_engine(const distilbert_config& cfg, const model_weights& w);

  /// Logits [batch * num_labels] for sequences of valid token ids (non-empty, at most
  /// max_position_embeddings long, ids < vocab_size: the caller checks). Right-pads to the
  /// longest; padded keys are masked. `cls_only_last_layer`: the last layer computes queries,
  /// attention output and FFN for position 0 only (only [CLS] reaches the head).
  result<std::vector<float>> forward(std::span<const std::span<const std::int32_t>> seqs,
                                     bool cls_only_last_layer);

 private:
  result<void> layer(const layer_weights& lw, std::span<const std::span<const std::int32_t>> seqs,
                     std::size_t len, bool cls_only);
  result<void> attention(std::span<const std::span<const std::int32_t>> seqs, std::size_t len,
                         bool cls_only);
  result<std::vector<float>> head(std::size_t batch, std::size_t len);

  const distilbert_config& cfg_;
  const model_weights& w_;
  activation_kind act_;
  gemm_engine gemm_;
  // Activations, reused across calls (grown on demand).
  std::vector<float> h_, qkv_, q_cls_, scores_, ctx_, ffn_, pooled_;
};

}  // namespace safetensors::model::detail
