// Private: the one way a sharded checkpoint is put on disk, shared by write_sharded and the
// torch converter: shard naming, the index JSON and publishing the set all at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/atomic_file.hpp"
#include "safetensors/error.hpp"

namespace safetensors::detail {

inline constexpr std::string_view index_suffix = ".safetensors.index.json";

/// `count` shards `<prefix>-0000i-of-0000N.safetensors` in `dir` and their index
/// `<prefix>.safetensors.index.json` (`{"metadata":{"total_size":N},"weight_map":{...}}`, names
/// sorted byte-wise, written as transformers writes it: json.dumps(indent=2, sort_keys=True) +
/// "\n"). Each shard is added complete (written, checked, fsynced) under its temp name; publish()
/// writes the index the same way and only then renames every file into place, so a failure before
/// that leaves the folder as it was (the temp files go with the object).
class shard_set {
 public:
  shard_set(std::filesystem::path dir, std::string prefix, std::size_t count, bool fsync);

  std::size_t count() const noexcept { return count_; }
  std::size_t added() const noexcept { return prepared_.size(); }
  /// The target of shard `i` (0-based): write it under a temp name (write_prepared) and add() it.
  std::filesystem::path shard_path(std::size_t i) const;
  std::filesystem::path index_path() const;

  /// Adds the next shard (shard_path(added so far)), holding the tensors `names` and `bytes`
  /// bytes of tensor data. duplicate_key when a tensor is already in an earlier shard.
  result<void> add(atomic_file prepared, std::span<const std::string_view> names,
                   std::uint64_t bytes);

  /// The index for the shards added so far.
  std::string index_json() const;

  /// Writes the index, then renames every shard and the index into place. Returns the paths
  /// (shards in order, then the index). invalid_argument when not all `count` shards were added.
  result<std::vector<std::filesystem::path>> publish();

 private:
  std::filesystem::path dir_;
  std::string prefix_;
  std::size_t count_;
  bool fsync_;
  std::vector<atomic_file> prepared_;
  std::map<std::string, std::string, std::less<>> weight_map_;  // tensor -> shard file name
  std::uint64_t total_ = 0;
};

}  // namespace safetensors::detail
