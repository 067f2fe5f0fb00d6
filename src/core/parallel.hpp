// Private: the few threads the whole-file readers use (value checks, convert's verification).
#pragma once

#include <functional>

namespace safetensors::detail {

/// CPUs this process may run on (its affinity mask), at least 1.
unsigned usable_cpus() noexcept;

/// Runs `worker` on `threads` threads (the caller's included) and waits for all of them. The
/// workers share their work themselves (e.g. an atomic index into a list of items).
void run_on_threads(unsigned threads, const std::function<void()>& worker);

}  // namespace safetensors::detail
