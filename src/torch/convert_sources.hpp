// PyTorch files as pipeline sources (the tensors a conversion writes).
#pragma once

#include <filesystem>

#include "safetensors/pipeline.hpp"
#include "safetensors/torch/convert.hpp"

namespace safetensors::torch::detail {

/// One torch file: selected, deduplicated, with {"format": "pt"} + alias metadata.
result<tensor_set> torch_file_source(const std::filesystem::path& path, const source_options& opts);

/// Torch files in order (an index's shards), one source shard each; metadata from every
/// file's aliases.
result<tensor_set> torch_files_source(const std::vector<std::filesystem::path>& files,
                                      const source_options& opts);

}  // namespace safetensors::torch::detail
