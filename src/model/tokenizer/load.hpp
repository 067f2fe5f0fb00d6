// Shared by the tokenizer loaders (load_json.cpp, load_vocab.cpp).
#pragma once

#include <filesystem>
#include <optional>

#include "safetensors/error.hpp"

namespace safetensors::model::detail {

/// model_max_length of a tokenizer_config.json; nullopt when absent or a "no limit" value
/// (transformers writes 1e30 when the model has no limit).
result<std::optional<std::size_t>> read_model_max_length(const std::filesystem::path& config);

}  // namespace safetensors::model::detail
