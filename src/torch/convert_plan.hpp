// Where a conversion reads and writes: inputs, output file or folder, files to copy.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "safetensors/torch/convert.hpp"

namespace safetensors::torch::detail {

struct output_plan {
  bool safetensors_input = false;
  std::filesystem::path safetensors_path;  ///< safetensors input of a folder (else the input)
  std::vector<std::filesystem::path> torch_inputs;
  bool one_to_one = false;     ///< sharded torch folder without max_shard_size: shard i -> shard i
  bool sharded = false;        ///< write_sharded into `dir`
  std::filesystem::path dir;   ///< output folder (sharded outputs, copies); created if missing
  std::filesystem::path file;  ///< the output file when not sharded
  std::string prefix = "model";
  std::uint64_t max_shard_size = 5'000'000'000;
  std::vector<std::string> notes;  ///< which format of a folder holding both is read
};

/// foo.pt -> foo.safetensors, pytorch_model.bin -> model.safetensors, a folder -> itself.
std::filesystem::path default_output_path(const std::filesystem::path& input);

/// Resolves inputs and outputs (existing outputs are refused by the pipeline's writer).
result<output_plan> plan_output(const std::filesystem::path& input,
                                const std::filesystem::path& output, const convert_options& opts);

}  // namespace safetensors::torch::detail
