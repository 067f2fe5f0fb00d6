// Request bodies of /predict, /tokenize and /decode, parsed with simdjson into plain structs.
// A body that is not the request's shape becomes a 422 (Validation) api_error naming the field;
// the rules on the values (empty inputs, limits) are input_rules.hpp's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/model/tokenizer.hpp"
#include "server/api_error.hpp"

namespace safetensors::server::detail {

/// One input: a single text, or a pair when `second` is set.
struct text_input {
  std::string first;
  std::optional<std::string> second;
};

/// How the response is shaped: TEI single ([{score,label},...]), TEI batch ([[...],...]), or the
/// usual FastAPI example ({"text": ...} -> {"label","score"}).
enum class predict_shape { single, batch, fastapi };

struct predict_request {
  std::vector<text_input> inputs;
  predict_shape shape = predict_shape::single;
  std::optional<bool> truncate;  ///< null: the server's --auto-truncate
  model::truncation_side direction = model::truncation_side::right;
  bool raw_scores = false;
};

/// TEI's PredictInput grammar: "text" -> single; ["a"] -> single; ["a","b"] -> one pair;
/// [["a"],["b","c"],...] -> batch of singles/pairs. Or {"text": "..."} (FastAPI shape).
api_result<predict_request> parse_predict(std::string_view body);

struct tokenize_request {
  std::vector<std::string> inputs;
  bool add_special_tokens = true;
};
/// {"inputs": "text" | ["text", ...], "add_special_tokens": bool}; always answered as a list.
api_result<tokenize_request> parse_tokenize(std::string_view body);

struct decode_request {
  std::vector<std::vector<std::uint32_t>> ids;
  bool skip_special_tokens = true;
};
/// {"ids": [u32, ...] | [[u32, ...], ...], "skip_special_tokens": bool}.
api_result<decode_request> parse_decode(std::string_view body);

}  // namespace safetensors::server::detail
