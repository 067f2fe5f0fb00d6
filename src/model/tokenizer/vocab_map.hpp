// A flat open-addressing hash map from token text to id: one allocation for the slots, one
// string arena for the keys; lookups by string_view allocate nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace safetensors::model::detail {

class vocab_map {
 public:
  /// Inserts or overwrites (the last insertion of a key wins, as in a JSON object / HashMap).
  void insert(std::string_view key, std::int32_t id);
  /// The id of `key`, or -1.
  std::int32_t find(std::string_view key) const noexcept;
  std::size_t size() const noexcept { return count_; }
  /// Longest key in bytes (bounds the WordPiece longest-match search).
  std::size_t max_key_length() const noexcept { return max_len_; }

 private:
  struct slot {
    std::uint64_t hash = 0;
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
    std::int32_t id = -1;  ///< -1: empty
  };
  void grow();
  std::string_view key_of(const slot& s) const noexcept {
    return std::string_view(arena_).substr(s.offset, s.length);
  }
  std::vector<slot> slots_;
  std::string arena_;
  std::size_t count_ = 0;
  std::size_t max_len_ = 0;
};

std::uint64_t hash_bytes(std::string_view s) noexcept;

}  // namespace safetensors::model::detail
