// Python's dict-key semantics over pickle values: which keys a dict merges into one.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "torch/unpickler.hpp"

namespace safetensors::torch::detail {

/// Python-hashable here: None, bool, int, float, str, bytes, globals (classes, functions) and
/// tuples of those (nesting <= 16). Lists, dicts, sets, tensors and storages are not accepted as
/// keys (torch.save never writes them; a tensor key is refused rather than hashed by identity).
bool hashable(const std::vector<node>& nodes, std::uint32_t id, int depth = 0);

/// A dict's (key, value) pairs as Python builds them: keys that compare equal are one entry
/// (1 == True == 1.0 == a LONG1 of value 1, 0 == -0.0 == False, equal tuples, equal strings;
/// a NaN equals only itself), which keeps the position and the key object of its first
/// occurrence and the value of its last.
std::vector<std::pair<std::uint32_t, std::uint32_t>> dict_entries(const pickle_graph& g,
                                                                  const node& d);

}  // namespace safetensors::torch::detail
