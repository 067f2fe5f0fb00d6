#include "model/tokenizer/added_vocab.hpp"

#include <utf8proc.h>

#include "model/tokenizer/chars.hpp"
#include "model/tokenizer/utf8.hpp"

namespace safetensors::model::detail {

namespace {

// Rust char::is_alphanumeric (Alphabetic or Numeric), approximated by the L* and N* categories.
bool is_word_char(char32_t c) noexcept {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// The character ending just before `pos` (text[first..pos) non-empty).
char32_t char_before(std::string_view text, std::uint32_t pos) noexcept {
  std::uint32_t p = pos - 1;
  while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80 && pos - p < 4) --p;
  char32_t c = 0;
  decode_utf8(text.substr(0, pos), p, c);
  return c;
}

// Start of the run of whitespace that ends at `pos` (not before `first`).
std::uint32_t whitespace_run_start(std::string_view text, std::uint32_t first, std::uint32_t pos) {
  while (pos > first) {
    std::uint32_t p = pos - 1;
    while (p > first && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
    char32_t c = 0;
    decode_utf8(text.substr(0, pos), p, c);
    if (!is_bert_whitespace(c)) break;
    pos = p;
  }
  return pos;
}

// End of the run of whitespace that starts at `pos` (not after `last`).
std::uint32_t whitespace_run_end(std::string_view text, std::uint32_t pos, std::uint32_t last) {
  while (pos < last) {
    char32_t c = 0;
    const auto len = static_cast<std::uint32_t>(decode_utf8(text.substr(0, last), pos, c));
    if (!is_bert_whitespace(c)) break;
    pos += len;
  }
  return pos;
}

}  // namespace

void added_matcher::add(std::string_view content, std::size_t token_index) {
  if (content.empty()) return;
  patterns_.push_back({std::string(content), token_index});
  first_byte_[static_cast<unsigned char>(content[0])] = true;
}

void added_matcher::find(std::string_view text, std::uint32_t first, std::uint32_t last,
                         const std::vector<added_token>& tokens,
                         std::vector<added_match>& out) const {
  if (patterns_.empty()) return;
  std::uint32_t pos = first;
  std::uint32_t previous_end = first;  // matched text cannot be claimed twice by lstrip
  while (pos < last) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const pattern* best = nullptr;
    for (const pattern& p : patterns_) {
      if (p.content.size() <= last - pos && text.compare(pos, p.content.size(), p.content) == 0 &&
          (best == nullptr || p.content.size() > best->content.size())) {
        best = &p;
      }
    }
    if (best == nullptr) {
      ++pos;
      continue;
    }
    std::uint32_t begin = pos;
    std::uint32_t end = pos + static_cast<std::uint32_t>(best->content.size());
    const added_token& token = tokens[best->token];
    pos = end;  // non-overlapping iteration continues after the match either way
    if (token.single_word) {
      const bool word_before = begin > first && is_word_char(char_before(text, begin));
      char32_t next = 0;
      const bool word_after =
          end < last && (decode_utf8(text.substr(0, last), end, next), is_word_char(next));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) begin = std::max(whitespace_run_start(text, first, begin), previous_end);
    if (token.rstrip) end = whitespace_run_end(text, end, last);
    out.push_back({best->token, begin, end});
    previous_end = end;
    pos = end;
  }
}

void added_vocab::add(added_token token) {
  const std::size_t index = tokens_.size();
  if (!token.normalized) raw_.add(token.content, index);
  tokens_.push_back(std::move(token));
}

void added_vocab::set_normalized_pattern(std::size_t index, std::string_view normalized_content) {
  normalized_.add(normalized_content, index);
}

std::ptrdiff_t added_vocab::find(std::string_view content) const noexcept {
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].content == content) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

std::ptrdiff_t added_vocab::find_id(std::int32_t id) const noexcept {
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].id == id) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

}  // namespace safetensors::model::detail
