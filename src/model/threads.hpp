// How many threads a forward pass uses (private). Debian's oneDNN runs on OpenMP (libgomp),
// whose parallel regions split work statically and end in a barrier: when other processes keep
// the cores busy, a descheduled team thread stalls every region until it runs again (a 2-thread
// forward of 16 tokens went from ~7 ms to ~300 ms on a loaded 2-core machine, while 1 thread
// kept ~10 ms). So each logits() call sizes its team to the cores that are free right then.
#pragma once

#include <optional>

namespace safetensors::model::detail {

/// The team size for `requested` threads (0 = all `cores` this process may use) given the
/// system's `online` CPUs, the tasks runnable system-wide right now (the calling thread
/// included; /proc/loadavg counts every CPU, also inside a container) and `own`, how many of
/// them may be this process's compute threads (the previous team, whose workers can still be
/// spinning). Never more than the CPUs no other task occupies, never below 1.
int threads_for_load(int requested, int cores, int online, int runnable, int own) noexcept;

/// Runnable tasks system-wide, from the 4th field ("running/total") of /proc/loadavg;
/// nullopt where it cannot be read.
std::optional<int> runnable_tasks() noexcept;

/// threads_for_load for this machine now, remembering the result as the next call's `own`.
/// Without /proc/loadavg: `requested` (0 = all cores).
int available_threads(int requested) noexcept;

/// `requested`, or all cores for 0.
int requested_threads(int requested) noexcept;

/// The team size parallel regions started from the calling thread use (1 without OpenMP).
int compute_threads() noexcept;

}  // namespace safetensors::model::detail
