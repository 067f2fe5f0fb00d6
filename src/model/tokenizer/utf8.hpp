// UTF-8 decoding for the tokenizer: lossy like Rust's String::from_utf8_lossy (each maximal
// invalid subpart becomes one U+FFFD), so byte offsets into the caller's text stay exact. The
// decoding step itself is the core's (core/utf8.hpp), shared with the validators.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safetensors::model::detail {

inline constexpr char32_t replacement_char = 0xFFFD;

/// Decodes the code point starting at `text[pos]` and returns its length in bytes (>= 1).
/// Invalid input yields U+FFFD with the length of the maximal subpart (Unicode 3.9, U+FFFD
/// substitution of maximal subparts; what from_utf8_lossy does).
std::size_t decode_utf8(std::string_view text, std::size_t pos, char32_t& cp) noexcept;

/// Appends the UTF-8 encoding of `cp` (a scalar value) to `out`; returns the bytes written.
std::size_t append_utf8(std::string& out, char32_t cp);

/// Number of code points in valid UTF-8 `text` (continuation bytes are not counted).
std::size_t count_chars(std::string_view text) noexcept;

/// Rewrites byte offsets into `text` (at character boundaries) as code point offsets, each
/// maximal invalid subpart counting as one. Linear when the begins do not decrease.
void to_char_offsets(std::string_view text,
                     std::vector<std::pair<std::size_t, std::size_t>>& offsets);

/// Length of the UTF-8 sequence starting with lead byte `b` of valid UTF-8 text.
inline std::size_t utf8_length(unsigned char b) noexcept {
  return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

}  // namespace safetensors::model::detail
