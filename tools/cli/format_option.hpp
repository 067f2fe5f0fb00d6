// `--format safetensors|pytorch`: which weights of a model folder holding both formats a command
// reads (safetensors::torch::resolve_checkpoint).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

#include "safetensors/torch/sharded.hpp"

namespace safetensors::cli {

void add_format_option(CLI::App& sub, std::optional<torch::checkpoint_format>& format);

}  // namespace safetensors::cli
