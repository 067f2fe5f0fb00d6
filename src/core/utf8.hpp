// Private: the one UTF-8 decoding (and encoding) step (RFC 3629: no overlongs, no surrogates, at
// most U+10FFFF). The validators in core/text_util, the unpickler's Latin-1 conversion and the
// tokenizer's lossy decoder are all built on it. Inline: the tokenizer calls it per character.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace safetensors::detail {

struct utf8_step {
  char32_t code_point;  ///< the decoded scalar value (0 when invalid)
  std::uint8_t length;  ///< bytes taken: the sequence, or when invalid its maximal subpart (>= 1)
  bool valid;
};

/// Decodes the sequence starting at `s[pos]` (pos < s.size()). An invalid sequence reports the
/// length of its maximal subpart (Unicode 3.9, "U+FFFD substitution of maximal subparts"), the
/// bytes a lossy decoder replaces with one U+FFFD.
inline utf8_step decode_utf8_at(std::string_view s, std::size_t pos) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + pos;
  const std::size_t left = s.size() - pos;
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {b0, 1, true};
  std::size_t need = 0;                // continuation bytes after the lead
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // at most U+10FFFF
  } else {
    return {0, 1, false};  // a stray continuation byte or a lead that is never valid
  }
  if (left < 2 || p[1] < lo || p[1] > hi) return {0, 1, false};
  char32_t value = b0 & (0x3Fu >> need);
  value = (value << 6) | (p[1] & 0x3Fu);
  for (std::size_t i = 2; i <= need; ++i) {
    if (i >= left || (p[i] & 0xC0) != 0x80) return {0, static_cast<std::uint8_t>(i), false};
    value = (value << 6) | (p[i] & 0x3Fu);
  }
  return {value, static_cast<std::uint8_t>(need + 1), true};
}

/// Appends the UTF-8 encoding of a scalar value (cp <= U+10FFFF, not a surrogate).
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace safetensors::detail
