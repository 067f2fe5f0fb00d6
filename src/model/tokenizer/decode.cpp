// Decoding (tokenizers decoders/wordpiece.rs) and the normalizer on its own.
#include <fmt/format.h>

#include "model/tokenizer/state.hpp"

namespace safetensors::model {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos;
       pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// decoders/wordpiece.rs cleanup, applied to each token after its leading space was added.
void cleanup(std::string& token) {
  static constexpr std::pair<std::string_view, std::string_view> rules[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},
      {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},   {" do not", " don't"},
      {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
  };
  for (const auto& [from, to] : rules) replace_all(token, from, to);
}

}  // namespace

result<std::string> tokenizer::decode(std::span<const std::int32_t> ids,
                                      bool skip_special_tokens) const {
  const detail::tokenizer_state& t = *state_;
  std::string out;
  std::string piece;
  std::size_t n = 0;
  for (const std::int32_t id : ids) {
    const auto token = id_to_token(id);
    if (!token)
      return fail(errc::invalid_argument, fmt::format("token id {}: not in the vocabulary", id));
    if (skip_special_tokens) {
      const auto added = t.added.find_id(id);
      if (added >= 0 && t.added.tokens()[static_cast<std::size_t>(added)].special) continue;
    }
    piece.assign(*token);
    if (!t.decoder.wordpiece) {
      if (n++ > 0) out.push_back(' ');
      out += piece;
      continue;
    }
    if (n++ > 0) {
      if (piece.compare(0, t.decoder.prefix.size(), t.decoder.prefix) == 0) {
        piece.erase(0, t.decoder.prefix.size());
      } else {
        piece.insert(0, 1, ' ');
      }
    }
    if (t.decoder.cleanup) cleanup(piece);
    out += piece;
  }
  return out;
}

std::string tokenizer::normalize(std::string_view text) const {
  detail::normalized_text norm;
  std::size_t first = 0;
  std::string out;
  // Alignment offsets are 32-bit: normalize huge inputs in 1 GiB slices at char boundaries.
  while (first < text.size()) {
    std::size_t last = std::min(text.size(), first + (std::size_t{1} << 30));
    while (last < text.size() && (static_cast<unsigned char>(text[last]) & 0xC0) == 0x80) --last;
    norm.clear();
    const std::string_view part = text.substr(first, last - first);
    detail::normalize(state_->normalizer, part, 0, static_cast<std::uint32_t>(part.size()), norm);
    out += norm.text;
    first = last;
  }
  return out;
}

}  // namespace safetensors::model
