#include "server/request_parse.hpp"

#include <fmt/format.h>

#include <limits>

#include "core/json_fields.hpp"
#include "core/try.hpp"

namespace safetensors::server::detail {
namespace {

using safetensors::detail::json_array;
using safetensors::detail::json_document;
using safetensors::detail::json_object;
using safetensors::detail::json_value;

// Field errors come from the core's JSON reader ("request body: field 'x': ..."); each is a 422.
template <class T>
api_result<T> checked(result<T> r) {
  if (r) return std::move(*r);
  return validation_fail(r.error().message);
}

// A fresh parser per request: a thread-local one would keep the largest body's buffers alive on
// every connection thread. The reader refuses a body that names a field twice (ambiguous).
api_result<json_document> parse_body(std::string_view body) {
  if (body.empty()) return validation_fail("request body is empty; expected a JSON object");
  return checked(json_document::parse(body, "request body", errc::invalid_argument));
}

api_result<std::string> string_of(const json_value& e) {
  return std::string(ST_TRY(checked(e.string())));
}

// ["a"] -> single, ["a","b"] -> pair; anything else is invalid.
api_result<text_input> sequence_of(const json_array& arr) {
  const std::size_t n = arr.size();
  if (n != 1 && n != 2) {
    return validation_fail(
        arr.bad(fmt::format("must hold one text or a pair of texts, not {}", n)).message);
  }
  text_input in;
  in.first = ST_TRY(string_of(arr.at(0)));
  if (n == 2) in.second = ST_TRY(string_of(arr.at(1)));
  return in;
}

api_result<void> parse_inputs(const json_value& inputs, predict_request& req) {
  if (inputs.is_string()) {
    req.inputs.push_back({ST_TRY(string_of(inputs)), std::nullopt});
    req.shape = predict_shape::single;
    return {};
  }
  if (!inputs.is_array()) {
    return validation_fail(
        inputs.bad("must be a string, a list of one or two strings, or a list of such lists")
            .message);
  }
  const auto arr = ST_TRY(checked(inputs.array()));
  // TEI's PredictInput deserializer refuses [] (serde invalid_length 0), which axum answers 422.
  if (arr.size() == 0) return validation_fail("`inputs` cannot be empty");
  if (!arr.at(0).is_array()) {  // a single text or a pair
    req.inputs.push_back(ST_TRY(sequence_of(arr)));
    req.shape = predict_shape::single;
    return {};
  }
  req.shape = predict_shape::batch;
  for (const auto& item : arr.items()) {
    if (!item.is_array())
      return validation_fail(item.bad("must be a list of one or two strings").message);
    const auto seq = ST_TRY(checked(item.array()));
    req.inputs.push_back(ST_TRY(sequence_of(seq)));
  }
  return {};
}

api_result<model::truncation_side> direction_field(const json_object& obj) {
  const auto value = obj.optional("truncation_direction");
  if (!value) return model::truncation_side::right;
  if (value->is_string()) {
    const auto s = ST_TRY(checked(value->string()));
    if (s == "right" || s == "Right") return model::truncation_side::right;
    if (s == "left" || s == "Left") return model::truncation_side::left;
  }
  return validation_fail(value->bad("must be \"right\" or \"left\"").message);
}

}  // namespace

api_result<predict_request> parse_predict(std::string_view body) {
  const auto doc = ST_TRY(parse_body(body));
  const auto obj = doc.root();
  predict_request req;
  const auto inputs = obj.find("inputs");
  const auto text = obj.find("text");
  if (inputs && text) return validation_fail("give either `inputs` or `text`, not both");
  if (text) {
    req.inputs.push_back({ST_TRY(string_of(*text)), std::nullopt});
    req.shape = predict_shape::fastapi;
  } else if (inputs) {
    ST_TRY(parse_inputs(*inputs, req));
  } else {
    return validation_fail(obj.bad_member("inputs", "is missing").message);
  }
  if (const auto truncate = obj.optional("truncate"))
    req.truncate = ST_TRY(checked(truncate->boolean()));
  req.direction = ST_TRY(direction_field(obj));
  req.raw_scores = ST_TRY(checked(obj.bool_or("raw_scores", false)));
  return req;
}

api_result<tokenize_request> parse_tokenize(std::string_view body) {
  const auto doc = ST_TRY(parse_body(body));
  const auto obj = doc.root();
  tokenize_request req;
  const auto inputs = ST_TRY(checked(obj.required("inputs")));
  if (inputs.is_string()) {
    req.inputs.push_back(ST_TRY(string_of(inputs)));
  } else {
    if (!inputs.is_array())
      return validation_fail(inputs.bad("must be a string or a list of strings").message);
    const auto arr = ST_TRY(checked(inputs.array()));
    // [] is valid here: the handler answers it (400 Empty, as TEI's tokenize route does).
    for (const auto& item : arr.items()) req.inputs.push_back(ST_TRY(string_of(item)));
  }
  req.add_special_tokens = ST_TRY(checked(obj.bool_or("add_special_tokens", true)));
  return req;
}

namespace {

// Token ids are u32 in TEI: 0..4294967295 parse (ids no vocabulary holds are skipped by decode).
api_result<std::vector<std::uint32_t>> id_list(const json_array& arr) {
  std::vector<std::uint32_t> ids;
  ids.reserve(arr.size());
  for (const auto& item : arr.items()) {
    const auto v = item.u64(std::numeric_limits<std::uint32_t>::max());
    if (!v)
      return validation_fail(item.bad("must be a token id (an integer 0..4294967295)").message);
    ids.push_back(static_cast<std::uint32_t>(*v));
  }
  return ids;
}

}  // namespace

api_result<decode_request> parse_decode(std::string_view body) {
  const auto doc = ST_TRY(parse_body(body));
  const auto obj = doc.root();
  decode_request req;
  const auto ids = ST_TRY(checked(obj.required("ids")));
  if (!ids.is_array())
    return validation_fail(ids.bad("must be a list of token ids or a list of such lists").message);
  const auto arr = ST_TRY(checked(ids.array()));
  if (arr.size() > 0 && arr.at(0).is_array()) {
    for (const auto& item : arr.items()) {
      if (!item.is_array()) return validation_fail(item.bad("must be a list of token ids").message);
      const auto inner = ST_TRY(checked(item.array()));
      req.ids.push_back(ST_TRY(id_list(inner)));
    }
  } else {
    req.ids.push_back(ST_TRY(id_list(arr)));
  }
  req.skip_special_tokens = ST_TRY(checked(obj.bool_or("skip_special_tokens", true)));
  return req;
}

}  // namespace safetensors::server::detail
