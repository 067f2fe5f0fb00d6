// The WordPiece model (tokenizers models/wordpiece): greedy longest-match-first over a word,
// continuation pieces carrying the prefix ("##"), a single [UNK] for a word that cannot be
// covered or has more than max_input_chars_per_word characters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer/vocab_map.hpp"

namespace safetensors::model::detail {

struct word_piece {
  std::int32_t id;
  std::uint32_t begin;  ///< byte range in the word
  std::uint32_t end;
  bool continuation;  ///< carries the prefix
  bool unknown;       ///< the [UNK] standing for the whole word
};

class wordpiece_model {
 public:
  /// Adds a vocabulary entry (later entries for the same token win).
  void add(std::string_view token, std::int32_t id);
  /// Sets unk/prefix/limit after the vocabulary is complete. False when unk is not in the vocab.
  bool finish(std::string unk_token, std::string prefix, std::size_t max_input_chars_per_word);

  /// Appends the pieces of `word` (normalized, valid UTF-8) to `out`; one piece with id
  /// unk_id() spanning the word when it cannot be split.
  void tokenize(std::string_view word, std::vector<word_piece>& out) const;

  std::int32_t find(std::string_view token) const noexcept { return full_.find(token); }
  std::size_t size() const noexcept { return full_.size(); }
  std::int32_t unk_id() const noexcept { return unk_id_; }
  const std::string& unk_token() const noexcept { return unk_; }
  const std::string& prefix() const noexcept { return prefix_; }
  std::size_t max_input_chars_per_word() const noexcept { return max_chars_; }

 private:
  vocab_map full_;          ///< every token as written
  vocab_map continuation_;  ///< tokens starting with the prefix, keyed without it
  std::vector<std::pair<std::string, std::int32_t>> pending_;
  std::string unk_;
  std::string prefix_ = "##";
  std::int32_t unk_id_ = -1;
  std::size_t max_chars_ = 100;
};

}  // namespace safetensors::model::detail
