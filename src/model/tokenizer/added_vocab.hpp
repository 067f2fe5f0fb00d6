// Added tokens (tokenizers tokenizer/added_vocabulary.rs): found in the text before the model
// runs. Tokens with normalized=false are matched in the raw text, the others in the normalized
// text; leftmost-longest, then the single_word / lstrip / rstrip rules.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace safetensors::model::detail {

struct added_token {
  std::string content;
  std::int32_t id = 0;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

struct added_match {
  std::size_t token;  ///< index into added_vocab::tokens()
  std::uint32_t begin;
  std::uint32_t end;
};

/// One matching set (the raw-text or the normalized-text tokens).
class added_matcher {
 public:
  void add(std::string_view content, std::size_t token_index);
  bool empty() const noexcept { return patterns_.empty(); }
  /// Matches in `text[first, last)`; positions absolute in `text`.
  void find(std::string_view text, std::uint32_t first, std::uint32_t last,
            const std::vector<added_token>& tokens, std::vector<added_match>& out) const;

 private:
  struct pattern {
    std::string content;
    std::size_t token;
  };
  std::vector<pattern> patterns_;
  std::array<bool, 256> first_byte_{};
};

class added_vocab {
 public:
  void add(added_token token);
  const std::vector<added_token>& tokens() const noexcept { return tokens_; }
  const added_matcher& raw() const noexcept { return raw_; }
  const added_matcher& normalized() const noexcept { return normalized_; }
  /// Index of the token with this content, or -1.
  std::ptrdiff_t find(std::string_view content) const noexcept;
  /// Index of the token with this id, or -1.
  std::ptrdiff_t find_id(std::int32_t id) const noexcept;
  /// The normalized form of normalized tokens is only known once the normalizer is: called
  /// by the loader with each normalized token's normalized content.
  void set_normalized_pattern(std::size_t index, std::string_view normalized_content);

 private:
  std::vector<added_token> tokens_;
  added_matcher raw_;
  added_matcher normalized_;
};

}  // namespace safetensors::model::detail
