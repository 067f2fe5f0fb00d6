// Tensors that share a storage: which ones to write and which become metadata aliases.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "safetensors/torch/checkpoint.hpp"
#include "safetensors/torch/convert.hpp"

namespace safetensors::torch::detail {

struct dedupe_result {
  std::vector<std::size_t> keep;                             ///< indices into tensors, in order
  std::vector<std::pair<std::string, std::string>> aliases;  ///< (dropped, kept), sorted
};

/// exact: tensors with the same storage, offset, shape, strides and dtype are one tensor; the
/// byte-wise smallest name is kept. hf_compat: Hugging Face's _remove_duplicate_names (per
/// storage, clusters of overlapping byte ranges; keep the smallest name that covers the whole
/// storage; unsupported when a cluster of two or more has no such tensor).
result<dedupe_result> dedupe(const std::vector<torch_tensor>& tensors,
                             const std::vector<torch_storage>& storages, share_policy policy);

}  // namespace safetensors::torch::detail
