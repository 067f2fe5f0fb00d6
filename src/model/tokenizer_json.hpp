// Shared by the tokenizer loaders: reading a tokenizer file into the core's strict JSON reader
// (src/core/json_fields), whose errors name the file and the field path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/json_fields.hpp"
#include "safetensors/error.hpp"

namespace safetensors::model::detail {

/// The largest tokenizer file read (tokenizer.json, vocab.txt, the configs).
inline constexpr std::uint64_t max_tokenizer_file_bytes = std::uint64_t{1} << 30;

/// Rewrites integers of 20 or more digits (outside strings) as 1e30: transformers writes
/// model_max_length = 1000000000000000019884624838656 ("no limit"), which simdjson refuses.
void tame_big_integers(std::string& json);

/// Reads `file` (a regular file of at most max_tokenizer_file_bytes) and parses it; with
/// `tame`, tame_big_integers first. Errors: io, limit_exceeded, invalid_model.
result<safetensors::detail::json_document> read_json_file(const std::filesystem::path& file,
                                                          bool tame);

}  // namespace safetensors::model::detail
