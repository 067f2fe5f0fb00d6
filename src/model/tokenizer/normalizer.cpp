#include "model/tokenizer/normalizer.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <optional>

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
  void byte(char b, std::uint32_t begin, std::uint32_t end) {
    out.text.push_back(b);
    out.begin.push_back(begin);
    out.end.push_back(end);
  }
  void cp(char32_t c, std::uint32_t begin, std::uint32_t end) {
    const std::size_t n = append_utf8(out.text, c);
    out.begin.insert(out.begin.end(), n, begin);
    out.end.insert(out.end.end(), n, end);
  }
  // Rust char::to_lowercase: the simple mapping, except U+0130 whose mapping is two chars.
  void lowercased(const char_table& t, char32_t c, bool lowercase, std::uint32_t begin,
                  std::uint32_t end) {
    if (!lowercase) {
      cp(c, begin, end);
    } else if (c == 0x130) {
      cp('i', begin, end);
      cp(0x307, begin, end);
    } else {
      cp(t.simple_lowercase(c), begin, end);
    }
  }
};

// The reference's strip_accents: NFD (unicode-normalization-alignments: full canonical
// decomposition, then each run of non-starters stably sorted by combining class), then every Mn
// removed, then lowercase. Alignments are the reference's too: NormalizedString::transform
// gives the k-th non-inserted output character the range of the k-th input character, and an
// inserted one (the 2nd.. character of a decomposition) the range of the last input consumed,
// so a reordered mark takes the range of the position it moves to.
class nfd_stripper {
 public:
  nfd_stripper(const char_table& t, emitter& e, bool lowercase, std::uint32_t first)
      : t_(t), e_(e), lowercase_(lowercase), last_{first, first} {}

  void push(char32_t c, std::uint32_t begin, std::uint32_t end) {
    if (!(t_.flags(c) & (flag_decomposes | flag_combining))) {
      // A starter that stays whole: first of its run, so it keeps its own range (most text).
      starter(c, true, begin, end);
      return;
    }
    std::array<utf8proc_int32_t, 8> parts{};
    std::size_t n = 1;
    parts[0] = static_cast<utf8proc_int32_t>(c);
    if (t_.flags(c) & flag_decomposes) {
      int boundclass = 0;
      const auto got = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), parts.data(),
                                               static_cast<utf8proc_ssize_t>(parts.size()),
                                               UTF8PROC_DECOMPOSE, &boundclass);
      // Canonical decompositions are at most 4 characters long (Unicode 15.0).
      if (got > 0 && static_cast<std::size_t>(got) <= parts.size()) {
        n = static_cast<std::size_t>(got);
      } else {
        parts[0] = static_cast<utf8proc_int32_t>(c);
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      const auto part = static_cast<char32_t>(parts[i]);
      const std::uint8_t ccc = t_.combining_class(part);
      if (ccc == 0) {
        starter(part, i == 0, begin, end);
        continue;
      }
      items_.push_back({part, ccc, i > 0});
      if (i == 0) inputs_.push_back({begin, end});
    }
  }

  /// Emits the pending non-starters (called before a starter and at the end).
  void flush() {
    if (!items_.empty()) flush_run();
  }

 private:
  // A starter ends the run of non-starters before it and is never moved: emitted at once.
  void starter(char32_t c, bool consumes, std::uint32_t begin, std::uint32_t end) {
    flush();
    if (consumes) last_ = {begin, end};
    if (!(t_.flags(c) & flag_nonspacing_mark)) {
      e_.lowercased(t_, c, lowercase_, last_.first, last_.second);
    }
  }

  void flush_run() {
    // Stable sort by combining class: insertion sort for the usual few marks (no allocation),
    // std::stable_sort for long runs (adversarial text of many marks stays O(n log n)).
    if (items_.size() > 32) {
      std::stable_sort(items_.begin(), items_.end(),
                       [](const item& a, const item& b) { return a.ccc < b.ccc; });
    }
    for (std::size_t i = 1; i < items_.size(); ++i) {
      const item moving = items_[i];
      std::size_t j = i;
      for (; j > 0 && items_[j - 1].ccc > moving.ccc; --j) items_[j] = items_[j - 1];
      items_[j] = moving;
    }
    std::size_t k = 0;
    for (const item& it : items_) {
      if (!it.inserted) last_ = inputs_[k++];
      if (t_.flags(it.cp) & flag_nonspacing_mark) continue;
      e_.lowercased(t_, it.cp, lowercase_, last_.first, last_.second);
    }
    items_.clear();
    inputs_.clear();
  }

  struct item {
    char32_t cp;
    std::uint8_t ccc;
    bool inserted;
  };
  const char_table& t_;
  emitter& e_;
  bool lowercase_;
  std::pair<std::uint32_t, std::uint32_t> last_;
  std::vector<item> items_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> inputs_;
};

// clean_text and handle_chinese_chars for one non-ASCII character, then strip or lowercase.
void normalize_char(const normalizer_config& config, const char_table& t, char32_t c,
                    std::uint32_t begin, std::uint32_t end, emitter& e, nfd_stripper* strip) {
  if (config.clean_text) {
    const auto f = t.flags(c);
    if (c == 0 || c == replacement_char || (f & flag_other)) return;
    if (f & flag_whitespace) c = ' ';
  }
  const bool cjk = config.handle_chinese_chars && is_chinese_char(c);
  if (strip) {
    if (cjk) strip->push(' ', begin, end);
    strip->push(c, begin, end);
    if (cjk) strip->push(' ', begin, end);
    return;
  }
  if (cjk) e.byte(' ', begin, end);
  e.lowercased(t, c, config.lowercase, begin, end);
  if (cjk) e.byte(' ', begin, end);
}

}  // namespace

void normalize(const normalizer_config& config, std::string_view original, std::uint32_t first,
               std::uint32_t last, normalized_text& out) {
  const std::size_t expect = out.text.size() + (last - first);
  out.text.reserve(expect);
  out.begin.reserve(expect);
  out.end.reserve(expect);
  const char_table& t = char_table::get();
  emitter e{out};
  std::optional<nfd_stripper> strip;
  if (config.enabled && config.strips_accents()) strip.emplace(t, e, config.lowercase, first);
  nfd_stripper* stripper = strip ? &*strip : nullptr;
  const std::string_view segment = original.substr(0, last);
  std::uint32_t pos = first;
  while (pos < last) {
    const auto b = static_cast<unsigned char>(original[pos]);
    if (b < 0x80 && config.enabled) {
      // ASCII: a starter that nothing decomposes, so it ends the pending run of marks.
      const ascii_action action = config.clean_text ? ascii_actions[b] : ascii_action::keep;
      if (action != ascii_action::drop) {
        if (stripper) stripper->flush();
        char ch = action == ascii_action::space ? ' ' : static_cast<char>(b);
        if (config.lowercase && ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + ('a' - 'A'));
        e.byte(ch, pos, pos + 1);
      }
      ++pos;
      continue;
    }
    char32_t c = 0;
    const auto len = static_cast<std::uint32_t>(decode_utf8(segment, pos, c));
    if (config.enabled) {
      normalize_char(config, t, c, pos, pos + len, e, stripper);
    } else {
      e.cp(c, pos, pos + len);
    }
    pos += len;
  }
  if (stripper) stripper->flush();
}

void pre_tokenize(pre_tokenizer_kind kind, std::string_view text, std::uint32_t first,
                  std::uint32_t last, std::vector<std::pair<std::uint32_t, std::uint32_t>>& words) {
  if (first >= last) return;
  if (kind == pre_tokenizer_kind::none) {
    words.emplace_back(first, last);
    return;
  }
  const char_table& t = char_table::get();
  const std::uint8_t* ascii = t.ascii_flags();
  std::uint32_t word_start = first;
  std::uint32_t pos = first;
  while (pos < last) {
    const auto b = static_cast<unsigned char>(text[pos]);
    std::uint32_t len = 1;
    std::uint8_t f = 0;
    if (b < 0x80) {
      f = ascii[b];
    } else {
      char32_t c = 0;
      len = static_cast<std::uint32_t>(decode_utf8(text, pos, c));
      f = t.flags(c);
    }
    const bool space = (f & flag_whitespace) != 0;
    if (space || (f & flag_punctuation)) {
      if (pos > word_start) words.emplace_back(word_start, pos);
      if (!space) words.emplace_back(pos, pos + len);
      word_start = pos + len;
    }
    pos += len;
  }
  if (last > word_start) words.emplace_back(word_start, last);
}

}  // namespace safetensors::model::detail
