// madvise on the checkpoint mapping (see mapped_pages.hpp). Every call is advisory: on failure
// the pages simply stay as they are.
#include "model/mapped_pages.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace safetensors::model::detail {
namespace {

std::uintptr_t page_size() noexcept { return static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE)); }

void advise(std::uintptr_t first, std::uintptr_t last, int advice) noexcept {
  if (last > first) (void)madvise(reinterpret_cast<void*>(first), last - first, advice);
}

}  // namespace

void release_mapped_pages(const void* data, std::size_t bytes) noexcept {
  const auto page = page_size();
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  advise((begin + page - 1) / page * page, (begin + bytes) / page * page, MADV_DONTNEED);
}

void populate_mapped_pages(const void* data, std::size_t bytes) noexcept {
#ifndef MADV_POPULATE_READ
  constexpr int MADV_POPULATE_READ = 22;  // Linux 5.14
#endif
  const auto page = page_size();
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  advise(begin / page * page, begin + bytes, MADV_POPULATE_READ);
}

void map_with_small_pages(const void* data, std::size_t bytes) noexcept {
  const auto page = page_size();
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  advise(begin / page * page, (begin + bytes + page - 1) / page * page, MADV_NOHUGEPAGE);
}

}  // namespace safetensors::model::detail
