// Character classes exactly as Hugging Face tokenizers 0.22 decides them (normalizers/bert.rs,
// pre_tokenizers/bert.rs), each from the Unicode version the reference uses (docs/MODEL.md,
// "Unicode versions"): looked up in tables built once from unicode_tables.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace safetensors::model::detail {

/// Bits of char_table::flags. The first five are the generated flag_ranges' values.
enum char_flag : std::uint8_t {
  /// Cc, Cf or Co as of Unicode 8.0 (unicode_categories is_other): deleted by clean_text,
  /// except '\t', '\n', '\r'. Unassigned code points (Cn) are kept, as the reference does.
  flag_other = 1,
  /// White_Space (Rust char::is_whitespace): '\t'..'\r', ' ', U+0085, Zs, U+2028, U+2029.
  flag_whitespace = 2,
  /// ASCII punctuation (Rust is_ascii_punctuation, symbols included) or P* as of Unicode 8.0.
  flag_punctuation = 4,
  /// Mn as of Unicode 8.0: removed after NFD when accents are stripped.
  flag_nonspacing_mark = 8,
  /// Has a canonical decomposition in the reference's NFD (Unicode 9.0 tables). The mapping
  /// itself is utf8proc's: decompositions of assigned characters never change (Unicode's
  /// normalization stability policy).
  flag_decomposes = 16,
  /// Nonzero canonical combining class in the reference's NFD (Unicode 9.0 tables).
  flag_combining = 32,
  /// Changed by Rust's char::to_lowercase (Unicode 17.0).
  flag_lowercase = 64,
};

class char_table {
 public:
  /// The table, built on first use (thread-safe).
  static const char_table& get();

  std::uint8_t flags(char32_t c) const noexcept {
    if (c > 0x10FFFF) return 0;
    return blocks_[index_[c >> block_bits]][c & (block_size - 1)];
  }
  /// flags() of the ASCII characters: ascii_flags()[c] for c < 0x80, one load.
  const std::uint8_t* ascii_flags() const noexcept { return blocks_[index_[0]].data(); }
  /// Canonical combining class as the reference's NFD sees it (0 for code points after 9.0).
  std::uint8_t combining_class(char32_t c) const noexcept {
    return (flags(c) & flag_combining) ? find_combining_class(c) : 0;
  }
  /// Rust's char::to_lowercase when it is one character (every code point but U+0130).
  char32_t simple_lowercase(char32_t c) const noexcept {
    return (flags(c) & flag_lowercase) ? find_lowercase(c) : c;
  }

 private:
  char_table();
  std::uint8_t find_combining_class(char32_t c) const noexcept;
  char32_t find_lowercase(char32_t c) const noexcept;
  static constexpr unsigned block_bits = 7;
  static constexpr unsigned block_size = 1u << block_bits;
  std::vector<std::uint16_t> index_;  ///< block number of each block of code points
  std::vector<std::array<std::uint8_t, block_size>> blocks_;  ///< distinct blocks of flags
  std::vector<std::pair<char32_t, char32_t>> lowercase_;      ///< sorted (c, lowercase)
};

/// Rust char::is_whitespace (what the reference's pre-tokenizer and added tokens use).
inline bool is_bert_whitespace(char32_t c) noexcept {
  return (char_table::get().flags(c) & flag_whitespace) != 0;
}

/// The CJK ideograph ranges of normalizers/bert.rs is_chinese_char (not a Unicode property:
/// the reference's own list, kept as is).
bool is_chinese_char(char32_t c) noexcept;

}  // namespace safetensors::model::detail
