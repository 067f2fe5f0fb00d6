#include "core/text_util.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "core/utf8.hpp"

namespace safetensors::detail {

std::string ascii_escaped(std::string_view s) {
  constexpr std::size_t max_len = 200;
  std::string out;
  out.reserve(std::min(s.size(), max_len) + 8);
  for (std::size_t i = 0; i < s.size() && i < max_len; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

std::string shape_string(std::span<const std::uint64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

bool is_valid_utf8(std::string_view s) noexcept {
  return simdjson::validate_utf8(s.data(), s.size());
}

std::size_t first_invalid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const auto step = decode_utf8_at(s, i);
    if (!step.valid) return i;
    i += step.length;
  }
  return s.size();
}

}  // namespace safetensors::detail
