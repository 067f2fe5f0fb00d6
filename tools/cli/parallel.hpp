// Work spread over threads for the CLI's value commands (hash, stats, diff).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "output.hpp"

namespace safetensors::cli {

/// Threads to use for `items` independent pieces of work: the hardware's, at most `items`.
inline unsigned worker_count(std::size_t items) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(hw, items)));
}

/// Calls fn(i) for every i in [0, n), on worker_count(n) threads, each taking the next i.
/// fn must not throw (the commands return errors as values and store them per item).
template <class Fn>
void parallel_for(std::size_t n, Fn&& fn) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) fn(i);
  };
  const unsigned threads = worker_count(n);
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

/// parallel_for, while this thread redraws `bar` from `done` (bytes the workers add up) until
/// the work is over; the bar is finished at the end. Without a drawing bar: plain parallel_for.
template <class Fn>
void parallel_for(std::size_t n, Fn&& fn, progress_bar& bar,
                  const std::atomic<std::uint64_t>& done) {
  if (!bar.enabled()) {
    parallel_for(n, fn);
    return;
  }
  std::atomic<bool> over{false};
  std::thread runner([&] {
    parallel_for(n, fn);
    over = true;
  });
  while (!over) {
    bar.update(done);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  runner.join();
  bar.update(done);
  bar.finish();
}

}  // namespace safetensors::cli
