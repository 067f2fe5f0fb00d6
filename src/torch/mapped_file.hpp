// A read-only private mapping of a whole torch checkpoint, plus its descriptor for pread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "core/mapped_file.hpp"
#include "safetensors/error.hpp"

namespace safetensors::torch::detail {

class mapped_file {
 public:
  /// Opens without blocking (a FIFO never hangs) and refuses anything but a regular file (io,
  /// naming the path and what it is).
  static result<mapped_file> open(const std::filesystem::path& path);
  std::span<const std::byte> bytes() const noexcept { return map_.bytes(); }
  /// Drops the whole pages inside `range` from this process's resident set (MADV_DONTNEED on a
  /// read-only private file mapping: a later access re-reads them from the page cache). Keeps
  /// peak RSS small while a large checkpoint is streamed once.
  void release(std::span<const std::byte> range) const noexcept;
  /// Copies bytes [offset, offset + out.size()) of the file with pread (no page faults on the
  /// mapping, nothing added to the resident set). The range must lie inside the file.
  result<void> read_at(std::uint64_t offset, std::span<std::byte> out) const;

 private:
  safetensors::detail::unique_fd fd_;
  safetensors::detail::mapping map_;
  std::filesystem::path path_;
};

}  // namespace safetensors::torch::detail
