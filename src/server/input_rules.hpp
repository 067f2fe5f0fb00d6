// TEI's validation rules for /predict, /tokenize and /decode, in one place: the statuses, error
// types and messages text-embeddings-inference answers (router/src/http/server.rs for batches,
// core/src/tokenization.rs for each input). The list with its sources: docs/DEPLOY.md,
// "Validation rules". What the body must look like (JSON shape, field types) is request_parse's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "server/api_error.hpp"

namespace safetensors::server::detail {

/// TEI bounds the text before tokenizing: max_input_length x 250 characters per input.
inline constexpr std::size_t max_char_multiplier = 250;

/// Unicode scalar values in UTF-8 text (Rust's chars().count()).
std::size_t count_chars(std::string_view s);

/// A client batch of `n` items named `field` (`inputs`, `ids`): none -> 400 Empty
/// "`field` cannot be empty"; more than `max` -> 413 Validation "batch size N > maximum allowed
/// batch size M". Neither message has the "Input validation error: " prefix (TEI builds them in
/// the HTTP handler).
api_result<void> check_batch(std::size_t n, std::size_t max, std::string_view field);

/// One text (no `second`) or pair before tokenizing. Empty (both sides, for a pair) -> 400 Empty;
/// more than max_tokens x 250 characters -> cut to that many bytes (half per side for a pair,
/// backing off to a character boundary) when truncating, else 413 Validation.
api_result<void> check_text(std::string& first, std::optional<std::string>& second, bool truncate,
                            std::size_t max_tokens);

/// After tokenizing: more than `max_tokens` tokens -> 413 Validation.
api_result<void> check_tokens(std::size_t tokens, std::size_t max_tokens);

/// One id list for /decode: empty -> 400 Empty "`input_ids` cannot be empty".
api_result<void> check_ids(std::span<const std::uint32_t> ids);

}  // namespace safetensors::server::detail
