#include "heap_policy.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace safetensors::cli {

void use_cli_heap_policy() noexcept {
#if defined(__GLIBC__)
  constexpr int reserved = 256 << 20;
  constexpr int mmap_threshold = 32 << 20;  // glibc's own dynamic threshold tops out there
  constexpr int top_pad = 64 << 20;
  constexpr std::uintptr_t huge = std::uintptr_t{2} << 20;
  // Fixed values (glibc's dynamic mmap threshold is off once any is set): blocks below the
  // threshold come from the heap; the heap is not trimmed below `reserved`.
  (void)::mallopt(M_MMAP_THRESHOLD, mmap_threshold);
  // One arena: a worker thread's buffers (4 MiB each for reading values, verifying, hashing)
  // come from the same huge-page heap, not from an arena of its own faulted by the 4 KiB page
  // (validate --check-values of 268 MB: 1,456 -> 704 faults, best 50 -> 33 ms). The threads
  // allocate once each, so they do not contend for it.
  (void)::mallopt(M_ARENA_MAX, 1);
  (void)::mallopt(M_TRIM_THRESHOLD, reserved);
  // Grow the heap now by `reserved` (a block the current top cannot hold extends it by the
  // pad) and advise that part: later growth (by top_pad at a time) makes a new mapping without
  // the advice.
  (void)::mallopt(M_TOP_PAD, reserved);
  void* const before = ::sbrk(0);
  void* volatile block = std::malloc(std::size_t{1} << 20);  // volatile: not elided
  std::free(block);
  void* const after = ::sbrk(0);
  (void)::mallopt(M_TOP_PAD, top_pad);
  if (before == reinterpret_cast<void*>(-1) || after <= before) return;
  const auto first = (reinterpret_cast<std::uintptr_t>(before) + huge - 1) / huge * huge;
  const auto last = reinterpret_cast<std::uintptr_t>(after) / huge * huge;
  if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
}

}  // namespace safetensors::cli
