// config.json -> distilbert_config, following DistilBertConfig defaults and PretrainedConfig's
// id2label/num_labels rules (docs/MODEL.md "config.json").
#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <simdjson.h>

#include "model/kernels.hpp"
#include "safetensors/model/classifier.hpp"

namespace safetensors::model {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Sizes beyond these are not DistilBERT models; they also bound every allocation the forward
// pass derives from the config before the weights are checked.
constexpr std::uint64_t max_dim = 1u << 16, max_layers = 1024, max_positions = 1u << 16,
                        max_vocab = 1u << 24, max_labels = 1u << 16;

struct ctx {
  std::string_view origin;
  tl::unexpected<error> bad(std::string_view field, std::string_view what) const {
    return fail(errc::invalid_model, fmt::format("[load_config] {}: field '{}' {}", origin, field, what));
  }
};

result<void> read_size(const ctx& c, element obj, std::string_view key, std::string_view alias,
                       std::uint64_t limit, std::size_t& out) {
  element v;
  if (obj[key].get(v) != simdjson::SUCCESS && (alias.empty() || obj[alias].get(v) != simdjson::SUCCESS))
    return {};  // absent: keep the DistilBertConfig default
  std::uint64_t n = 0;
  if (v.get_uint64().get(n) != simdjson::SUCCESS) return c.bad(key, "must be a positive integer");
  if (n == 0 || n > limit) return c.bad(key, fmt::format("= {} is out of range (1..{})", n, limit));
  out = static_cast<std::size_t>(n);
  return {};
}

result<void> read_string(const ctx& c, element obj, std::string_view key, std::string& out,
                         bool nullable) {
  element v;
  if (obj[key].get(v) != simdjson::SUCCESS) return {};
  if (nullable && v.is_null()) return {};
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) return c.bad(key, "must be a string");
  out.assign(s);
  return {};
}

result<void> read_architecture(const ctx& c, element obj, distilbert_config& cfg) {
  element v;
  if (obj["architectures"].get(v) != simdjson::SUCCESS || v.is_null()) return {};
  simdjson::dom::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS) return c.bad("architectures", "must be a list of strings");
  for (element a : arr) {
    std::string_view s;
    if (a.get_string().get(s) != simdjson::SUCCESS) return c.bad("architectures", "must be a list of strings");
    if (cfg.architecture.empty()) cfg.architecture.assign(s);
  }
  return {};
}

result<void> read_model_type(const ctx& c, element obj, distilbert_config& cfg) {
  std::string type;
  if (auto r = read_string(c, obj, "model_type", type, false); !r) return r;
  if (type.empty()) {
    // Very old configs carry no model_type; transformers then goes by the architecture.
    if (cfg.architecture.rfind("DistilBert", 0) == 0) return {};
    return c.bad("model_type", "is missing (expected \"distilbert\")");
  }
  if (type != "distilbert")
    return c.bad("model_type", fmt::format("is \"{}\"; only \"distilbert\" models are supported", type));
  cfg.model_type = type;
  return {};
}

result<void> read_id2label(const ctx& c, element obj, distilbert_config& cfg) {
  element v;
  if (obj["id2label"].get(v) != simdjson::SUCCESS || v.is_null()) {
    std::size_t n = 2;  // PretrainedConfig's num_labels default
    if (auto r = read_size(c, obj, "num_labels", "_num_labels", max_labels, n); !r) return r;
    cfg.id2label.clear();
    for (std::size_t i = 0; i < n; ++i) cfg.id2label.push_back(fmt::format("LABEL_{}", i));
    return {};
  }
  simdjson::dom::object map;
  if (v.get_object().get(map) != simdjson::SUCCESS) return c.bad("id2label", "must be an object");
  const std::size_t n = map.size();
  if (n == 0) return c.bad("id2label", "is empty");
  if (n > max_labels) return c.bad("id2label", "has too many labels");
  std::vector<std::string> labels(n);
  std::vector<bool> seen(n, false);
  for (auto [key, value] : map) {
    std::size_t id = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc{} || end != key.data() + key.size() || key.empty())
      return c.bad("id2label", fmt::format("has key \"{}\", expected a class id \"0\"..\"{}\"", key, n - 1));
    if (id >= n) return c.bad("id2label", fmt::format("has id {} but only {} labels", id, n));
    if (seen[id]) return c.bad("id2label", fmt::format("has id {} twice", id));
    std::string_view label;
    if (value.get_string().get(label) != simdjson::SUCCESS)
      return c.bad("id2label", fmt::format("value of \"{}\" must be a string", key));
    seen[id] = true;
    labels[id].assign(label);
  }
  cfg.id2label = std::move(labels);
  return {};
}

result<void> read_label2id(const ctx& c, element obj, distilbert_config& cfg) {
  element v;
  cfg.label2id.clear();
  if (obj["label2id"].get(v) == simdjson::SUCCESS && !v.is_null()) {
    simdjson::dom::object map;
    if (v.get_object().get(map) != simdjson::SUCCESS) return c.bad("label2id", "must be an object");
    for (auto [key, value] : map) {
      std::uint64_t id = 0;
      if (value.get_uint64().get(id) != simdjson::SUCCESS)
        return c.bad("label2id", fmt::format("value of \"{}\" must be a class id", key));
      if (id >= cfg.id2label.size())
        return c.bad("label2id", fmt::format("maps \"{}\" to {} but there are {} labels", key, id,
                                             cfg.id2label.size()));
      cfg.label2id[std::string(key)] = static_cast<std::size_t>(id);
    }
    return {};
  }
  for (std::size_t i = 0; i < cfg.id2label.size(); ++i) cfg.label2id[cfg.id2label[i]] = i;
  return {};
}

result<void> check_fields(const ctx& c, distilbert_config& cfg) {
  if (cfg.dim % cfg.n_heads != 0)
    return c.bad("n_heads", fmt::format("= {} does not divide dim = {}", cfg.n_heads, cfg.dim));
  if (!detail::activation_from_name(cfg.activation))
    return c.bad("activation", fmt::format("\"{}\" is not a supported activation (gelu, gelu_new, "
                                           "gelu_pytorch_tanh, gelu_fast, quick_gelu, relu, silu, "
                                           "swish, mish, sigmoid, tanh, linear)", cfg.activation));
  const std::string& p = cfg.problem_type;
  if (!p.empty() && p != "regression" && p != "single_label_classification" &&
      p != "multi_label_classification")
    return c.bad("problem_type", fmt::format("\"{}\" is not regression, single_label_classification "
                                             "or multi_label_classification", p));
  return {};
}

}  // namespace

score_function distilbert_config::default_function() const noexcept {
  if (problem_type == "regression") return score_function::none;
  if (problem_type == "multi_label_classification" || num_labels() == 1) return score_function::sigmoid;
  if (problem_type == "single_label_classification" || num_labels() > 1) return score_function::softmax;
  return score_function::none;
}

result<distilbert_config> parse_config(std::string_view json, std::string_view origin) {
  const ctx c{origin};
  simdjson::dom::parser parser;
  element root;
  const simdjson::padded_string padded(json);
  if (auto err = parser.parse(padded).get(root); err != simdjson::SUCCESS)
    return fail(errc::invalid_model, fmt::format("[load_config] {}: invalid JSON: {}", origin,
                                                 simdjson::error_message(err)));
  if (!root.is_object()) return fail(errc::invalid_model, fmt::format("[load_config] {}: not a JSON object", origin));
  distilbert_config cfg;
  for (auto step : {read_architecture, read_model_type}) {
    if (auto r = step(c, root, cfg); !r) return tl::unexpected(r.error());
  }
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
  for (const auto& s : sizes)
    if (auto r = read_size(c, root, s.key, s.alias, s.limit, *s.out); !r) return tl::unexpected(r.error());
  if (auto r = read_string(c, root, "activation", cfg.activation, false); !r) return tl::unexpected(r.error());
  if (auto r = read_string(c, root, "problem_type", cfg.problem_type, true); !r) return tl::unexpected(r.error());
  for (auto step : {read_id2label, read_label2id})
    if (auto r = step(c, root, cfg); !r) return tl::unexpected(r.error());
  if (auto r = check_fields(c, cfg); !r) return tl::unexpected(r.error());
  return cfg;
}

result<distilbert_config> load_config(const std::filesystem::path& config_json) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(config_json, ec);  // fails for a FIFO: never blocks
  if (ec)
    return fail(errc::io, fmt::format("[load_config] cannot read {}: {}", config_json.string(), ec.message()));
  if (size > (16u << 20))
    return fail(errc::invalid_model, fmt::format("[load_config] {}: {} bytes is too large for a config",
                                                 config_json.string(), size));
  std::ifstream in(config_json, std::ios::binary);
  if (!in)
    return fail(errc::io, fmt::format("[load_config] cannot read {}: no such file or not readable",
                                      config_json.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(errc::io, fmt::format("[load_config] error reading {}", config_json.string()));
  return parse_config(text.str(), config_json.string());
}

}  // namespace safetensors::model
