// docs/TORCH.md "Containers": the tar rule, as CPython's tarfile applies it.
#include "torch/tar_header.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace safetensors::torch::detail {
namespace {

constexpr std::size_t block = 512;

/// str.isspace() for ASCII (int() and str.strip() drop these; \x1c-\x1f count too).
bool py_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

/// int(s, 8) after nts() (cut at the first NUL, ASCII only): optional sign, optional 0o prefix,
/// octal digits with single underscores between them. nullopt where Python raises ValueError;
/// values beyond int64 saturate (they never equal a checksum).
std::optional<std::int64_t> octal_text(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return std::nullopt;  // ascii decode fails
  while (!s.empty() && py_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && py_space(s.back())) s.remove_suffix(1);
  if (s.empty()) return 0;
  bool negative = false;
  if (s.front() == '+' || s.front() == '-') {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  bool prefixed = s.size() >= 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O');
  if (prefixed) s.remove_prefix(2);
  std::int64_t v = 0;
  bool digit_before = prefixed;  // "0o_7" is valid: an underscore may follow the prefix
  bool any = false;
  for (char c : s) {
    if (c == '_') {
      if (!digit_before) return std::nullopt;
      digit_before = false;
      continue;
    }
    if (c < '0' || c > '7') return std::nullopt;
    digit_before = true;
    any = true;
    v = v > (INT64_MAX >> 3) ? INT64_MAX : v * 8 + (c - '0');
  }
  if (!any || !digit_before) return std::nullopt;  // "", "0o", "7_"
  return negative ? -v : v;
}

std::optional<std::int64_t> nti(std::span<const std::byte> f, std::size_t at, std::size_t len) {
  const auto u = [&](std::size_t i) { return static_cast<unsigned char>(f[at + i]); };
  if (u(0) == 0x80 || u(0) == 0xff) {  // base-256: always a number
    std::int64_t n = 0;
    for (std::size_t i = 1; i < len; ++i) n = n > (INT64_MAX >> 8) ? INT64_MAX : (n << 8) + u(i);
    return u(0) == 0xff ? -n : n;  // the exact negative value never equals a checksum
  }
  std::string_view s(reinterpret_cast<const char*>(f.data()) + at, len);
  if (auto nul = s.find('\0'); nul != std::string_view::npos) s = s.substr(0, nul);
  return octal_text(s);
}

}  // namespace

bool is_tar_header(std::span<const std::byte> file) noexcept {
  if (file.size() < block) return false;  // TruncatedHeaderError: torch falls back to pickle
  std::int64_t unsigned_sum = 256, signed_sum = 256;
  bool all_nul = true;
  for (std::size_t i = 0; i < block; ++i) {
    const auto b = static_cast<unsigned char>(file[i]);
    all_nul = all_nul && b == 0;
    if (i >= 148 && i < 156) continue;
    unsigned_sum += b;
    signed_sum += static_cast<signed char>(b);
  }
  if (all_nul) return false;  // EOFHeaderError: no member at all (torch then fails)
  const auto sum = nti(file, 148, 8);
  if (!sum || (*sum != unsigned_sum && *sum != signed_sum)) return false;
  static constexpr std::pair<std::size_t, std::size_t> fields[] = {
      {100, 8}, {108, 8}, {116, 8}, {124, 12}, {136, 12}, {329, 8}, {337, 8}};
  for (auto [at, len] : fields)
    if (!nti(file, at, len)) return false;
  if (static_cast<char>(file[156]) == 'S') {  // GNU sparse: 4 (offset, size) pairs, origsize
    for (std::size_t at = 386; at < 386 + 4 * 24; at += 12)
      if (!nti(file, at, 12)) return false;
    if (!nti(file, 483, 12)) return false;
  }
  return true;
}

}  // namespace safetensors::torch::detail
