#include "torch/mapped_file.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "core/try.hpp"

namespace safetensors::torch::detail {

result<mapped_file> mapped_file::open(const std::filesystem::path& path) {
  std::uint64_t size = 0;
  mapped_file m;
  m.fd_ = ST_TRY(safetensors::detail::open_regular_file(path, size));  // kept for read_at
  m.map_ = ST_TRY(safetensors::detail::mapping::map(m.fd_.get(), size, path));
  m.path_ = path;
  return m;
}

result<void> mapped_file::read_at(std::uint64_t offset, std::span<std::byte> out) const {
  const auto size = map_.bytes().size();
  if (offset > size || out.size() > size - offset)
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: read past the end of the file", path_.string()));
  return safetensors::detail::pread_exact(fd_.get(), offset, out, path_);
}

void mapped_file::release(std::span<const std::byte> range) const noexcept {
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto all = map_.bytes();
  auto begin = reinterpret_cast<std::uintptr_t>(range.data());
  auto end = begin + range.size();
  const auto base = reinterpret_cast<std::uintptr_t>(all.data());
  if (all.empty() || begin < base || end > base + all.size()) return;
  begin = (begin + page - 1) / page * page;
  end = end / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace safetensors::torch::detail
