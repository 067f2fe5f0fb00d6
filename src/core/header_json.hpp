// Private: the JSON half of header parsing (syntax + schema), before layout validation.
#pragma once

#include <string_view>
#include <vector>

#include "safetensors/header.hpp"

namespace safetensors::detail {

/// Tensors in document order and the metadata (sorted by key). Errors: invalid_json (syntax,
/// schema, duplicate `__metadata__` or duplicate field inside a tensor entry), unknown_dtype,
/// duplicate_key (two metadata entries with the same key). Duplicate tensor names are detected
/// later, by the index. `source` names the file in messages. `padded`: at least
/// simdjson::SIMDJSON_PADDING readable bytes follow `json` (then it is parsed in place).
struct parsed_json {
  std::vector<tensor_info> tensors;
  metadata_map metadata;
};
result<parsed_json> parse_header_json(std::string_view json, std::string_view source, bool padded);

/// parse_header() for a buffer followed by at least 64 readable bytes (no copy of the JSON).
result<header> parse_header_padded(std::string_view json, std::uint64_t file_size,
                                   const parse_options& opts);

}  // namespace safetensors::detail
