// The inference backend the HTTP server drives: a tokenizer plus a batched classifier. The real
// one wraps safetensors::model::classifier; tests inject slow or failing fakes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/error.hpp"
#include "safetensors/model/classifier.hpp"
#include "safetensors/model/tokenizer.hpp"

namespace safetensors::server {

/// What the server needs to know about the model (GET /info, validation limits).
struct backend_info {
  std::string model_id;  ///< shown as model_id in /info (the model folder)
  std::string model_dtype = "float32";
  std::string precision = "fp32";  ///< model::precision_name of the loaded classifier
  std::string cpu_model, isa;      ///< model::describe_compute() at load
  std::string compute_precision =
      "fp32";                          ///< what the GEMMs run in (classifier::compute_precision)
  std::vector<std::string> id2label;   ///< index = class id
  std::size_t max_input_length = 512;  ///< tokens, special tokens included
  model::score_function default_function = model::score_function::softmax;
};

/// A tokenizer + classifier pair. encode/decode/scores may be called from many connection threads
/// at once; logits is only ever called from the server's single inference thread.
class inference_backend {
 public:
  virtual ~inference_backend() = default;
  virtual const backend_info& info() const noexcept = 0;
  /// Encodes a single text (second empty) or a pair, truncating as `opts` says.
  virtual result<model::encoding> encode(std::string_view first,
                                         std::optional<std::string_view> second,
                                         const model::encode_options& opts) const = 0;
  /// Decodes ids to text; ids the vocabulary does not hold are skipped, as Hugging Face
  /// tokenizers' decode does (so TEI's /decode answers 200 for them).
  virtual result<std::string> decode(std::span<const std::int32_t> ids,
                                     bool skip_special_tokens) const = 0;
  /// Logits [batch][num_labels] for a batch of encodings (padded internally).
  virtual result<std::vector<std::vector<float>>> logits(
      std::span<const model::encoding> batch) = 0;
  /// Scores for one row of logits, all labels sorted by score descending.
  virtual std::vector<model::label_score> scores(std::span<const float> logits,
                                                 model::score_function fn) const = 0;
};

/// Loads a model folder (config.json, tokenizer, weights) with safetensors::model::classifier.
/// `threads` = 0 uses every core; `precision` as model::load_options::precision.
result<std::unique_ptr<inference_backend>> load_classifier_backend(
    const std::filesystem::path& dir, int threads = 0,
    model::precision precision = model::precision::fp32);

}  // namespace safetensors::server
