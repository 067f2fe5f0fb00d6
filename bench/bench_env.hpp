// What a benchmark ran on: every bench/*_bench.cpp prints these lines first, so that a result
// pasted into docs/PERFORMANCE.md names its CPU (and the kernels it picked, where it picks any).
// The shell and Python benchmarks print the same "cpu:" line through scripts/cpu_model.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

#include "safetensors/model/classifier.hpp"

namespace bench {

/// The "model name" of /proc/cpuinfo (x86 Linux), "unknown" where there is none: the one the
/// model layer reports in `classify --verbose` and the server's /info.
inline std::string cpu_model() { return safetensors::model::describe_compute().cpu_model; }

/// Prints "cpu: MODEL (N logical CPUs)" and, when `kernels` is given, "kernels: KERNELS".
inline void print_environment(std::string_view kernels = {}) {
  std::printf("cpu: %s (%u logical CPUs)\n", cpu_model().c_str(),
              std::thread::hardware_concurrency());
  if (!kernels.empty())
    std::printf("kernels: %.*s\n", static_cast<int>(kernels.size()), kernels.data());
  std::fflush(stdout);
}

}  // namespace bench
