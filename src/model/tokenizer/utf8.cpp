#include "model/tokenizer/utf8.hpp"

namespace safetensors::model::detail {

namespace {
bool is_cont(unsigned char b) noexcept { return (b & 0xC0) == 0x80; }
}  // namespace

std::size_t decode_utf8(std::string_view text, std::size_t pos, char32_t& cp) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  const std::size_t left = text.size() - pos;
  const unsigned char b0 = s[0];
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  cp = replacement_char;
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 1;  // stray continuation byte or invalid lead
  }
  if (left < 2 || s[1] < lo || s[1] > hi) return 1;
  char32_t value = b0 & (0x3F >> need);
  value = (value << 6) | (s[1] & 0x3F);
  for (std::size_t i = 2; i <= need; ++i) {
    if (i >= left || !is_cont(s[i])) return i;  // maximal subpart ends before byte i
    value = (value << 6) | (s[i] & 0x3F);
  }
  cp = value;
  return need + 1;
}

std::size_t append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
    return 1;
  }
  if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    return 2;
  }
  if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    return 3;
  }
  out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
  out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
  out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
  out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  return 4;
}

std::size_t count_chars(std::string_view text) noexcept {
  std::size_t n = 0;
  for (char c : text) n += !is_cont(static_cast<unsigned char>(c));
  return n;
}

}  // namespace safetensors::model::detail
