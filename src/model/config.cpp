// config.json -> distilbert_config, following DistilBertConfig defaults and PretrainedConfig's
// id2label/num_labels rules (docs/MODEL.md "config.json"). Fields are read with the core's
// strict reader (src/core/json_fields): errors read `<file>: field '<name>': <problem>`.
#include <fmt/format.h>

#include <charconv>

#include "core/json_fields.hpp"
#include "core/mapped_file.hpp"
#include "core/try.hpp"
#include "model/kernels.hpp"
#include "safetensors/model/classifier.hpp"

namespace safetensors::model {
namespace {

using safetensors::detail::json_object;

// Sizes beyond these are not DistilBERT models; they also bound every allocation the forward
// pass derives from the config before the weights are checked.
constexpr std::uint64_t max_dim = 1u << 16, max_layers = 1024, max_positions = 1u << 16,
                        max_vocab = 1u << 24, max_labels = 1u << 16;
constexpr std::uint64_t max_config_bytes = 16u << 20;

// An absent size keeps the DistilBertConfig default; `alias` is the PretrainedConfig name.
result<void> read_size(const json_object& obj, std::string_view key, std::string_view alias,
                       std::uint64_t limit, std::size_t& out) {
  auto v = obj.find(key);
  if (!v && !alias.empty()) v = obj.find(alias);
  if (!v) return {};
  const auto n = ST_TRY(v->u64());
  if (n == 0 || n > limit)
    return tl::unexpected(v->bad(fmt::format("{} is out of range (1..{})", n, limit)));
  out = static_cast<std::size_t>(n);
  return {};
}

// An absent string keeps the default; null too when `nullable`.
result<void> read_string(const json_object& obj, std::string_view key, std::string& out,
                         bool nullable) {
  const auto v = nullable ? obj.optional(key) : obj.find(key);
  if (v) out.assign(ST_TRY(v->string()));
  return {};
}

result<void> read_architecture(const json_object& obj, distilbert_config& cfg) {
  const auto v = obj.optional("architectures");
  if (!v) return {};
  const auto list = ST_TRY(v->array());
  for (const auto& a : list.items()) {
    const auto s = ST_TRY(a.string());
    if (cfg.architecture.empty()) cfg.architecture.assign(s);
  }
  return {};
}

result<void> read_model_type(const json_object& obj, distilbert_config& cfg) {
  std::string type;
  ST_TRY(read_string(obj, "model_type", type, false));
  if (type.empty()) {
    // Very old configs carry no model_type; transformers then goes by the architecture.
    if (cfg.architecture.rfind("DistilBert", 0) == 0) return {};
    return tl::unexpected(obj.bad_member("model_type", "is missing (expected \"distilbert\")"));
  }
  if (type != "distilbert") {
    return tl::unexpected(obj.bad_member(
        "model_type", fmt::format("is \"{}\"; only \"distilbert\" models are supported", type)));
  }
  cfg.model_type = type;
  return {};
}

// Calls f(id) for each id in 0..n-1 (n >= 1) in the byte order of the ids' decimal strings
// (0, 1, 10, 100, ..., 101, ..., 11, ...: a preorder walk of the decimal digit tree), which is
// the key order of LABEL_<id> in label2id.
template <class F>
void for_ids_in_text_order(std::size_t n, F f) {
  f(std::size_t{0});
  std::size_t id = 1;
  for (std::size_t k = 1; k < n; ++k) {
    f(id);
    if (id * 10 < n) {
      id *= 10;  // its first child: id followed by 0
      continue;
    }
    while (id % 10 == 9 || id + 1 >= n) id /= 10;  // up past the last sibling
    ++id;                                          // the next sibling
  }
}

// No id2label: transformers' LABEL_0..LABEL_{n-1}, n = num_labels (default 2, up to
// max_labels). Returns whether the labels were generated (label2id then follows them).
result<bool> read_id2label(const json_object& obj, distilbert_config& cfg) {
  const auto v = obj.optional("id2label");
  if (!v) {
    std::size_t n = 2;  // PretrainedConfig's num_labels default
    ST_TRY(read_size(obj, "num_labels", "_num_labels", max_labels, n));
    cfg.id2label.clear();
    cfg.id2label.reserve(n);
    for (std::size_t i = 0; i < n; ++i) cfg.id2label.push_back(fmt::format("LABEL_{}", i));
    return true;
  }
  const auto map = ST_TRY(v->object());
  const std::size_t n = map.size();
  if (n == 0) return tl::unexpected(map.bad("is empty"));
  if (n > max_labels) return tl::unexpected(map.bad("has too many labels"));
  std::vector<std::string> labels(n);
  std::vector<bool> seen(n, false);
  for (const auto& [key, value] : map.members()) {
    std::size_t id = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc{} || end != key.data() + key.size() || key.empty())
      return tl::unexpected(
          map.bad(fmt::format("has key \"{}\", expected a class id \"0\"..\"{}\"", key, n - 1)));
    if (id >= n) return tl::unexpected(map.bad(fmt::format("has id {} but only {} labels", id, n)));
    if (seen[id]) return tl::unexpected(map.bad(fmt::format("has id {} twice", id)));
    const auto label = ST_TRY(value.string());
    seen[id] = true;
    labels[id].assign(label);
  }
  cfg.id2label = std::move(labels);
  return false;
}

result<void> read_label2id(const json_object& obj, distilbert_config& cfg, bool generated) {
  cfg.label2id.clear();
  if (const auto v = obj.optional("label2id")) {
    const auto map = ST_TRY(v->object());
    for (const auto& [key, value] : map.members()) {
      const auto id = ST_TRY(value.u64());
      if (id >= cfg.id2label.size()) {
        return tl::unexpected(map.bad(fmt::format("maps \"{}\" to {} but there are {} labels", key,
                                                  id, cfg.id2label.size())));
      }
      cfg.label2id[std::string(key)] = static_cast<std::size_t>(id);
    }
    return {};
  }
  if (generated) {
    // In key order, each appended at the end: linear, where searching the tree for each of up to
    // 65,536 keys sharing the prefix LABEL_ took ~30 ms (a config.json of 20 bytes; the
    // config_json fuzzer's slowest inputs, docs/FUZZING.md).
    for_ids_in_text_order(cfg.id2label.size(), [&](std::size_t id) {
      cfg.label2id.emplace_hint(cfg.label2id.end(), cfg.id2label[id], id);
    });
    return {};
  }
  for (std::size_t i = 0; i < cfg.id2label.size(); ++i) cfg.label2id[cfg.id2label[i]] = i;
  return {};
}

result<void> check_fields(const json_object& obj, distilbert_config& cfg) {
  if (cfg.dim % cfg.n_heads != 0) {
    return tl::unexpected(obj.bad_member(
        "n_heads", fmt::format("{} does not divide dim = {}", cfg.n_heads, cfg.dim)));
  }
  if (!detail::activation_from_name(cfg.activation)) {
    return tl::unexpected(obj.bad_member(
        "activation", fmt::format("\"{}\" is not a supported activation (gelu, gelu_new, "
                                  "gelu_pytorch_tanh, gelu_fast, quick_gelu, relu, silu, "
                                  "swish, mish, sigmoid, tanh, linear)",
                                  cfg.activation)));
  }
  const std::string& p = cfg.problem_type;
  if (!p.empty() && p != "regression" && p != "single_label_classification" &&
      p != "multi_label_classification") {
    return tl::unexpected(obj.bad_member(
        "problem_type",
        fmt::format(
            "\"{}\" is not regression, single_label_classification or multi_label_classification",
            p)));
  }
  return {};
}

}  // namespace

score_function distilbert_config::default_function() const noexcept {
  if (problem_type == "regression") return score_function::none;
  if (problem_type == "multi_label_classification" || num_labels() == 1)
    return score_function::sigmoid;
  if (problem_type == "single_label_classification" || num_labels() > 1)
    return score_function::softmax;
  return score_function::none;
}

result<distilbert_config> parse_config(std::string_view json, std::string_view origin) {
  const auto doc = ST_TRY(
      safetensors::detail::json_document::parse(json, std::string(origin), errc::invalid_model));
  const auto root = doc.root();
  distilbert_config cfg;
  ST_TRY(read_architecture(root, cfg));
  ST_TRY(read_model_type(root, cfg));
  const struct {
    std::string_view key, alias;
    std::uint64_t limit;
    std::size_t* out;
  } sizes[] = {{"dim", "hidden_size", max_dim, &cfg.dim},
               {"n_heads", "num_attention_heads", max_dim, &cfg.n_heads},
               {"n_layers", "num_hidden_layers", max_layers, &cfg.n_layers},
               {"hidden_dim", "", max_dim * 16, &cfg.hidden_dim},
               {"vocab_size", "", max_vocab, &cfg.vocab_size},
               {"max_position_embeddings", "", max_positions, &cfg.max_position_embeddings}};
  for (const auto& s : sizes) ST_TRY(read_size(root, s.key, s.alias, s.limit, *s.out));
  ST_TRY(read_string(root, "activation", cfg.activation, false));
  ST_TRY(read_string(root, "problem_type", cfg.problem_type, true));
  const bool generated = ST_TRY(read_id2label(root, cfg));
  ST_TRY(read_label2id(root, cfg, generated));
  ST_TRY(check_fields(root, cfg));
  return cfg;
}

result<distilbert_config> load_config(const std::filesystem::path& config_json) {
  const auto text = ST_TRY(safetensors::detail::read_small_file(config_json, max_config_bytes));
  return parse_config(text, config_json.string());
}

}  // namespace safetensors::model
