// Sharded checkpoints: model.safetensors.index.json + shard files, as one logical checkpoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/reader.hpp"
#include "safetensors/writer.hpp"

namespace safetensors {

/// A single file, a folder (model.safetensors, else model.safetensors.index.json + shards, else
/// the folder's only *.safetensors.index.json or only *.safetensors file), or an index.json,
/// opened as one set of tensors. Every shard is validated; the index must be strict JSON with a
/// non-empty "weight_map" of strings (duplicate names rejected) and an optional
/// "metadata.total_size" (u64; a value that differs from the shards' data bytes is kept for
/// declared_total_size(), not an error: tools copy it from a .bin index); shard paths must be
/// relative and stay inside the folder (no absolute paths, no "..", no backslashes; checked
/// lexically so that symlinked snapshot folders work); each shard must hold exactly the tensors the
/// weight_map assigns to it, and no numbered shard of the index's naming
/// (`model-00003-of-00003.safetensors`) may sit in the folder without being named. Every such
/// problem is invalid_index, naming the tensor and shard. Sharded PyTorch folders are opened by
/// the torch layer (safetensors/torch/sharded.hpp) with the same index checks.
class checkpoint {
 public:
  static result<checkpoint> open(const std::filesystem::path& path, const open_options& opts = {});

  struct entry {
    const tensor_info* info;
    std::size_t shard;  ///< index into shards()
  };
  const std::vector<file>& shards() const noexcept { return shards_; }
  const std::vector<entry>& tensors() const noexcept {
    return entries_;
  }  ///< shard then offset order
  const entry* find(std::string_view name) const noexcept;
  result<tensor> get(std::string_view name) const;
  /// Metadata of the first shard (a sharded set's `__metadata__`); index "metadata" separately.
  const metadata_map& metadata() const noexcept;
  bool is_sharded() const noexcept { return !index_path_.empty(); }
  const std::filesystem::path& index_path() const noexcept { return index_path_; }
  std::uint64_t total_size() const noexcept;  ///< sum of tensor bytes
  /// The index's "metadata.total_size", when it has one (`validate` warns when it differs from
  /// total_size()).
  std::optional<std::uint64_t> declared_total_size() const noexcept { return declared_total_size_; }

 private:
  struct builder;  // src/core/sharded.cpp
  friend struct builder;
  std::vector<file> shards_;
  std::vector<entry> entries_;
  name_index by_name_;  ///< positions in entries_ (sharded sets only)
  std::filesystem::path index_path_;
  std::optional<std::uint64_t> declared_total_size_;
};

struct shard_options {
  std::uint64_t max_shard_size = 5'000'000'000;  ///< bytes of tensor data per shard
  std::string prefix = "model";                  ///< model-00001-of-00003.safetensors
  write_options write;
};
/// Writes shards (tensors in the writer's order, split greedily at max_shard_size; a larger
/// tensor gets a shard of its own) named `<prefix>-00001-of-0000N.safetensors`, each with
/// `metadata`, then `<prefix>.safetensors.index.json`
/// (`{"metadata":{"total_size":N},"weight_map":{name: shard, ...}}`, names sorted, formatted as
/// transformers writes it: json.dumps(indent=2, sort_keys=True)) into the existing folder `dir`.
/// Every file is written atomically and every shard header is planned before the first byte is
/// written. With one shard, writes `<prefix>.safetensors` and no index. Returns the files written
/// (shards, then the index).
result<std::vector<std::filesystem::path>> write_sharded(const std::filesystem::path& dir,
                                                         std::span<const tensor_source> tensors,
                                                         const metadata_map& metadata,
                                                         const shard_options& opts = {});

}  // namespace safetensors
