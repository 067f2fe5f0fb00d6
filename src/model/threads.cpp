// Team sizing from /proc/loadavg (see threads.hpp).
#include "model/threads.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace safetensors::model::detail {
namespace {

int core_count() noexcept {
#ifdef _OPENMP
  return std::max(1, omp_get_num_procs());
#else
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
#endif
}

std::atomic<int> previous_team{1};

}  // namespace

int threads_for_load(int requested, int cores, int online, int runnable, int own) noexcept {
  const int wanted = std::max(requested > 0 ? requested : cores, 1);
  const int others = std::max(0, runnable - std::max(own, 1));  // tasks that are not ours
  return std::clamp(std::max(online, 1) - others, 1, wanted);
}

std::optional<int> runnable_tasks() noexcept {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return std::nullopt;
  double l1 = 0, l5 = 0, l15 = 0;
  int running = 0, total = 0;
  const int fields = std::fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total);
  std::fclose(f);
  if (fields != 5 || running < 1) return std::nullopt;
  return running;
}

int available_threads(int requested) noexcept {
  const auto runnable = runnable_tasks();
  const int cores = core_count();
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  const int n = runnable && online > 0
                    ? threads_for_load(requested, cores, static_cast<int>(online), *runnable,
                                       previous_team.load())
                    : requested_threads(requested);
  previous_team.store(n);
  return n;
}

int requested_threads(int requested) noexcept { return requested > 0 ? requested : core_count(); }

int compute_threads() noexcept {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace safetensors::model::detail
