#include "model/tokenizer/chars.hpp"

#include <algorithm>
#include <map>

#include "model/tokenizer/unicode_tables.hpp"

namespace safetensors::model::detail {

namespace ut = unicode_tables;

namespace {

template <typename Range>
const Range* find_range(const Range* ranges, std::size_t count, char32_t c) noexcept {
  const Range* end = ranges + count;
  const Range* it =
      std::upper_bound(ranges, end, c, [](char32_t v, const Range& r) { return v < r.first; });
  if (it == ranges) return nullptr;
  --it;
  return c <= it->last ? it : nullptr;
}

}  // namespace

const char_table& char_table::get() {
  static const char_table table;
  return table;
}

char_table::char_table() {
  constexpr char32_t code_points = 0x110000;
  std::vector<std::uint8_t> all(code_points, 0);
  for (std::size_t i = 0; i < ut::flag_ranges_count; ++i) {
    const auto& r = ut::flag_ranges[i];
    for (char32_t c = r.first; c <= r.last; ++c) all[c] = r.value;
  }
  for (std::size_t i = 0; i < ut::combining_ranges_count; ++i) {
    const auto& r = ut::combining_ranges[i];
    for (char32_t c = r.first; c <= r.last; ++c) all[c] |= flag_combining;
  }
  for (std::size_t i = 0; i < ut::lowercase_runs_count; ++i) {
    const auto& r = ut::lowercase_runs[i];
    for (char32_t c = r.first; c <= r.last; c += r.stride) {
      all[c] |= flag_lowercase;
      lowercase_.emplace_back(c, static_cast<char32_t>(static_cast<std::int32_t>(c) + r.delta));
    }
  }
  all[0x130] |= flag_lowercase;
  std::sort(lowercase_.begin(), lowercase_.end());

  std::map<std::array<std::uint8_t, block_size>, std::uint16_t> seen;
  index_.resize(code_points / block_size);
  for (char32_t b = 0; b < code_points / block_size; ++b) {
    std::array<std::uint8_t, block_size> block{};
    std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(b * block_size), block_size,
                block.begin());
    const auto [it, added] = seen.emplace(block, static_cast<std::uint16_t>(blocks_.size()));
    if (added) blocks_.push_back(block);
    index_[b] = it->second;
  }
}

std::uint8_t char_table::find_combining_class(char32_t c) const noexcept {
  const auto* r = find_range(ut::combining_ranges, ut::combining_ranges_count, c);
  return r ? r->value : 0;
}

char32_t char_table::find_lowercase(char32_t c) const noexcept {
  const auto it = std::lower_bound(lowercase_.begin(), lowercase_.end(), std::make_pair(c, c),
                                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return it != lowercase_.end() && it->first == c ? it->second : c;
}

bool is_chinese_char(char32_t c) noexcept {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

}  // namespace safetensors::model::detail
