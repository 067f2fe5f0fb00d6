// Precision names and the description of the compute the forward pass runs on.
#include <fstream>

#include "model/gemm.hpp"
#include "safetensors/model/classifier.hpp"

namespace safetensors::model {

std::string_view precision_name(precision p) noexcept {
  switch (p) {
    case precision::bf16:
      return "bf16";
    case precision::int8:
      return "int8";
    case precision::fp32:
      break;
  }
  return "fp32";
}

std::optional<precision> parse_precision(std::string_view name) noexcept {
  for (auto p : {precision::fp32, precision::bf16, precision::int8})
    if (precision_name(p) == name) return p;
  return std::nullopt;
}

namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "unknown" : line.substr(start);
  }
  return "unknown";
}

}  // namespace

compute_info describe_compute() { return {cpu_model_name(), detail::effective_isa_name()}; }

}  // namespace safetensors::model
