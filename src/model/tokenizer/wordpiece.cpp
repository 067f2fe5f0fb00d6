#include "model/tokenizer/wordpiece.hpp"

#include <algorithm>

#include "model/tokenizer/utf8.hpp"

namespace safetensors::model::detail {

namespace {
bool is_cont(char b) noexcept { return (static_cast<unsigned char>(b) & 0xC0) == 0x80; }

// Largest char boundary <= `pos` in `word` (pos <= word.size()).
std::size_t floor_boundary(std::string_view word, std::size_t pos) noexcept {
  while (pos > 0 && pos < word.size() && is_cont(word[pos])) --pos;
  return pos;
}
}  // namespace

void wordpiece_model::add(std::string_view token, std::int32_t id) {
  full_.insert(token, id);
  pending_.emplace_back(std::string(token), id);
}

bool wordpiece_model::finish(std::string unk_token, std::string prefix,
                             std::size_t max_input_chars_per_word) {
  unk_ = std::move(unk_token);
  prefix_ = std::move(prefix);
  max_chars_ = max_input_chars_per_word;
  // The continuation map is built in insertion order so that duplicates resolve as in full_.
  for (const auto& [token, id] : pending_) {
    if (prefix_.empty()) {
      continuation_.insert(token, id);
    } else if (token.size() > prefix_.size() && token.compare(0, prefix_.size(), prefix_) == 0) {
      continuation_.insert(std::string_view(token).substr(prefix_.size()), id);
    }
  }
  pending_.clear();
  pending_.shrink_to_fit();
  unk_id_ = full_.find(unk_);
  return unk_id_ >= 0;
}

void wordpiece_model::tokenize(std::string_view word, std::vector<word_piece>& out) const {
  const auto whole = static_cast<std::uint32_t>(word.size());
  if (count_chars(word) > max_chars_) {
    out.push_back({unk_id_, 0, whole, false, true});
    return;
  }
  const std::size_t first = out.size();
  std::size_t start = 0;
  while (start < word.size()) {
    const vocab_map& map = start == 0 ? full_ : continuation_;
    std::size_t end = floor_boundary(word, std::min(word.size(), start + map.max_key_length()));
    std::int32_t id = -1;
    while (end > start) {
      id = map.find(word.substr(start, end - start));
      if (id >= 0) break;
      end = floor_boundary(word, end - 1);
    }
    if (id < 0) {
      out.resize(first);
      out.push_back({unk_id_, 0, whole, false, true});
      return;
    }
    out.push_back(
        {id, static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(end), start > 0, false});
    start = end;
  }
}

}  // namespace safetensors::model::detail
