// DistilBertForSequenceClassification from a Hugging Face model folder (docs/MODEL.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "safetensors/error.hpp"
#include "safetensors/model/tokenizer.hpp"

namespace safetensors::model {

enum class score_function { softmax, sigmoid, none };

struct distilbert_config {
  std::string model_type = "distilbert";
  std::string architecture;  ///< architectures[0]
  std::size_t vocab_size = 30522, dim = 768, n_heads = 12, n_layers = 6, hidden_dim = 3072;
  std::size_t max_position_embeddings = 512;
  std::string activation = "gelu";
  std::vector<std::string> id2label;  ///< index = class id; LABEL_i when absent
  std::string problem_type;           ///< "", "regression", "single_label_classification", ...
  /// The transformers pipeline's choice for these settings (section 6 of reference/distilbert.md).
  score_function default_function() const noexcept;
  std::size_t num_labels() const noexcept { return id2label.size(); }
};
/// Parses and checks config.json (unknown model_type, dim % n_heads, missing labels...).
result<distilbert_config> load_config(const std::filesystem::path& config_json);

struct load_options {
  int threads = 0;  ///< 0: all cores
};

struct label_score {
  std::string label;
  float score;
};

class classifier {
 public:
  /// Loads config.json, the tokenizer, and the weights from model.safetensors, a sharded
  /// safetensors index, or pytorch_model.bin (through the safe converter, in memory).
  static result<classifier> load(const std::filesystem::path& dir, const load_options& opts = {});
  classifier(classifier&&) noexcept;
  classifier& operator=(classifier&&) noexcept;
  ~classifier();

  const distilbert_config& config() const noexcept;
  const model::tokenizer& tokenizer() const noexcept;
  void set_threads(int threads);

  /// Logits [batch][num_labels] for already-encoded inputs (padded internally to the longest;
  /// each encoding must be non-empty and at most max_position_embeddings long).
  result<std::vector<std::vector<float>>> logits(std::span<const encoding> batch) const;
  /// Tokenize (truncating as `opts` says) + logits + scores, all labels sorted by score desc.
  result<std::vector<std::vector<label_score>>> classify(std::span<const std::string> texts,
                                                         const encode_options& opts = {},
                                                         std::optional<score_function> fn = {}) const;

 private:
  struct impl;
  explicit classifier(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Scores from logits with the pipeline's numerics (max-shifted softmax, stable sigmoid),
/// sorted by score descending (ties keep label order).
std::vector<label_score> score_logits(std::span<const float> logits, const distilbert_config& cfg,
                                      score_function fn);

}  // namespace safetensors::model
