// The tensors a conversion writes, whatever the input (torch file(s) or safetensors).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "safetensors/header.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/torch/checkpoint.hpp"
#include "safetensors/torch/convert.hpp"
#include "safetensors/writer.hpp"

namespace safetensors::torch::detail {

/// One tensor to write, in its source dtype; `stream` pushes its row-major bytes; `read`, when
/// set (a contiguous run of a file), copies any range of them (the writer pulls into its buffer).
struct source_tensor {
  std::string name;
  dtype type = dtype::F32;
  std::vector<std::uint64_t> shape;
  std::uint64_t nbytes = 0;
  std::function<result<void>(const torch_sink&)> stream;
  byte_reader read;
};

/// Sources plus what keeps their mappings alive.
struct source_set {
  std::vector<source_tensor> tensors;
  metadata_map metadata;
  std::vector<std::pair<std::string, std::string>> aliases;  ///< (dropped, kept)
  std::vector<std::string> notes;
  std::vector<std::unique_ptr<torch_checkpoint>> torch_files;
  std::unique_ptr<checkpoint> safetensors_input;
};

/// A torch file: select, dedupe, and {"format": "pt"} + aliases metadata.
result<void> add_torch_file(source_set& set, const std::filesystem::path& path,
                            const convert_options& opts);
/// A safetensors file, folder or index: every tensor, metadata of the first shard.
result<void> add_safetensors(source_set& set, const std::filesystem::path& path);
/// Sorted-by-key metadata with `format` = pt and one entry per alias.
metadata_map torch_metadata(const std::vector<std::pair<std::string, std::string>>& aliases);

}  // namespace safetensors::torch::detail
