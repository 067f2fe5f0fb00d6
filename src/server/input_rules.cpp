#include "server/input_rules.hpp"

#include <fmt/format.h>

namespace safetensors::server::detail {
namespace {

// Cuts `s` to at most `limit` bytes, backing off to a UTF-8 character boundary.
void cut_utf8(std::string& s, std::size_t limit) {
  if (s.size() <= limit) return;
  while (limit > 0 && (static_cast<unsigned char>(s[limit]) & 0xC0) == 0x80) --limit;
  s.resize(limit);
}

}  // namespace

std::size_t count_chars(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

api_result<void> check_batch(std::size_t n, std::size_t max, std::string_view field) {
  if (n == 0) return api_fail(400, "Empty", fmt::format("`{}` cannot be empty", field));
  if (n > max)
    return api_fail(413, "Validation",
                    fmt::format("batch size {} > maximum allowed batch size {}", n, max));
  return {};
}

api_result<void> check_text(std::string& first, std::optional<std::string>& second, bool truncate,
                            std::size_t max_tokens) {
  if (first.empty() && (!second || second->empty())) return empty_fail("`inputs` cannot be empty");
  const std::size_t limit = max_tokens * max_char_multiplier;
  const std::size_t n = count_chars(first) + (second ? count_chars(*second) : 0);
  if (n <= limit) return {};
  if (!truncate)
    return input_validation_fail(
        fmt::format("`inputs` must have less than {} characters. Given: {}", limit, n));
  const std::size_t per_side = second ? limit / 2 : limit;
  cut_utf8(first, per_side);
  if (second) cut_utf8(*second, per_side);
  return {};
}

api_result<void> check_tokens(std::size_t tokens, std::size_t max_tokens) {
  if (tokens <= max_tokens) return {};
  return input_validation_fail(
      fmt::format("`inputs` must have less than {} tokens. Given: {}", max_tokens, tokens));
}

api_result<void> check_ids(std::span<const std::uint32_t> ids) {
  if (ids.empty()) return empty_fail("`input_ids` cannot be empty");
  return {};
}

}  // namespace safetensors::server::detail
