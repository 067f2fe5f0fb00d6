// DistilBertForSequenceClassification from a Hugging Face model folder (docs/MODEL.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
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
  std::vector<std::string> id2label;            ///< index = class id; LABEL_i when absent
  std::map<std::string, std::size_t> label2id;  ///< as stored; inverse of id2label when absent
  std::string problem_type;  ///< "", "regression", "single_label_classification", ...
  /// The transformers pipeline's choice for these settings (docs/MODEL.md "Scores").
  score_function default_function() const noexcept;
  std::size_t num_labels() const noexcept { return id2label.size(); }
};
/// Parses and checks config.json (unknown model_type, dim % n_heads, missing labels...).
/// Errors: io (unreadable file), invalid_model (bad JSON or a bad field, named in the message).
result<distilbert_config> load_config(const std::filesystem::path& config_json);
/// Same, from the text of a config.json (`origin` names it in messages).
result<distilbert_config> parse_config(std::string_view json,
                                       std::string_view origin = "config.json");

/// What the linear layers (and in bf16 the attention GEMMs) compute in; docs/MODEL.md
/// "Precision". fp32: everything FP32. bf16: BF16 operands, FP32 accumulation. int8: torch
/// quantize_dynamic's scheme (int8 weights per output channel, u8 activations per call).
enum class precision { fp32, bf16, int8 };
/// "fp32", "bf16", "int8"; parse_precision is the inverse (nullopt for anything else).
std::string_view precision_name(precision p) noexcept;
std::optional<precision> parse_precision(std::string_view name) noexcept;

/// What the forward pass runs on: the CPU ("model name" of /proc/cpuinfo, "unknown" elsewhere)
/// and the instruction set oneDNN's kernels use on it ("avx512_core_bf16", "avx2", ...).
struct compute_info {
  std::string cpu_model;
  std::string isa;
};
compute_info describe_compute();

struct load_options {
  /// fp32 reads F32 weights in place; bf16 and int8 convert or quantize them at load (a BF16
  /// checkpoint stays BF16 in bf16 mode: its weights are never widened).
  model::precision precision = model::precision::fp32;
  /// Threads of a forward pass (0: all cores). With threads_follow_load, an upper bound: each
  /// call runs on at most the CPUs that other runnable tasks leave free at that moment
  /// (/proc/loadavg): an OpenMP team with a descheduled thread stalls at every barrier, so
  /// fewer threads beat oversubscription.
  int threads = 0;
  /// Off: always `threads` (a dedicated server, whose own connection threads would otherwise
  /// count as load and halve its team).
  bool threads_follow_load = true;
  std::size_t batch_size = 8;  ///< most sequences per forward pass in logits()/classify()
  /// Compute only the [CLS] row through the last layer's attention output and FFN (exact:
  /// nothing else reaches the head). Off only for tests of the full path.
  bool cls_only_last_layer = true;
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
  model::precision precision() const noexcept;  ///< as loaded
  /// What the GEMMs run in: precision(), except bf16 on a CPU where oneDNN has no BF16 matmul
  /// (AVX2-only), which computes in fp32.
  model::precision compute_precision() const noexcept;
  void set_threads(int threads);                ///< as load_options::threads
  void set_batch_size(std::size_t batch_size);  ///< 0 is treated as 1
  /// Where the weights came from: "model.safetensors", "model.safetensors.index.json" or
  /// "pytorch_model.bin"; and the bytes of weight data used in place vs converted at load.
  const std::string& weights_source() const noexcept;
  std::uint64_t weights_bytes_in_place() const noexcept;
  std::uint64_t weights_bytes_converted() const noexcept;

  /// Logits [batch][num_labels] for already-encoded inputs, in input order. Inputs are sorted
  /// by length and run batch_size at a time, each batch right-padded to its longest. Each
  /// encoding must be non-empty, at most max_position_embeddings long, with ids < vocab_size
  /// (invalid_argument otherwise). Thread-safe (forwards are serialized).
  result<std::vector<std::vector<float>>> logits(std::span<const encoding> batch) const;
  /// Tokenize (truncating as `opts` says) + logits + scores, all labels sorted by score desc.
  result<std::vector<std::vector<label_score>>> classify(
      std::span<const std::string> texts, const encode_options& opts = {},
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
