// The unpickler limits every fuzz target runs with: small enough for libFuzzer's RSS limit
// (fuzz/run_all.sh: 2 GB) and its per-input timeout.
#pragma once

#include "torch/unpickler.hpp"

namespace safetensors::torch::fuzz {

inline detail::unpickle_options fuzz_options() {
  detail::unpickle_options o;
  o.limits.max_nodes = 200'000;
  o.limits.max_visits = 1'000'000;
  o.limits.max_string_bytes = 1u << 20;
  o.limits.max_memory_bytes = 64u << 20;
  return o;
}

}  // namespace safetensors::torch::fuzz
