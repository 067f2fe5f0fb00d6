// Small private helpers for one-line error messages.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace safetensors::detail {

/// A name for a message: printable ASCII kept, `'` and `\` escaped, other bytes as \xNN, so the
/// message stays on one line whatever the name holds. Long names are cut at 200 bytes.
std::string printable(std::string_view s);

/// "[2, 3]".
std::string shape_string(std::span<const std::uint64_t> shape);

/// Byte offset of the first invalid UTF-8 sequence (RFC 3629: no overlongs, no surrogates,
/// max U+10FFFF), or s.size() when valid.
std::size_t first_invalid_utf8(std::string_view s) noexcept;

}  // namespace safetensors::detail
