// Linked into the static safetensors-cli only (tools/cli/CMakeLists.txt). Before the first static
// constructor runs, maps the executable's code and its .data and .bss pages with one
// madvise(MADV_POPULATE_*) each, instead of one page fault per 64 KiB of code touched (the
// kernel maps that much around a faulting code page) and per 4 KiB page of data. On a
// virtual machine a page fault costs 25-30 us; `inspect` of a small file takes ~60 instead of
// ~100 faults (docs/PERFORMANCE.md, "CLI start"). Kernels before 5.14 refuse MADV_POPULATE_*:
// nothing happens then.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

// Bounds GNU ld defines for every executable: first byte mapped, end of the code, start of .data
// (after the read-only-after-relocation pages), end of .bss.
extern "C" char __executable_start[], etext[], __data_start[], end[];

namespace {

void populate(const void* from, const void* to, int advice) {
  const auto page = static_cast<std::uintptr_t>(::getpagesize());
  const auto first = reinterpret_cast<std::uintptr_t>(from) & ~(page - 1);
  const auto last = (reinterpret_cast<std::uintptr_t>(to) + page - 1) & ~(page - 1);
  if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, advice);
}

__attribute__((constructor(101))) void prefault_start_pages() {
  populate(__executable_start, etext, MADV_POPULATE_READ);
  populate(__data_start, end, MADV_POPULATE_WRITE);
  // Not malloc's heap: glibc's start-up has grown it by 128 KiB already, and mapping all of it
  // (+128 KiB RSS, peak 4.04 MB) saved ~14 faults, within the noise of the wall time.
}

}  // namespace
