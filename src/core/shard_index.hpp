// Private: the index of a sharded checkpoint (`*.index.json`: weight_map + metadata.total_size)
// and the checks that an index and its shards agree. Shared by the safetensors checkpoint
// (sharded.cpp) and the torch layer's sharded PyTorch checkpoints, so both formats refuse the
// same problems with the same words.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/error.hpp"

namespace safetensors::detail {

class shard_index {
 public:
  /// Reads `path` (at most `limit` bytes): strict JSON, a non-empty "weight_map" of strings,
  /// an optional u64 "metadata.total_size"; unknown fields are ignored. invalid_index otherwise.
  static result<shard_index> read(const std::filesystem::path& path, std::uint64_t limit);
  /// The same from the index's text, already in memory; `path` is the file it came from (errors
  /// name it; shard_files looks for the shards beside it).
  static result<shard_index> parse(std::string_view text, const std::filesystem::path& path);

  const std::filesystem::path& path() const noexcept { return path_; }
  std::optional<std::uint64_t> total_size() const noexcept { return total_size_; }
  const std::map<std::string, std::string, std::less<>>& weight_map() const noexcept {
    return weight_map_;
  }
  /// The shard names the weight_map names, unique and sorted, each checked to stay inside the
  /// index's folder (relative, no "..", no backslash, no NUL; lexical, so symlinked snapshot
  /// folders work). Reads nothing.
  result<std::vector<std::string>> shard_names() const;
  /// shard_names, each checked to exist as a regular file beside the index, and no numbered
  /// shard of the same naming in the folder that the index does not name.
  result<std::vector<std::string>> shard_files() const;
  /// Records that `shard` holds `tensor`: invalid_index when the tensor is in two shards, not in
  /// the weight_map, or assigned to another shard.
  result<void> claim(std::string_view tensor, std::string_view shard);
  /// After every shard was claimed: invalid_index for a weight_map entry no shard holds.
  result<void> all_claimed() const;

  /// `'<index>': <what>` as invalid_index.
  error problem(std::string what) const;

 private:
  std::filesystem::path path_;
  std::map<std::string, std::string, std::less<>> weight_map_;  // tensor -> shard file
  std::optional<std::uint64_t> total_size_;
  std::map<std::string, std::string, std::less<>> seen_;  // tensor -> shard holding it
};

}  // namespace safetensors::detail
