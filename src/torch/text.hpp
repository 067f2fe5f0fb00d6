// Small text helpers for the unpickler.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace safetensors::torch::detail {

/// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

/// Python's str.encode('latin1') of a UTF-8 string: nullopt if a code point is above U+00FF.
std::optional<std::string> utf8_to_latin1(std::string_view s);

}  // namespace safetensors::torch::detail
