// Shared by the tokenizer loaders (load_json.cpp, load_vocab.cpp).
#pragma once

#include <filesystem>
#include <optional>

#include "safetensors/error.hpp"

/// `auto& var = *expr` or return its error (expr yields a result<T>).
#define ST_TRY(var, expr)                                         \
  auto var##_result = (expr);                                     \
  if (!var##_result) return tl::unexpected(var##_result.error()); \
  auto& var = *var##_result
/// Returns the error of a result<void> expression.
#define ST_TRY_VOID(expr)                                                       \
  do {                                                                          \
    auto st_try_void_result = (expr);                                           \
    if (!st_try_void_result) return tl::unexpected(st_try_void_result.error()); \
  } while (false)

namespace safetensors::model::detail {

/// model_max_length of a tokenizer_config.json; nullopt when absent or a "no limit" value
/// (transformers writes 1e30 when the model has no limit).
result<std::optional<std::size_t>> read_model_max_length(const std::filesystem::path& config);

}  // namespace safetensors::model::detail
