// BertNormalizer (clean text, CJK spacing, NFD + Mn stripping, lowercase) with alignment of
// every normalized byte to the original character it came from, and BertPreTokenizer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safetensors::model::detail {

struct normalizer_config {
  bool enabled = true;  ///< false: no normalizer in the file (text used as is)
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  ///< unset: follow lowercase (tokenizers' rule)
  bool lowercase = true;
  bool strips_accents() const noexcept { return strip_accents.value_or(lowercase); }
};

/// Normalized text; begin[i]/end[i] are the original byte range of the character that
/// produced normalized byte i (offsets into the caller's whole text).
struct normalized_text {
  std::string text;
  std::vector<std::uint32_t> begin;
  std::vector<std::uint32_t> end;
  void clear() noexcept {
    text.clear();
    begin.clear();
    end.clear();
  }
};

/// Appends the normalization of `original[first, last)` to `out`. Invalid UTF-8 is read as
/// U+FFFD per maximal subpart (then dropped by clean_text).
void normalize(const normalizer_config& config, std::string_view original, std::uint32_t first,
               std::uint32_t last, normalized_text& out);

enum class pre_tokenizer_kind { none, bert };

/// Splits normalized `text[first, last)` into words: whitespace removed, each punctuation
/// character its own word (BertPreTokenizer). Appends [begin, end) byte ranges to `words`.
void pre_tokenize(pre_tokenizer_kind kind, std::string_view text, std::uint32_t first,
                  std::uint32_t last, std::vector<std::pair<std::uint32_t, std::uint32_t>>& words);

}  // namespace safetensors::model::detail
