// Small text helpers for the unpickler. (UTF-8 validation is the core's: core/text_util.hpp.)
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace safetensors::torch::detail {

/// Python's str.encode('latin1') of a UTF-8 string: nullopt if the text is not valid UTF-8 or
/// a code point is above U+00FF.
std::optional<std::string> utf8_to_latin1(std::string_view s);

}  // namespace safetensors::torch::detail
