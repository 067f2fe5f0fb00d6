// Encoding: added tokens -> BertNormalizer -> BertPreTokenizer -> WordPiece per segment, then
// truncation and the post-processor template (tokenizers tokenizer/mod.rs encode/post_process).
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "core/try.hpp"
#include "model/tokenizer/state.hpp"
#include "model/tokenizer/utf8.hpp"

namespace safetensors::model {

namespace {

using detail::added_match;
using detail::word_piece;

/// One sequence before post-processing.
struct sequence_encoding {
  std::vector<std::int32_t> ids;
  std::vector<std::string> tokens;
  std::vector<std::pair<std::size_t, std::size_t>> offsets;
  void keep(std::size_t n, truncation_side side) {
    if (n >= ids.size()) return;
    const auto drop = static_cast<std::ptrdiff_t>(ids.size() - n);
    if (side == truncation_side::right) {
      ids.resize(n);
      tokens.resize(n);
      offsets.resize(n);
    } else {
      ids.erase(ids.begin(), ids.begin() + drop);
      tokens.erase(tokens.begin(), tokens.begin() + drop);
      offsets.erase(offsets.begin(), offsets.begin() + drop);
    }
  }
};

/// Reused buffers: encoding allocates nothing per character.
struct scratch {
  detail::normalized_text norm;
  std::vector<added_match> raw_matches;
  std::vector<added_match> norm_matches;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> words;
  std::vector<word_piece> pieces;
};

class sequence_encoder {
 public:
  sequence_encoder(const detail::tokenizer_state& t, std::string_view text, sequence_encoding& out)
      : t_(t), text_(text), out_(out), s_(buffers()) {}

  void run() {
    const auto n = static_cast<std::uint32_t>(text_.size());
    s_.raw_matches.clear();
    t_.added.raw().find(text_, 0, n, t_.added.tokens(), s_.raw_matches);
    std::uint32_t pos = 0;
    for (const added_match& m : s_.raw_matches) {
      segment(pos, m.begin);
      push(t_.added.tokens()[m.token].id, std::string(text_.substr(m.begin, m.end - m.begin)),
           m.begin, m.end);
      pos = m.end;
    }
    segment(pos, n);
  }

 private:
  static scratch& buffers() {
    thread_local scratch s;
    return s;
  }

  void push(std::int32_t id, std::string token, std::size_t begin, std::size_t end) {
    out_.ids.push_back(id);
    out_.tokens.push_back(std::move(token));
    out_.offsets.emplace_back(begin, end);
  }

  void segment(std::uint32_t first, std::uint32_t last) {
    if (first >= last) return;
    auto& norm = s_.norm;
    norm.clear();
    detail::normalize(t_.normalizer, text_, first, last, norm);
    const auto size = static_cast<std::uint32_t>(norm.text.size());
    if (t_.added.normalized().empty()) {
      words(0, size);
      return;
    }
    s_.norm_matches.clear();
    t_.added.normalized().find(norm.text, 0, size, t_.added.tokens(), s_.norm_matches);
    std::uint32_t pos = 0;
    // The matches are copied out: words() reuses no match buffer, but keep it obviously safe.
    const std::vector<added_match> matches = s_.norm_matches;
    for (const added_match& m : matches) {
      words(pos, m.begin);
      push(t_.added.tokens()[m.token].id, norm.text.substr(m.begin, m.end - m.begin),
           norm.begin[m.begin], norm.end[m.end - 1]);
      pos = m.end;
    }
    words(pos, size);
  }

  void words(std::uint32_t first, std::uint32_t last) {
    const auto& norm = s_.norm;
    s_.words.clear();
    detail::pre_tokenize(t_.pre_tokenizer, norm.text, first, last, s_.words);
    const std::string_view text(norm.text);
    for (const auto& [wb, we] : s_.words) {
      s_.pieces.clear();
      t_.model.tokenize(text.substr(wb, we - wb), s_.pieces);
      for (const word_piece& p : s_.pieces) {
        std::string token;
        if (p.unknown) {
          token = t_.model.unk_token();
        } else if (p.continuation) {
          token.reserve(t_.model.prefix().size() + (p.end - p.begin));
          token.append(t_.model.prefix()).append(text.substr(wb + p.begin, p.end - p.begin));
        } else {
          token.assign(text.substr(wb + p.begin, p.end - p.begin));
        }
        push(p.id, std::move(token), norm.begin[wb + p.begin], norm.end[wb + p.end - 1]);
      }
    }
  }

  const detail::tokenizer_state& t_;
  std::string_view text_;
  sequence_encoding& out_;
  scratch& s_;
};

result<sequence_encoding> encode_sequence(const detail::tokenizer_state& t, std::string_view text) {
  if (text.size() >= std::numeric_limits<std::uint32_t>::max()) {
    return fail(errc::invalid_argument,
                fmt::format("input text: {} bytes is too long (limit 4 GiB)", text.size()));
  }
  sequence_encoding out;
  out.ids.reserve(text.size() / 4 + 4);
  out.tokens.reserve(text.size() / 4 + 4);
  out.offsets.reserve(text.size() / 4 + 4);
  sequence_encoder(t, text, out).run();
  return out;
}

// tokenizers utils/truncation.rs truncate_encodings, stride 0.
result<bool> truncate(detail::truncation_strategy strategy, std::size_t limit, truncation_side side,
                      sequence_encoding& a, sequence_encoding* b) {
  const std::size_t n_a = a.ids.size();
  const std::size_t n_b = b ? b->ids.size() : 0;
  const std::size_t total = n_a + n_b;
  if (total <= limit) return false;
  if (limit == 0) {
    a.keep(0, side);
    if (b) b->keep(0, side);
    return true;
  }
  if (strategy == detail::truncation_strategy::longest_first) {
    if (!b) {
      a.keep(limit, side);
      return true;
    }
    std::size_t n1 = std::min(n_a, n_b);
    std::size_t n2 = n1 > limit ? n1 : std::max(n1, limit - n1);
    if (n1 + n2 > limit) {
      n1 = limit / 2;
      n2 = n1 + limit % 2;
    }
    if (n_a > n_b) std::swap(n1, n2);
    a.keep(n1, side);
    b->keep(n2, side);
    return true;
  }
  const bool first = strategy == detail::truncation_strategy::only_first;
  if (!first && !b) {
    return fail(errc::invalid_argument, "truncation only_second: needs a second sequence");
  }
  sequence_encoding& target = first ? a : *b;
  const std::size_t remove = total - limit;
  if (target.ids.size() <= remove) {
    return fail(
        errc::invalid_argument,
        fmt::format("truncation: the sequence to truncate is too short for max_length {}", limit));
  }
  target.keep(target.ids.size() - remove, side);
  return true;
}

void append(encoding& e, sequence_encoding&& s, std::int32_t type_id) {
  e.ids.insert(e.ids.end(), s.ids.begin(), s.ids.end());
  e.type_ids.insert(e.type_ids.end(), s.ids.size(), type_id);
  std::move(s.tokens.begin(), s.tokens.end(), std::back_inserter(e.tokens));
  e.offsets.insert(e.offsets.end(), s.offsets.begin(), s.offsets.end());
  e.special_tokens_mask.insert(e.special_tokens_mask.end(), s.ids.size(), 0);
}

void append_special(encoding& e, const detail::template_piece& p) {
  for (std::size_t i = 0; i < p.ids.size(); ++i) {
    e.ids.push_back(p.ids[i]);
    e.type_ids.push_back(p.type_id);
    e.tokens.push_back(p.tokens[i]);
    e.offsets.emplace_back(0, 0);
    e.special_tokens_mask.push_back(1);
  }
}

}  // namespace

std::size_t detail::post_processor::added(bool is_pair) const noexcept {
  std::size_t n = 0;
  for (const auto& p : is_pair ? pair : single) n += p.is_sequence ? 0 : p.ids.size();
  return n;
}

void detail::tokenizer_state::set_id(std::int32_t id, std::string_view token) {
  const auto index = static_cast<std::size_t>(id);
  if (index >= id_to_token.size()) {
    id_to_token.resize(index + 1);
    has_token.resize(index + 1, 0);
  }
  id_to_token[index] = std::string(token);
  has_token[index] = 1;
}

tokenizer::tokenizer(std::unique_ptr<state> p) : state_(std::move(p)) {}
tokenizer::tokenizer(tokenizer&&) noexcept = default;
tokenizer& tokenizer::operator=(tokenizer&&) noexcept = default;
tokenizer::~tokenizer() = default;

result<encoding> tokenizer::encode(std::string_view text, const encode_options& opts) const {
  return encode_impl(text, nullptr, opts);
}

result<encoding> tokenizer::encode_pair(std::string_view first, std::string_view second,
                                        const encode_options& opts) const {
  return encode_impl(first, &second, opts);
}

result<encoding> tokenizer::encode_impl(std::string_view first, const std::string_view* second,
                                        const encode_options& opts) const {
  const detail::tokenizer_state& t = *state_;
  const bool is_pair = second != nullptr;
  const bool specials = opts.add_special_tokens && t.post.present;
  if (specials && is_pair && t.post.pair.empty()) {
    return fail(errc::invalid_argument, fmt::format("{}: no pair template", t.source));
  }
  auto a = ST_TRY(encode_sequence(t, first));
  std::optional<sequence_encoding> b;
  if (is_pair) b = ST_TRY(encode_sequence(t, *second));
  if (opts.offsets == offset_unit::chars) {
    detail::to_char_offsets(first, a.offsets);
    if (is_pair) detail::to_char_offsets(*second, b->offsets);
  }
  encoding e;
  if (opts.truncate) {
    const std::size_t max_length = opts.max_length ? opts.max_length : t.model_max_length;
    const std::size_t added = specials ? t.post.added(is_pair) : 0;
    if (max_length < added) {
      return fail(errc::invalid_argument,
                  fmt::format("max_length {}: smaller than the {} special tokens added", max_length,
                              added));
    }
    e.truncated = ST_TRY(
        truncate(t.strategy, max_length - added, opts.direction, a, is_pair ? &*b : nullptr));
  }
  if (!specials) {
    append(e, std::move(a), 0);
    if (is_pair) append(e, std::move(*b), 1);
    return e;
  }
  for (const auto& piece : is_pair ? t.post.pair : t.post.single) {
    if (!piece.is_sequence) {
      append_special(e, piece);
    } else if (piece.sequence == 0) {
      append(e, std::move(a), piece.type_id);
    } else if (is_pair) {
      append(e, std::move(*b), piece.type_id);
    }
  }
  return e;
}

std::optional<std::int32_t> tokenizer::token_to_id(std::string_view token) const {
  const auto added = state_->added.find(token);
  if (added >= 0) return state_->added.tokens()[static_cast<std::size_t>(added)].id;
  const auto id = state_->model.find(token);
  if (id >= 0) return id;
  return std::nullopt;
}

std::optional<std::string_view> tokenizer::id_to_token(std::int32_t id) const {
  const auto added = state_->added.find_id(id);
  if (added >= 0) return state_->added.tokens()[static_cast<std::size_t>(added)].content;
  const auto index = static_cast<std::size_t>(id);
  if (id >= 0 && index < state_->has_token.size() && state_->has_token[index]) {
    return state_->id_to_token[index];
  }
  return std::nullopt;
}

std::size_t tokenizer::vocab_size() const noexcept {
  std::size_t n = state_->model.size();
  for (const auto& token : state_->added.tokens()) {
    const auto index = static_cast<std::size_t>(token.id);
    if (token.id < 0 || index >= state_->has_token.size() || !state_->has_token[index]) ++n;
  }
  return n;
}

std::size_t tokenizer::model_max_length() const noexcept { return state_->model_max_length; }
std::int32_t tokenizer::pad_id() const noexcept { return state_->pad_id; }

}  // namespace safetensors::model
