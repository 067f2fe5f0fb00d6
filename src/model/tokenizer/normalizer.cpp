#include "model/tokenizer/normalizer.hpp"

#include <utf8proc.h>

#include <array>

#include "model/tokenizer/chars.hpp"
#include "model/tokenizer/utf8.hpp"

namespace safetensors::model::detail {

namespace {

// What clean_text does to an ASCII byte.
enum class ascii_action : std::uint8_t { keep, drop, space };

constexpr std::array<ascii_action, 128> make_ascii_actions() {
  std::array<ascii_action, 128> t{};
  for (std::size_t c = 0; c < 128; ++c) {
    if (c == '\t' || c == '\n' || c == '\r') {
      t[c] = ascii_action::space;
    } else if (c < 0x20 || c == 0x7F) {
      t[c] = ascii_action::drop;  // Cc (including \v and \f, which are deleted before mapping)
    } else {
      t[c] = ascii_action::keep;
    }
  }
  return t;
}
constexpr auto ascii_actions = make_ascii_actions();

struct emitter {
  normalized_text& out;
  std::uint32_t begin;
  std::uint32_t end;
  void byte(char b) {
    out.text.push_back(b);
    out.begin.push_back(begin);
    out.end.push_back(end);
  }
  void cp(char32_t c) {
    const std::size_t n = append_utf8(out.text, c);
    out.begin.insert(out.begin.end(), n, begin);
    out.end.insert(out.end.end(), n, end);
  }
};

// Rust char::to_lowercase: the simple mapping, except U+0130 whose full mapping is two chars.
void emit_lowercased(emitter& e, char32_t c, bool lowercase) {
  if (!lowercase) {
    e.cp(c);
  } else if (c == 0x130) {
    e.cp('i');
    e.cp(0x307);
  } else {
    e.cp(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
  }
}

void emit_stripped(emitter& e, char32_t c, const normalizer_config& config) {
  if (!config.strips_accents()) {
    emit_lowercased(e, c, config.lowercase);
    return;
  }
  std::array<utf8proc_int32_t, 32> parts{};
  int last_boundclass = 0;
  const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), parts.data(),
                                         static_cast<utf8proc_ssize_t>(parts.size()),
                                         UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n <= 0 || static_cast<std::size_t>(n) > parts.size()) {
    emit_lowercased(e, c, config.lowercase);
    return;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) {
    const auto part = static_cast<char32_t>(parts[static_cast<std::size_t>(i)]);
    if (!is_nonspacing_mark(part)) emit_lowercased(e, part, config.lowercase);
  }
}

void normalize_char(const normalizer_config& config, char32_t c, emitter& e) {
  if (config.clean_text) {
    if (c == 0 || c == replacement_char || is_bert_control(c)) return;
    if (is_bert_whitespace(c)) c = ' ';
  }
  if (config.handle_chinese_chars && is_chinese_char(c)) {
    e.byte(' ');
    emit_stripped(e, c, config);
    e.byte(' ');
    return;
  }
  emit_stripped(e, c, config);
}

}  // namespace

void normalize(const normalizer_config& config, std::string_view original, std::uint32_t first,
               std::uint32_t last, normalized_text& out) {
  const std::size_t expect = out.text.size() + (last - first);
  out.text.reserve(expect);
  out.begin.reserve(expect);
  out.end.reserve(expect);
  std::uint32_t pos = first;
  while (pos < last) {
    const auto b = static_cast<unsigned char>(original[pos]);
    if (b < 0x80 && config.enabled) {
      const ascii_action action = config.clean_text ? ascii_actions[b] : ascii_action::keep;
      if (action != ascii_action::drop) {
        char ch = action == ascii_action::space ? ' ' : static_cast<char>(b);
        if (config.lowercase && ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + ('a' - 'A'));
        out.text.push_back(ch);
        out.begin.push_back(pos);
        out.end.push_back(pos + 1);
      }
      ++pos;
      continue;
    }
    char32_t c = 0;
    const std::string_view segment = original.substr(0, last);
    const auto len = static_cast<std::uint32_t>(decode_utf8(segment, pos, c));
    emitter e{out, pos, pos + len};
    if (config.enabled) {
      normalize_char(config, c, e);
    } else {
      e.cp(c);
    }
    pos += len;
  }
}

void pre_tokenize(pre_tokenizer_kind kind, std::string_view text, std::uint32_t first,
                  std::uint32_t last, std::vector<std::pair<std::uint32_t, std::uint32_t>>& words) {
  if (first >= last) return;
  if (kind == pre_tokenizer_kind::none) {
    words.emplace_back(first, last);
    return;
  }
  std::uint32_t word_start = first;
  std::uint32_t pos = first;
  while (pos < last) {
    char32_t c = 0;
    const auto b = static_cast<unsigned char>(text[pos]);
    std::uint32_t len = 1;
    if (b < 0x80) {
      c = b;
    } else {
      len = static_cast<std::uint32_t>(decode_utf8(text, pos, c));
    }
    const bool space = is_bert_whitespace(c);
    if (space || is_bert_punctuation(c)) {
      if (pos > word_start) words.emplace_back(word_start, pos);
      if (!space) words.emplace_back(pos, pos + len);
      word_start = pos + len;
    }
    pos += len;
  }
  if (last > word_start) words.emplace_back(word_start, last);
}

}  // namespace safetensors::model::detail
