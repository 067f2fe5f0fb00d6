// What a benchmark ran on: every bench/*_bench.cpp prints these lines first, so that a result
// pasted into docs/PERFORMANCE.md names its CPU (and the kernels it picked, where it picks any).
// The shell and Python benchmarks print the same "cpu:" line through scripts/cpu_model.
#pragma once

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

namespace bench {

/// The "model name" of /proc/cpuinfo (x86 Linux), "unknown" where there is none.
inline std::string cpu_model() {
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

/// Prints "cpu: MODEL (N logical CPUs)" and, when `kernels` is given, "kernels: KERNELS".
inline void print_environment(std::string_view kernels = {}) {
  std::printf("cpu: %s (%u logical CPUs)\n", cpu_model().c_str(),
              std::thread::hardware_concurrency());
  if (!kernels.empty())
    std::printf("kernels: %.*s\n", static_cast<int>(kernels.size()), kernels.data());
  std::fflush(stdout);
}

}  // namespace bench
