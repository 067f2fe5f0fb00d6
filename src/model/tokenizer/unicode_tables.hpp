// The Unicode data of the reference's BERT normalizer and pre-tokenizer as code point ranges,
// generated into unicode_tables.cpp by scripts/gen_unicode_tables.py (which says where each
// table comes from and why). chars.cpp turns them into lookup tables.
#pragma once

#include <cstddef>
#include <cstdint>

namespace safetensors::model::detail::unicode_tables {

/// [first, last] all have `value`.
struct flag_range {
  char32_t first;
  char32_t last;
  std::uint8_t value;
};
/// c in [first, last] with (c - first) % stride == 0 lowercases to c + delta.
struct lowercase_run {
  char32_t first;
  char32_t last;
  std::uint32_t stride;
  std::int32_t delta;
};

extern const flag_range flag_ranges[];  ///< char_flags (chars.hpp) of every code point
extern const std::size_t flag_ranges_count;
extern const flag_range combining_ranges[];  ///< nonzero canonical combining classes (9.0)
extern const std::size_t combining_ranges_count;
extern const lowercase_run lowercase_runs[];  ///< simple lowercase mappings (Rust std)
extern const std::size_t lowercase_runs_count;

}  // namespace safetensors::model::detail::unicode_tables
