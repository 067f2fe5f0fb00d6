#include "torch/text.hpp"

#include <cstdint>

namespace safetensors::torch::detail {
namespace {

/// Decodes one code point at s[i]; returns its length, or 0 when invalid.
std::size_t decode(std::string_view s, std::size_t i, std::uint32_t& cp) noexcept {
  auto b = [&](std::size_t k) { return static_cast<std::uint8_t>(s[i + k]); };
  std::uint8_t c = b(0);
  std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  if (len == 1) { cp = c; return 1; }
  cp = c & (0x7fu >> len);
  for (std::size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3fu);
  }
  static constexpr std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<std::uint8_t>(s[i]) < 0x80) { ++i; continue; }
    std::size_t n = decode(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::optional<std::string> utf8_to_latin1(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = decode(s, i, cp);
    if (n == 0 || cp > 0xff) return std::nullopt;
    out.push_back(static_cast<char>(static_cast<unsigned char>(cp)));
    i += n;
  }
  return out;
}

}  // namespace safetensors::torch::detail
