// `inspect --group`: tensors whose names differ only in numbered components (layer indices)
// collapse into one row, `model.layers.#.mlp.down_proj.weight  x32`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inspect_listing.hpp"

namespace safetensors::cli {

struct name_group {
  std::string pattern;  ///< the name with every all-digit dot-separated component as '#'
  std::string dtype_name;
  std::vector<std::uint64_t> shape;
  std::uint64_t count = 0;
  std::uint64_t parameters = 0;  ///< summed over the group
  std::uint64_t bytes = 0;
  std::vector<std::uint64_t> numbers;  ///< the first '#' component's values, sorted, unique
};

/// "model.layers.12.mlp" -> "model.layers.#.mlp"; `first` receives the first number replaced
/// (when there is one).
std::string name_pattern(std::string_view name, std::uint64_t* first = nullptr);

/// Groups rows by (pattern, dtype, shape), in the order each group first appears in `rows`.
std::vector<name_group> group_rows(const std::vector<listing_row>& rows);

/// "0-31", "0-3,5,7-9" (sorted unique numbers as ranges).
std::string number_ranges(const std::vector<std::uint64_t>& numbers);

}  // namespace safetensors::cli
