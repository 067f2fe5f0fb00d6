// Binding a checkpoint's tensors to the DistilBERT layout (docs/MODEL.md "Weights").
#include "model/weights.hpp"

#include <fmt/format.h>

#include <cstring>
#include <unordered_map>

#include "core/try.hpp"

namespace safetensors::model::detail {
namespace {

std::string shape_text(std::span<const std::uint64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

struct binder {
  const weight_source& src;
  const distilbert_config& cfg;
  model_weights& out;
  bool keep_bf16 = false;

  // The first candidate name the checkpoint holds; the error lists what was tried.
  result<std::string> resolve(const std::vector<std::string>& candidates) const {
    for (const auto& c : candidates)
      if (src.contains(c)) return c;
    return fail(
        errc::invalid_model,
        fmt::format("{}: tensor '{}' not found (also tried '{}')", src.origin(), candidates.front(),
                    fmt::join(candidates.begin() + 1, candidates.end(), "', '")));
  }

  bool last_file_mapped = false;  // whether the last tensor() result points into a file mapping

  result<const float*> tensor(const std::vector<std::string>& candidates,
                              std::vector<std::uint64_t> expected) {
    auto [name, raw] = ST_TRY(fetch(candidates, std::move(expected)));
    return as_f32(name, raw);
  }

  result<std::pair<std::string, raw_tensor>> fetch(const std::vector<std::string>& candidates,
                                                   std::vector<std::uint64_t> expected) {
    last_file_mapped = false;
    std::string name = ST_TRY(resolve(candidates));
    raw_tensor raw = ST_TRY(src.get(name));
    if (raw.shape != expected)
      return fail(errc::invalid_model,
                  fmt::format("{}: tensor '{}' has shape {}, the config implies {}", src.origin(),
                              name, shape_text(raw.shape), shape_text(expected)));
    // Embedding rows are read a few at a time and packed weights are dropped after packing:
    // 2 MiB mappings would bring back far more than what is read (mapped_pages.hpp).
    if (raw.file_mapped) map_with_small_pages(raw.bytes.data(), raw.bytes.size());
    return std::pair{std::move(name), std::move(raw)};
  }

  // A weight matrix or embedding table: F32 (as tensor()), or with keep_bf16 a 16-bit float
  // tensor as BF16 (BF16 in place when aligned, F16 converted to BF16).
  result<std::pair<const void*, bool>> matrix(const std::vector<std::string>& candidates,
                                              std::vector<std::uint64_t> expected) {
    auto [name, raw] = ST_TRY(fetch(candidates, std::move(expected)));
    if (!keep_bf16 || (raw.type != dtype::BF16 && raw.type != dtype::F16))
      return std::pair<const void*, bool>{ST_TRY(as_f32(name, raw)), false};
    const bool aligned = reinterpret_cast<std::uintptr_t>(raw.bytes.data()) % 2 == 0;
    if (raw.type == dtype::BF16 && aligned && raw.owned.empty()) {
      out.bytes_in_place += raw.bytes.size();
      last_file_mapped = raw.file_mapped;
      return std::pair<const void*, bool>{raw.bytes.data(), true};
    }
    const std::size_t count = raw.bytes.size() / 2;
    std::vector<std::uint16_t> converted(count);
    if (auto r =
            convert_elements(raw.type, raw.bytes, dtype::BF16,
                             std::as_writable_bytes(std::span<std::uint16_t>(converted)), count);
        !r)
      return fail(r.error().code,
                  fmt::format("{}: tensor '{}': {}", src.origin(), name, r.error().message));
    out.bytes_converted += count * 2;
    out.converted_bf16.push_back(std::move(converted));
    return std::pair<const void*, bool>{out.converted_bf16.back().data(), true};
  }

  result<const float*> as_f32(const std::string& name, raw_tensor& raw) {
    const auto bytes = raw.bytes;
    const bool aligned = reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0;
    std::uint64_t count = 1;
    for (auto d : raw.shape) count *= d;  // shapes were checked against the config: no overflow
    if (raw.type == dtype::F32 && aligned && raw.owned.empty()) {
      out.bytes_in_place += bytes.size();
      last_file_mapped = raw.file_mapped;
      return reinterpret_cast<const float*>(bytes.data());
    }
    if (raw.type != dtype::F32 && raw.type != dtype::F16 && raw.type != dtype::BF16 &&
        raw.type != dtype::F64)
      return fail(errc::invalid_model,
                  fmt::format("{}: tensor '{}' has dtype {}; expected F32, F16, BF16 or F64",
                              src.origin(), name, dtype_name(raw.type)));
    std::vector<float> converted(static_cast<std::size_t>(count));
    auto dst = std::as_writable_bytes(std::span<float>(converted));
    if (raw.type == dtype::F32 && bytes.size() == dst.size())
      std::memcpy(dst.data(), bytes.data(), dst.size());
    else if (auto r = convert_elements(raw.type, bytes, dtype::F32, dst, count); !r)
      return fail(r.error().code,
                  fmt::format("{}: tensor '{}': {}", src.origin(), name, r.error().message));
    out.bytes_converted += dst.size();
    out.converted.push_back(std::move(converted));
    return out.converted.back().data();
  }

  result<linear_weights> linear(const std::vector<std::string>& prefixes, std::size_t out_features,
                                std::size_t in_features) {
    const auto [w, bf16] =
        ST_TRY(matrix(with_suffix(prefixes, ".weight"), {out_features, in_features}));
    const bool mapped = last_file_mapped;
    const float* const b = ST_TRY(tensor(with_suffix(prefixes, ".bias"), {out_features}));
    return linear_weights{
        w, b, out_features, in_features, bf16 ? weight_type::bf16 : weight_type::f32, mapped};
  }

  // LayerNorm weight/bias, also under TF-era gamma/beta names.
  result<std::pair<const float*, const float*>> layer_norm(
      const std::vector<std::string>& prefixes) {
    const float* const g = ST_TRY(tensor(
        concat(with_suffix(prefixes, ".weight"), with_suffix(prefixes, ".gamma")), {cfg.dim}));
    const float* const b = ST_TRY(
        tensor(concat(with_suffix(prefixes, ".bias"), with_suffix(prefixes, ".beta")), {cfg.dim}));
    return std::pair{g, b};
  }

  static std::vector<std::string> with_suffix(const std::vector<std::string>& prefixes,
                                              std::string_view s) {
    std::vector<std::string> r;
    for (const auto& p : prefixes) r.push_back(p + std::string(s));
    return r;
  }
  static std::vector<std::string> concat(std::vector<std::string> a,
                                         const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
};

std::vector<std::string> embedding_names(std::string_view what) {
  return {fmt::format("distilbert.embeddings.{}", what), fmt::format("embeddings.{}", what)};
}

std::vector<std::string> layer_names(std::size_t i, std::string_view what) {
  return {fmt::format("distilbert.transformer.layer.{}.{}", i, what),
          fmt::format("transformer.layer.{}.{}", i, what),
          fmt::format("encoder.layer.{}.{}", i, what),
          fmt::format("distilbert.encoder.layer.{}.{}", i, what)};
}

result<void> bind_layer(binder& b, std::size_t i, layer_weights& l) {
  const auto d = b.cfg.dim, h = b.cfg.hidden_dim;
  const struct {
    const char* name;
    linear_weights* dst;
    std::size_t out, in;
  } linears[] = {{"attention.q_lin", &l.q, d, d}, {"attention.k_lin", &l.k, d, d},
                 {"attention.v_lin", &l.v, d, d}, {"attention.out_lin", &l.out, d, d},
                 {"ffn.lin1", &l.lin1, h, d},     {"ffn.lin2", &l.lin2, d, h}};
  for (const auto& e : linears) {
    *e.dst = ST_TRY(b.linear(layer_names(i, e.name), e.out, e.in));
  }
  std::tie(l.sa_gamma, l.sa_beta) = ST_TRY(b.layer_norm(layer_names(i, "sa_layer_norm")));
  std::tie(l.out_gamma, l.out_beta) = ST_TRY(b.layer_norm(layer_names(i, "output_layer_norm")));
  return {};
}

result<void> check_head_present(const weight_source& src) {
  if (src.contains("pre_classifier.weight") && src.contains("classifier.weight")) return {};
  for (const char* mlm : {"vocab_transform.weight", "vocab_projector.bias",
                          "vocab_projector.weight", "vocab_layer_norm.weight"})
    if (src.contains(mlm) || src.contains(std::string("distilbert.") + mlm))
      return fail(
          errc::invalid_model,
          fmt::format("{}: this is a masked-LM checkpoint (DistilBertForMaskedLM: "
                      "it has '{}') without the classifier head (pre_classifier, classifier); "
                      "fine-tune it for sequence classification first",
                      src.origin(), mlm));
  return fail(errc::invalid_model,
              fmt::format("{}: no classifier head: tensors 'pre_classifier.weight' and "
                          "'classifier.weight' are required",
                          src.origin()));
}

}  // namespace

result<model_weights> bind_weights(const weight_source& src, const distilbert_config& cfg,
                                   bool keep_bf16) {
  ST_TRY(check_head_present(src));
  model_weights w;
  binder b{src, cfg, w, keep_bf16};
  const auto table = [&](const char* what, std::uint64_t rows) -> result<table_ref> {
    const auto [data, bf16] = ST_TRY(b.matrix(embedding_names(what), {rows, cfg.dim}));
    return table_ref{data, bf16};
  };
  w.word = ST_TRY(table("word_embeddings.weight", cfg.vocab_size));
  w.pos = ST_TRY(table("position_embeddings.weight", cfg.max_position_embeddings));
  std::tie(w.emb_gamma, w.emb_beta) = ST_TRY(b.layer_norm(embedding_names("LayerNorm")));
  w.layers.resize(cfg.n_layers);
  for (std::size_t i = 0; i < cfg.n_layers; ++i) ST_TRY(bind_layer(b, i, w.layers[i]));
  w.pre_classifier = ST_TRY(b.linear({"pre_classifier"}, cfg.dim, cfg.dim));
  w.classifier = ST_TRY(b.linear({"classifier"}, cfg.num_labels(), cfg.dim));
  return w;
}

}  // namespace safetensors::model::detail
