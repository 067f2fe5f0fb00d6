// Conversion of torch checkpoints (and safetensors files) to canonical safetensors files, and
// PyTorch checkpoints as one more source kind of the core pipeline (safetensors/pipeline.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "safetensors/dtype.hpp"
#include "safetensors/error.hpp"
#include "safetensors/pipeline.hpp"
#include "safetensors/torch/checkpoint.hpp"
#include "safetensors/torch/sharded.hpp"

namespace safetensors::torch {

/// How tensors that share a storage are written.
enum class share_policy {
  exact,      ///< exact aliases (same storage, offset, shape, strides, dtype) stored once with
              ///< __metadata__[alias] = kept; every other view written as its own copy
  hf_compat,  ///< Hugging Face convert.py `_remove_duplicate_names`: per overlapping cluster keep
              ///< the first (sorted) tensor covering the whole storage, drop the rest
};

/// How a checkpoint is read as a pipeline source.
struct source_options {
  select_options select;  ///< which object of a pickle holds the tensors
  share_policy sharing = share_policy::exact;
  unpickler_limits limits;
  /// A folder holding safetensors and PyTorch weights: which to read (see resolve_checkpoint;
  /// `preferred` when not chosen, and a note says so).
  std::optional<checkpoint_format> format;
  checkpoint_format preferred = checkpoint_format::safetensors;
};

/// Any checkpoint as a pipeline tensor set: a safetensors file, folder or index (the core's
/// open_source), or a PyTorch file, folder or index.json (every shard opened without running
/// pickle code; shared storages deduplicated by `sharing`, metadata `{"format": "pt"}` plus one
/// entry per alias; source_tensor::shard = the shard's position in the index).
result<tensor_set> open_source(const std::filesystem::path& path, const source_options& opts = {});

struct convert_options {
  select_rules rules;                           ///< --filter / --exclude / --rename / --dtype
  std::uint64_t alignment = 8;                  ///< data section alignment: 8, 64 or 4096
  std::optional<std::uint64_t> max_shard_size;  ///< shard the output (folder inputs: 5 GB default)
  select_options select;
  share_policy sharing = share_policy::exact;
  bool verify = true;            ///< reopen the output and compare every tensor
  bool copy_other_files = true;  ///< folders: copy config.json, tokenizer files, ...
  bool force = false;            ///< overwrite existing outputs
  /// A folder holding safetensors and PyTorch weights: which to read (default pytorch; see
  /// resolve_checkpoint). The report's first note says which was read when not chosen.
  std::optional<checkpoint_format> format;
  bool fsync = true;
  unpickler_limits limits;
  progress_fn progress;
};

struct convert_report {
  std::vector<std::filesystem::path> written;  ///< safetensors files and index
  std::vector<std::filesystem::path> copied;   ///< other files copied from a folder
  std::vector<std::filesystem::path> removed;  ///< stale shards of a replaced set (--force)
  std::size_t tensors = 0;                     ///< tensors written
  std::vector<std::pair<std::string, std::string>> aliases;  ///< (dropped, kept)
  std::vector<std::string> notes;
  std::uint64_t bytes = 0;  ///< tensor data bytes written
  bool verified = false;
};

/// Output path chosen when none is given: foo.pt -> foo.safetensors (pytorch_model -> model,
/// as convert.py renames); a folder converts in place (new files beside the old ones).
std::filesystem::path default_output(const std::filesystem::path& input);

/// Converts a torch file, a torch model folder (pytorch_model.bin, or
/// pytorch_model.bin.index.json + shards, .pt shards too; see resolve_checkpoint) or its
/// index.json, or a safetensors file/folder (re-serialized canonically) to safetensors. Outputs are
/// atomic (temp + fsync + rename); the input is never modified, even when `output` is the input
/// path. Errors as open_torch_checkpoint, plus invalid_argument for an existing output without
/// force, invalid_checkpoint when verification finds a difference, and the core reader/writer
/// errors.
result<convert_report> convert(const std::filesystem::path& input,
                               const std::filesystem::path& output,
                               const convert_options& opts = {});

}  // namespace safetensors::torch
