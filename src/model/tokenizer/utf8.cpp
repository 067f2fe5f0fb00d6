#include "model/tokenizer/utf8.hpp"

#include "core/utf8.hpp"

namespace safetensors::model::detail {

std::size_t decode_utf8(std::string_view text, std::size_t pos, char32_t& cp) noexcept {
  const auto step = safetensors::detail::decode_utf8_at(text, pos);
  cp = step.valid ? step.code_point : replacement_char;
  return step.length;
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
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

namespace {
struct char_cursor {
  std::size_t byte = 0;
  std::size_t chars = 0;
};
std::size_t advance(std::string_view text, char_cursor& at, std::size_t target) noexcept {
  if (target < at.byte) at = {};
  while (at.byte < target && at.byte < text.size()) {
    char32_t c = 0;
    at.byte += decode_utf8(text, at.byte, c);
    ++at.chars;
  }
  return at.chars;
}
}  // namespace

void to_char_offsets(std::string_view text,
                     std::vector<std::pair<std::size_t, std::size_t>>& offsets) {
  char_cursor begin;
  for (auto& [b, e] : offsets) {
    b = advance(text, begin, b);
    char_cursor end = begin;
    e = advance(text, end, e);
  }
}

}  // namespace safetensors::model::detail
