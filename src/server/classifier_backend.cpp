// The production backend: safetensors::model::classifier and its tokenizer.
#include "core/try.hpp"
#include "safetensors/server/backend.hpp"

namespace safetensors::server {
namespace {

class classifier_backend final : public inference_backend {
 public:
  classifier_backend(model::classifier c, backend_info info)
      : classifier_(std::move(c)), info_(std::move(info)) {}

  const backend_info& info() const noexcept override { return info_; }

  result<model::encoding> encode(std::string_view first, std::optional<std::string_view> second,
                                 const model::encode_options& opts) const override {
    const auto& tok = classifier_.tokenizer();
    return second ? tok.encode_pair(first, *second, opts) : tok.encode(first, opts);
  }

  result<std::string> decode(std::span<const std::int32_t> ids,
                             bool skip_special_tokens) const override {
    const auto& tok = classifier_.tokenizer();
    std::vector<std::int32_t> known;
    known.reserve(ids.size());
    for (const std::int32_t id : ids) {
      if (tok.id_to_token(id)) known.push_back(id);
    }
    return tok.decode(known, skip_special_tokens);
  }

  result<std::vector<std::vector<float>>> logits(std::span<const model::encoding> batch) override {
    return classifier_.logits(batch);
  }

  std::vector<model::label_score> scores(std::span<const float> logits,
                                         model::score_function fn) const override {
    return model::score_logits(logits, classifier_.config(), fn);
  }

 private:
  model::classifier classifier_;
  backend_info info_;
};

}  // namespace

result<std::unique_ptr<inference_backend>> load_classifier_backend(const std::filesystem::path& dir,
                                                                   int threads,
                                                                   model::precision precision) {
  model::load_options opts;
  opts.threads = threads;
  opts.precision = precision;
  opts.threads_follow_load = false;  // our connection threads are runnable while a batch starts
  model::classifier c = ST_TRY(model::classifier::load(dir, opts));
  backend_info info;
  const auto& cfg = c.config();
  info.model_id = dir.string();
  info.id2label = cfg.id2label;
  info.max_input_length = std::min(cfg.max_position_embeddings, c.tokenizer().model_max_length());
  info.default_function = cfg.default_function();
  info.precision = std::string(model::precision_name(precision));
  info.model_dtype = precision == model::precision::bf16   ? "bfloat16"
                     : precision == model::precision::int8 ? "int8"
                                                           : "float32";
  const model::compute_info compute = model::describe_compute();
  info.cpu_model = compute.cpu_model;
  info.isa = compute.isa;
  info.compute_precision = std::string(model::precision_name(c.compute_precision()));
  return std::unique_ptr<inference_backend>(
      std::make_unique<classifier_backend>(std::move(c), std::move(info)));
}

}  // namespace safetensors::server
