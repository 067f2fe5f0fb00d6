// Picking the state dict's tensors out of the unpickled object.
#pragma once

#include <string>
#include <vector>

#include "safetensors/torch/checkpoint.hpp"
#include "torch/unpickler.hpp"

namespace safetensors::torch::detail {

struct selection {
  std::vector<torch_tensor> tensors;
  std::vector<std::string> notes;
};

/// Applies select_options (key path, state_dict/model unwrapping, flattening) to the graph.
/// Refused tensors (quantized, sparse, complex128...) are errors naming the tensor; every
/// other non-tensor entry is listed in the notes.
result<selection> select_tensors(const pickle_graph& g, const select_options& opts,
                                 const unpickler_limits& limits, std::string_view source);

}  // namespace safetensors::torch::detail
