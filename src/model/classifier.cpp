// classifier: folder loading, input checks, length-sorted batching, pipeline scores.
#include "safetensors/model/classifier.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>

#include "core/try.hpp"
#include "model/distilbert.hpp"
#include "model/threads.hpp"
#include "model/weights.hpp"

namespace safetensors::model {

struct classifier::impl {
  distilbert_config cfg;
  model::tokenizer tok;
  std::unique_ptr<detail::weight_source> source;
  detail::model_weights weights;
  std::unique_ptr<detail::distilbert_engine> engine;
  int threads = 0;
  bool threads_follow_load = true;
  std::size_t batch_size = 8;
  bool cls_only = true;
  model::precision precision = model::precision::fp32;
  model::precision compute = model::precision::fp32;  // what the GEMMs run in (see load)
  std::size_t forwards = 0;  // forward passes run so far (weights are packed before the second)
  bool packed = false;
  std::mutex mutex;  // one forward at a time: the engine reuses its activation buffers

  impl(distilbert_config c, model::tokenizer t) : cfg(std::move(c)), tok(std::move(t)) {}
};

classifier::classifier(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
classifier::classifier(classifier&&) noexcept = default;
classifier& classifier::operator=(classifier&&) noexcept = default;
classifier::~classifier() = default;

const distilbert_config& classifier::config() const noexcept { return impl_->cfg; }
const model::tokenizer& classifier::tokenizer() const noexcept { return impl_->tok; }
model::precision classifier::precision() const noexcept { return impl_->precision; }
model::precision classifier::compute_precision() const noexcept { return impl_->compute; }
void classifier::set_threads(int threads) { impl_->threads = threads; }
void classifier::set_batch_size(std::size_t batch_size) {
  impl_->batch_size = std::max<std::size_t>(1, batch_size);
}
const std::string& classifier::weights_source() const noexcept { return impl_->source->origin(); }
std::uint64_t classifier::weights_bytes_in_place() const noexcept {
  return impl_->weights.bytes_in_place;
}
std::uint64_t classifier::weights_bytes_converted() const noexcept {
  return impl_->weights.bytes_converted;
}

result<classifier> classifier::load(const std::filesystem::path& dir, const load_options& opts) {
  distilbert_config cfg = ST_TRY(load_config(dir / "config.json"));
  model::tokenizer tok = ST_TRY(model::tokenizer::load(dir));
  if (tok.vocab_size() > cfg.vocab_size)
    return fail(errc::invalid_model,
                fmt::format("{}: the tokenizer has {} tokens but config.json vocab_size is {}",
                            dir.string(), tok.vocab_size(), cfg.vocab_size));
  auto p = std::make_unique<impl>(std::move(cfg), std::move(tok));
  p->source = ST_TRY(detail::open_weight_source(dir));
  // bf16 where oneDNN has no BF16 matmul for this CPU (AVX2-only) computes in FP32: the same
  // results within bf16's bound, at fp32's speed; compute_precision() and --verbose say so.
  const model::precision compute =
      opts.precision == model::precision::bf16 && !detail::bf16_gemm_available()
          ? model::precision::fp32
          : opts.precision;
  const bool low = compute != model::precision::fp32;
  p->weights = ST_TRY(detail::bind_weights(*p->source, p->cfg, compute == model::precision::bf16));
  const auto gp = compute == model::precision::bf16   ? detail::gemm_precision::bf16
                  : compute == model::precision::int8 ? detail::gemm_precision::int8
                                                      : detail::gemm_precision::f32;
  p->engine = std::make_unique<detail::distilbert_engine>(p->cfg, p->weights, gp);
  p->precision = opts.precision;
  p->compute = compute;
  if (low) {
    // Every linear weight is converted (bf16) or quantized (int8) now, into the packed layout.
    detail::set_compute_threads(detail::requested_threads(opts.threads));
    ST_TRY(p->engine->prepack(false));
    p->packed = true;
  } else {
    p->engine->populate_mapped_weights();
  }
  p->threads = opts.threads;
  p->threads_follow_load = opts.threads_follow_load;
  p->batch_size = std::max<std::size_t>(1, opts.batch_size);
  p->cls_only = opts.cls_only_last_layer;
  return classifier(std::move(p));
}

namespace {

/// Most padded tokens (sequences x longest) one forward pass takes (see logits()).
constexpr std::size_t forward_token_budget = 1024;

// `index` is 0-based; messages count inputs from 1 as the CLI does.
result<void> check_input(const encoding& e, std::size_t index, const distilbert_config& cfg) {
  if (e.ids.empty())
    return fail(errc::invalid_argument, fmt::format("input {}: no tokens", index + 1));
  if (e.ids.size() > cfg.max_position_embeddings)
    return fail(errc::invalid_argument,
                fmt::format("input {}: {} tokens; the model accepts at most {} "
                            "(max_position_embeddings): enable truncation",
                            index + 1, e.ids.size(), cfg.max_position_embeddings));
  for (auto id : e.ids)
    if (id < 0 || static_cast<std::size_t>(id) >= cfg.vocab_size)
      return fail(errc::invalid_argument, fmt::format("input {}: token id {} is outside the "
                                                      "vocabulary (vocab_size {})",
                                                      index + 1, id, cfg.vocab_size));
  return {};
}

}  // namespace

result<std::vector<std::vector<float>>> classifier::logits(std::span<const encoding> batch) const {
  for (std::size_t i = 0; i < batch.size(); ++i) ST_TRY(check_input(batch[i], i, impl_->cfg));
  std::vector<std::size_t> order(batch.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return batch[a].ids.size() < batch[b].ids.size();
  });
  const std::size_t labels = impl_->cfg.num_labels();
  std::vector<std::vector<float>> out(batch.size());
  std::lock_guard lock(impl_->mutex);
  detail::set_compute_threads(impl_->threads_follow_load
                                  ? detail::available_threads(impl_->threads)
                                  : detail::requested_threads(impl_->threads));
  for (std::size_t start = 0, end = 0; start < order.size(); start = end) {
    // Up to batch_size sequences, while the padded batch (count x longest; sorted, so the last
    // one is the longest) stays within forward_token_budget: on a CPU larger batches of long
    // inputs run slower per sequence (activations and attention scores fall out of the caches).
    end = start + 1;
    while (end < order.size() && end - start < impl_->batch_size &&
           (end - start + 1) * batch[order[end]].ids.size() <= forward_token_budget)
      ++end;
    std::vector<std::span<const std::int32_t>> seqs;
    for (std::size_t i = start; i < end; ++i) seqs.emplace_back(batch[order[i]].ids);
    // Packing the weights (docs/MODEL.md) pays off from the second forward pass on; a process
    // that classifies once (the CLI) skips its cost: ~170 MB of fresh memory for DistilBERT-base.
    if (!impl_->packed && impl_->forwards > 0) {
      ST_TRY(impl_->engine->prepack(true));
      impl_->packed = true;
    }
    ++impl_->forwards;
    const std::vector<float> flat = ST_TRY(impl_->engine->forward(seqs, impl_->cls_only));
    for (std::size_t i = start; i < end; ++i) {
      const float* row = flat.data() + (i - start) * labels;
      out[order[i]].assign(row, row + labels);
    }
  }
  return out;
}

result<std::vector<std::vector<label_score>>> classifier::classify(
    std::span<const std::string> texts, const encode_options& opts,
    std::optional<score_function> fn) const {
  encode_options o = opts;
  if (o.truncate && o.max_length == 0)  // never longer than the position table
    o.max_length = std::min(impl_->tok.model_max_length(), impl_->cfg.max_position_embeddings);
  std::vector<encoding> encoded;
  encoded.reserve(texts.size());
  for (const auto& t : texts) encoded.push_back(ST_TRY(impl_->tok.encode(t, o)));
  const std::vector<std::vector<float>> raw = ST_TRY(logits(encoded));
  const score_function f = fn.value_or(impl_->cfg.default_function());
  std::vector<std::vector<label_score>> out;
  out.reserve(raw.size());
  for (const auto& row : raw) out.push_back(score_logits(row, impl_->cfg, f));
  return out;
}

}  // namespace safetensors::model
