#include "core/mapped_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/try.hpp"

namespace safetensors::detail {

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}
unique_fd::~unique_fd() { reset(); }
void unique_fd::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

mapping& mapping::operator=(mapping&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}
mapping::~mapping() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

result<mapping> mapping::map(int fd, std::uint64_t size, const std::filesystem::path& path,
                             bool populate) {
  mapping m;
  if (size == 0) return m;
  if (size > std::numeric_limits<std::size_t>::max()) {
    return fail(errc::io,
                fmt::format("{}: file of {} bytes cannot be mapped", path.string(), size));
  }
  void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    return fail(errc::io, fmt::format("{}: mmap failed: {}", path.string(), std::strerror(errno)));
  }
  m.data_ = static_cast<const std::byte*>(p);
  m.size_ = static_cast<std::size_t>(size);
  if (populate) m.prefault(m.size_);
  return m;
}

void mapping::prefault(std::size_t n) const noexcept {
#ifndef MADV_POPULATE_READ
  constexpr int MADV_POPULATE_READ = 22;  // Linux 5.14
#endif
  n = std::min(n, size_);
  if (n == 0) return;
  void* p = const_cast<std::byte*>(data_);
  // A hint: failure (old kernel, an I/O error the first real access will report) is not fatal.
  if (::madvise(p, n, MADV_POPULATE_READ) != 0) (void)::madvise(p, n, MADV_WILLNEED);
}

void advise_huge_pages(const void* p, std::size_t n) noexcept {
  constexpr std::size_t huge = std::size_t{2} << 20;
  if (p == nullptr || n < 2 * huge) return;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = (begin + huge - 1) / huge * huge;
  const std::uintptr_t last = (begin + n) / huge * huge;
  if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

void prefault_write(void* p, std::size_t n) noexcept {
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;  // Linux 5.14
#endif
  constexpr std::uintptr_t page = 4096;
  if (p == nullptr || n < (std::size_t{256} << 10)) return;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = (begin + page - 1) / page * page;
  const std::uintptr_t last = (begin + n) / page * page;
  if (last > first)
    (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_WRITE);
}

std::vector<std::byte> large_buffer(std::size_t n) {
  std::vector<std::byte> buf;
  buf.reserve(n);  // not touched yet: advise before the first fault
  advise_huge_pages(buf.data(), n);
  buf.resize(n);
  return buf;
}

namespace {
std::string_view kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}
}  // namespace

result<unique_fd> open_regular_file(const std::filesystem::path& path, std::uint64_t& size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return fail(errc::io, fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  }
  unique_fd owned(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return fail(errc::io, fmt::format("{}: cannot stat: {}", path.string(), std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(errc::io,
                fmt::format("{}: is {}, not a regular file", path.string(), kind_of(st.st_mode)));
  }
  size = static_cast<std::uint64_t>(st.st_size);
  return owned;
}

result<std::string> read_small_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
  std::uint64_t size = 0;
  const auto fd = ST_TRY(open_regular_file(path, size));
  if (size > max_bytes) {
    return fail(errc::limit_exceeded,
                fmt::format("{}: file of {} bytes is above the limit of {} bytes", path.string(),
                            size, max_bytes));
  }
  std::string text(static_cast<std::size_t>(size), '\0');
  auto bytes = std::as_writable_bytes(std::span(text.data(), text.size()));
  ST_TRY(pread_exact(fd.get(), 0, bytes, path));
  return text;
}

result<void> pread_exact(int fd, std::uint64_t offset, std::span<std::byte> out,
                         const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t at = offset + done;
    if (at > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
      return fail(errc::io,
                  fmt::format("{}: offset {} is beyond what pread can address", path.string(), at));
    }
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errc::io, fmt::format("{}: read of {} bytes at offset {} failed: {}",
                                        path.string(), out.size(), offset, std::strerror(errno)));
    }
    if (n == 0) {
      return fail(
          errc::io,
          fmt::format("{}: file ended at offset {} while reading {} bytes at offset {} (was it "
                      "truncated?)",
                      path.string(), at, out.size(), offset));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace safetensors::detail
