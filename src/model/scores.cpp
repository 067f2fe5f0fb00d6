// Pipeline scores from logits (transformers text_classification.py postprocess).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "safetensors/model/classifier.hpp"

namespace safetensors::model {

std::vector<label_score> score_logits(std::span<const float> logits, const distilbert_config& cfg,
                                      score_function fn) {
  std::vector<float> scores(logits.begin(), logits.end());
  if (fn == score_function::softmax && !scores.empty()) {
    const float mx = *std::max_element(scores.begin(), scores.end());
    float sum = 0.f;
    for (auto& s : scores) sum += (s = std::exp(s - mx));
    for (auto& s : scores) s /= sum;
  } else if (fn == score_function::sigmoid) {
    for (auto& s : scores)
      s = s >= 0.f ? 1.f / (1.f + std::exp(-s)) : std::exp(s) / (1.f + std::exp(s));
  }
  std::vector<label_score> out;
  out.reserve(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i)
    out.push_back(
        {i < cfg.id2label.size() ? cfg.id2label[i] : fmt::format("LABEL_{}", i), scores[i]});
  std::stable_sort(out.begin(), out.end(),
                   [](const label_score& a, const label_score& b) { return a.score > b.score; });
  return out;
}

}  // namespace safetensors::model
