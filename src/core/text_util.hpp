// Small private helpers for one-line error messages.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace safetensors::detail {

/// A name for a message, in ASCII: printable ASCII kept, `'` and `\` escaped, every other byte
/// (controls, UTF-8) as \xNN, so the message stays on one line whatever the name holds. Long
/// names are cut at 200 bytes. (The CLI's control_chars_escaped keeps UTF-8 for the terminal.)
std::string ascii_escaped(std::string_view s);

/// "[2, 3]".
std::string shape_string(std::span<const std::uint64_t> shape);

/// Strict UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF): the one validator
/// of the libraries (simdjson's SIMD check; core/utf8.hpp decodes by the same rules).
bool is_valid_utf8(std::string_view s) noexcept;

/// Byte offset of the first invalid UTF-8 sequence, or s.size() when valid.
std::size_t first_invalid_utf8(std::string_view s) noexcept;

}  // namespace safetensors::detail
