// Private: the POSIX part of the reader (open a regular file, pread, read-only private mmap).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "safetensors/error.hpp"

namespace safetensors::detail {

/// Owns a file descriptor.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  unique_fd& operator=(unique_fd&& o) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();
  int get() const noexcept { return fd_; }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

/// A read-only MAP_PRIVATE mapping of a file's first `size` bytes (map()).
class mapping {
 public:
  mapping() = default;
  mapping(mapping&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  mapping& operator=(mapping&& o) noexcept;
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  ~mapping();
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  /// Prefaults the first n bytes in one system call (MADV_POPULATE_READ; MADV_WILLNEED on
  /// kernels older than 5.14, where it only starts the read-ahead).
  void prefault(std::size_t n) const noexcept;
  /// Maps bytes [0, size) of `fd`; `populate`: prefault every page now.
  static result<mapping> map(int fd, std::uint64_t size, const std::filesystem::path& path,
                             bool populate = false);

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Asks for transparent huge pages (madvise) over the 2 MiB-aligned part of [p, p + n) when it
/// spans at least one: memory not yet touched then fills with a few faults instead of one per
/// 4 KiB page. No effect on small ranges or where the kernel's THP mode is "never".
void advise_huge_pages(const void* p, std::size_t n) noexcept;

/// Faults in the whole pages of [p, p + n), memory about to be written in full (a fresh table or
/// list), with one system call (MADV_POPULATE_WRITE) instead of a fault per 4 KiB page. Only for
/// n >= 256 KiB; a hint that is ignored on kernels older than 5.14.
void prefault_write(void* p, std::size_t n) noexcept;

/// A zeroed buffer of n bytes; large ones are backed by transparent huge pages where the
/// kernel allows it (advise_huge_pages).
std::vector<std::byte> large_buffer(std::size_t n);

/// Opens `path` read-only without blocking (a FIFO never hangs) and refuses anything that is
/// not a regular file. `size` receives the file size. Errors: io, naming the path.
result<unique_fd> open_regular_file(const std::filesystem::path& path, std::uint64_t& size);

/// The whole content of a small file (an index, a config, a tokenizer), opened with
/// open_regular_file (a FIFO never blocks). Errors: io naming the path (missing, unreadable,
/// not a regular file); limit_exceeded when the file holds more than `max_bytes`.
result<std::string> read_small_file(const std::filesystem::path& path, std::uint64_t max_bytes);

/// Reads exactly out.size() bytes at `offset` (retries short reads and EINTR); io on error or
/// early end of file.
result<void> pread_exact(int fd, std::uint64_t offset, std::span<std::byte> out,
                         const std::filesystem::path& path);

}  // namespace safetensors::detail
