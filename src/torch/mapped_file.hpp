// A read-only private mapping of a whole file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <cstdint>
#include <span>
#include <string>

#include "safetensors/error.hpp"

namespace safetensors::torch::detail {

class mapped_file {
 public:
  static result<mapped_file> open(const std::filesystem::path& path);
  mapped_file() = default;
  mapped_file(mapped_file&& o) noexcept;
  mapped_file& operator=(mapped_file&& o) noexcept;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file();
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  /// Drops the whole pages inside `range` from this process's resident set (MADV_DONTNEED on a
  /// read-only private file mapping: a later access re-reads them from the page cache). Keeps
  /// peak RSS small while a large checkpoint is streamed once.
  void release(std::span<const std::byte> range) const noexcept;
  /// Copies bytes [offset, offset + out.size()) of the file with pread (no page faults on the
  /// mapping, nothing added to the resident set). The range must lie inside the file.
  result<void> read_at(std::uint64_t offset, std::span<std::byte> out) const;

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
  std::string path_;
  void release() noexcept;
};

}  // namespace safetensors::torch::detail
