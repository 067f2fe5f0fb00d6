#include "server/request_parse.hpp"

#include <limits>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>

namespace safetensors::server::detail {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// A fresh parser per request: a thread-local one would keep the largest body's buffers alive on
// every connection thread.
api_result<object> parse_object(std::string_view body, simdjson::dom::parser& parser) {
  if (body.empty()) return validation_fail("request body is empty; expected a JSON object");
  element doc;
  if (auto err = parser.parse(body.data(), body.size()).get(doc)) {
    return validation_fail(fmt::format("malformed JSON body: {}", simdjson::error_message(err)));
  }
  object obj;
  if (doc.get_object().get(obj)) return validation_fail("the JSON body must be an object");
  // simdjson keeps duplicate keys; a body that names a field twice is ambiguous.
  std::set<std::string_view> seen;
  for (auto field : obj) {
    if (!seen.insert(field.key).second) {
      return validation_fail(fmt::format("duplicate field `{}`", field.key));
    }
  }
  return obj;
}

std::optional<element> field(const object& obj, std::string_view name) {
  element value;
  if (obj.at_key(name).get(value)) return std::nullopt;
  return value;
}

api_result<bool> bool_field(const object& obj, std::string_view name, bool fallback) {
  auto value = field(obj, name);
  if (!value || value->is_null()) return fallback;
  bool b = false;
  if (value->get_bool().get(b)) return validation_fail(fmt::format("`{}` must be a boolean", name));
  return b;
}

api_result<std::string> string_of(const element& e, std::string_view what) {
  std::string_view s;
  if (e.get_string().get(s)) return validation_fail(fmt::format("{} must be a string", what));
  return std::string(s);
}

// ["a"] -> single, ["a","b"] -> pair; anything else is invalid.
api_result<text_input> sequence_of(const simdjson::dom::array& arr, std::string_view what) {
  const std::size_t n = arr.size();
  if (n != 1 && n != 2) {
    return validation_fail(fmt::format("{} must hold one text or a pair of texts, not {}", what, n));
  }
  text_input in;
  auto first = string_of(arr.at(0).value_unsafe(), what);
  if (!first) return tl::unexpected(first.error());
  in.first = std::move(*first);
  if (n == 2) {
    auto second = string_of(arr.at(1).value_unsafe(), what);
    if (!second) return tl::unexpected(second.error());
    in.second = std::move(*second);
  }
  return in;
}

api_result<void> parse_inputs(const element& inputs, predict_request& req) {
  if (inputs.is_string()) {
    req.inputs.push_back({std::string(inputs.get_string().value_unsafe()), std::nullopt});
    req.shape = predict_shape::single;
    return {};
  }
  simdjson::dom::array arr;
  if (inputs.get_array().get(arr)) {
    return validation_fail("`inputs` must be a string, a list of one or two strings, or a list of such lists");
  }
  // TEI's PredictInput deserializer refuses [] (serde invalid_length 0), which axum answers 422.
  if (arr.size() == 0) return validation_fail("`inputs` cannot be empty");
  if (!arr.at(0).value_unsafe().is_array()) {  // a single text or a pair
    auto one = sequence_of(arr, "`inputs`");
    if (!one) return tl::unexpected(one.error());
    req.inputs.push_back(std::move(*one));
    req.shape = predict_shape::single;
    return {};
  }
  req.shape = predict_shape::batch;
  std::size_t index = 0;
  for (element item : arr) {
    const std::string what = fmt::format("`inputs[{}]`", index++);
    simdjson::dom::array seq;
    if (item.get_array().get(seq)) return validation_fail(fmt::format("{} must be a list of one or two strings", what));
    auto one = sequence_of(seq, what);
    if (!one) return tl::unexpected(one.error());
    req.inputs.push_back(std::move(*one));
  }
  return {};
}

api_result<model::truncation_side> direction_field(const object& obj) {
  auto value = field(obj, "truncation_direction");
  if (!value || value->is_null()) return model::truncation_side::right;
  std::string_view s;
  if (!value->get_string().get(s)) {
    if (s == "right" || s == "Right") return model::truncation_side::right;
    if (s == "left" || s == "Left") return model::truncation_side::left;
  }
  return validation_fail("`truncation_direction` must be \"right\" or \"left\"");
}

}  // namespace

api_result<predict_request> parse_predict(std::string_view body) {
  simdjson::dom::parser parser;
  auto obj = parse_object(body, parser);
  if (!obj) return tl::unexpected(obj.error());
  predict_request req;
  auto inputs = field(*obj, "inputs");
  auto text = field(*obj, "text");
  if (inputs && text) return validation_fail("give either `inputs` or `text`, not both");
  if (text) {
    auto s = string_of(*text, "`text`");
    if (!s) return tl::unexpected(s.error());
    req.inputs.push_back({std::move(*s), std::nullopt});
    req.shape = predict_shape::fastapi;
  } else if (inputs) {
    if (auto r = parse_inputs(*inputs, req); !r) return tl::unexpected(r.error());
  } else {
    return validation_fail("missing field `inputs`");
  }
  auto truncate = field(*obj, "truncate");
  if (truncate && !truncate->is_null()) {
    bool b = false;
    if (truncate->get_bool().get(b)) return validation_fail("`truncate` must be a boolean or null");
    req.truncate = b;
  }
  auto direction = direction_field(*obj);
  if (!direction) return tl::unexpected(direction.error());
  req.direction = *direction;
  auto raw = bool_field(*obj, "raw_scores", false);
  if (!raw) return tl::unexpected(raw.error());
  req.raw_scores = *raw;
  return req;
}

api_result<tokenize_request> parse_tokenize(std::string_view body) {
  simdjson::dom::parser parser;
  auto obj = parse_object(body, parser);
  if (!obj) return tl::unexpected(obj.error());
  tokenize_request req;
  auto inputs = field(*obj, "inputs");
  if (!inputs) return validation_fail("missing field `inputs`");
  if (inputs->is_string()) {
    req.inputs.emplace_back(inputs->get_string().value_unsafe());
  } else {
    simdjson::dom::array arr;
    if (inputs->get_array().get(arr)) return validation_fail("`inputs` must be a string or a list of strings");
    for (element item : arr) {  // [] is valid here: the handler answers it (400 Empty)
      auto s = string_of(item, "every element of `inputs`");
      if (!s) return tl::unexpected(s.error());
      req.inputs.push_back(std::move(*s));
    }
  }
  auto special = bool_field(*obj, "add_special_tokens", true);
  if (!special) return tl::unexpected(special.error());
  req.add_special_tokens = *special;
  return req;
}

namespace {

// Token ids are u32 in TEI: 0..4294967295 parse (ids no vocabulary holds are skipped by decode).
api_result<std::vector<std::uint32_t>> id_list(const simdjson::dom::array& arr, std::string_view what) {
  std::vector<std::uint32_t> ids;
  ids.reserve(arr.size());
  for (element item : arr) {
    std::uint64_t v = 0;
    if (item.get_uint64().get(v) || v > std::numeric_limits<std::uint32_t>::max()) {
      return validation_fail(fmt::format("{} must hold token ids (integers 0..4294967295)", what));
    }
    ids.push_back(static_cast<std::uint32_t>(v));
  }
  return ids;
}

}  // namespace

api_result<decode_request> parse_decode(std::string_view body) {
  simdjson::dom::parser parser;
  auto obj = parse_object(body, parser);
  if (!obj) return tl::unexpected(obj.error());
  decode_request req;
  auto ids = field(*obj, "ids");
  simdjson::dom::array arr;
  if (!ids) return validation_fail("missing field `ids`");
  if (ids->get_array().get(arr)) return validation_fail("`ids` must be a list of token ids or a list of such lists");
  if (arr.size() > 0 && arr.at(0).value_unsafe().is_array()) {
    std::size_t index = 0;
    for (element item : arr) {
      const std::string what = fmt::format("`ids[{}]`", index++);
      simdjson::dom::array inner;
      if (item.get_array().get(inner)) return validation_fail(fmt::format("{} must be a list of token ids", what));
      auto one = id_list(inner, what);
      if (!one) return tl::unexpected(one.error());
      req.ids.push_back(std::move(*one));
    }
  } else {
    auto one = id_list(arr, "`ids`");
    if (!one) return tl::unexpected(one.error());
    req.ids.push_back(std::move(*one));
  }
  auto skip = bool_field(*obj, "skip_special_tokens", true);
  if (!skip) return tl::unexpected(skip.error());
  req.skip_special_tokens = *skip;
  return req;
}

}  // namespace safetensors::server::detail
