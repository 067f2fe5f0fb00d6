// Sharded PyTorch checkpoints (pytorch_model.bin.index.json + shards, .pt shards too, or a
// folder with one pytorch_model.bin) as one set of tensors, and the choice between the
// safetensors and PyTorch weights of a model folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "safetensors/error.hpp"
#include "safetensors/torch/checkpoint.hpp"

namespace safetensors::torch {

enum class checkpoint_format { safetensors, pytorch };
std::string_view format_name(checkpoint_format f) noexcept;  ///< "safetensors", "pytorch"
/// "safetensors" or "pytorch"; nullopt otherwise.
std::optional<checkpoint_format> format_from_name(std::string_view name) noexcept;

/// What a path holds and which file to open for it.
struct resolved_checkpoint {
  checkpoint_format format = checkpoint_format::safetensors;
  /// safetensors: the path as given (safetensors::checkpoint::open resolves a folder);
  /// pytorch: the torch file or the torch index.json to open.
  std::filesystem::path path;
  /// Set when a folder holds both formats: which one is read and how to choose the other.
  std::string note;
};

/// A file is PyTorch when its first bytes say so (zip, legacy pickle, tar), an index.json is
/// PyTorch unless its name ends in .safetensors.index.json, and a folder holds PyTorch weights
/// when it has pytorch_model.bin.index.json, pytorch_model.bin, or exactly one other torch
/// index (*.bin/*.pt/*.pth.index.json) or, without any index, exactly one *.bin/*.pt/*.pth
/// file. A folder with both formats is read in the `wanted` format, else in `preferred` (the
/// note says so: readers prefer safetensors, convert prefers its PyTorch source).
/// invalid_argument when `wanted` names a format the path does not hold. A folder holding
/// neither resolves to safetensors (checkpoint::open then says what is missing).
result<resolved_checkpoint> resolve_checkpoint(
    const std::filesystem::path& path, std::optional<checkpoint_format> wanted = {},
    checkpoint_format preferred = checkpoint_format::safetensors);

/// The shard files a torch index.json names, sorted, checked as sharded_torch_checkpoint::open
/// checks them (inside the folder, present, no unnamed numbered shard) but not opened.
result<std::vector<std::filesystem::path>> index_shard_files(const std::filesystem::path& index);

/// A torch file, a folder holding PyTorch weights (see resolve_checkpoint) or a torch
/// index.json, opened as one set of tensors. Every shard is opened and fully validated
/// (open_torch_checkpoint); the index is checked exactly like a safetensors index (strict JSON,
/// a non-empty weight_map of strings, shard paths inside the folder, every named shard present,
/// no numbered shard in the folder that the index does not name, each tensor in exactly the
/// shard the weight_map assigns it to, every weight_map entry present): invalid_index naming
/// the index and the tensor or shard.
class sharded_torch_checkpoint {
 public:
  static result<sharded_torch_checkpoint> open(const std::filesystem::path& path,
                                               const torch_open_options& opts = {});

  struct entry {
    const torch_tensor* tensor;
    std::size_t shard;  ///< index into shards()
  };
  const std::vector<torch_checkpoint>& shards() const noexcept { return shards_; }
  /// Shard order (index shards sorted by name), then pickle order within a shard.
  const std::vector<entry>& tensors() const noexcept { return entries_; }
  const entry* find(std::string_view name) const noexcept;
  bool is_sharded() const noexcept { return !index_path_.empty(); }
  const std::filesystem::path& index_path() const noexcept { return index_path_; }
  std::uint64_t total_size() const noexcept;  ///< sum of tensor bytes (aliases counted each)
  std::optional<std::uint64_t> declared_total_size() const noexcept { return declared_total_size_; }
  /// Every shard's notes, each prefixed with the shard's file name.
  std::vector<std::string> notes() const;

 private:
  std::vector<torch_checkpoint> shards_;
  std::vector<entry> entries_;
  std::unordered_map<std::string_view, std::size_t> by_name_;
  std::filesystem::path index_path_;
  std::optional<std::uint64_t> declared_total_size_;
};

}  // namespace safetensors::torch
