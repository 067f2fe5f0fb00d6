// Atomic file output: a temp file in the target's folder, buffered writes, fsync, rename.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "safetensors/error.hpp"
#include "safetensors/writer.hpp"

namespace safetensors::detail {

/// Returns atomic_file's buffer (a mapping of its own) to the system.
struct buffer_unmap {
  std::size_t bytes = 0;
  void operator()(std::byte* p) const noexcept;
};

/// Writes go to a uniquely named temp file (O_EXCL) beside `target`,
/// `.<target name>.safetensors-cpp.<pid>.<n>-<random>.tmp`, flock()ed until it is renamed or
/// removed; create() first removes such files of the same target whose writer is gone (its pid
/// no longer runs and nobody holds the lock), e.g. after a SIGKILL. commit() flushes, fsyncs
/// (optional), renames it over the target and fsyncs the folder. Until commit() succeeds the
/// target is untouched; the destructor unlinks an uncommitted temp file. Because rename()
/// replaces the directory entry, a target that is still mapped by a reader keeps its old inode.
class atomic_file {
 public:
  static constexpr std::size_t buffer_size = 4u << 20;

  static result<atomic_file> create(const std::filesystem::path& target);
  /// A small file (an index, a copied config) written and prepare()d, ready to publish().
  static result<atomic_file> prepared_text(const std::filesystem::path& target,
                                           std::string_view text, bool fsync);
  atomic_file(atomic_file&& other) noexcept;
  atomic_file& operator=(atomic_file&&) = delete;
  atomic_file(const atomic_file&) = delete;
  ~atomic_file();

  /// The file's expected size, before the first write: the buffer then takes no more than that
  /// (a small output neither maps nor touches buffer_size bytes). A hint: more bytes still go
  /// out, in blocks of the smaller buffer.
  void expect_size(std::uint64_t bytes) noexcept;

  /// Buffered append; whole blocks of large chunks (the buffer's size) bypass the buffer.
  result<void> write(std::span<const std::byte> bytes);
  /// Appends `n` bytes that `read` copies straight into the buffer (read(at, out) fills bytes
  /// [at, at + out.size()) of the n), in the same block-aligned pieces as write().
  result<void> fill(std::uint64_t n, const byte_reader& read);
  /// Start writeback of each block as soon as it is written (sync_file_range), so that the disk
  /// works while the data is still being produced and the final fsync has little left to do.
  void write_behind(bool on) noexcept { write_behind_ = on; }
  /// Told the temp path and the bytes in the file after every write(2) that reached it.
  void on_written(write_progress f) { on_written_ = std::move(f); }
  /// Flush, optional fsync, rename over the target, fsync of the folder. `check`, when set, runs
  /// on the complete temp file (in the calling thread, while another thread fsyncs) before the
  /// rename; its error abandons the file and the target stays untouched.
  result<void> commit(bool fsync, const file_check& check = {});
  /// commit() in two steps, for a set of files that appears together: prepare() flushes,
  /// fsyncs, checks and closes the temp file; publish() renames it over the target (and fsyncs
  /// the folder when prepare() synced). An unpublished temp file is removed by the destructor.
  result<void> prepare(bool fsync, const file_check& check = {});
  result<void> publish();
  /// Removes the temp file (also done by the destructor when not committed).
  void abandon() noexcept;

  std::uint64_t bytes_written() const noexcept { return written_; }
  const std::filesystem::path& temp_path() const noexcept { return temp_; }

 private:
  atomic_file(int fd, int lock_fd, std::filesystem::path target, std::filesystem::path temp);
  void release_lock() noexcept;
  result<void> flush();
  result<void> write_all(const std::byte* p, std::size_t n);
  std::span<std::byte> free_space();  // the unused rest of the buffer (allocated on first use)
  error io_error(std::string_view what, int err) const;

  int fd_ = -1;
  int lock_fd_ = -1;  // holds the flock that marks the temp file as live
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::unique_ptr<std::byte[], buffer_unmap>
      buffer_;  // capacity_ bytes once the first byte is buffered
  std::size_t capacity_ = buffer_size;
  std::size_t used_ = 0;
  std::uint64_t written_ = 0;  // bytes accepted by write()
  std::uint64_t flushed_ = 0;  // bytes handed to write(2)
  bool write_behind_ = false;
  write_progress on_written_;
  bool synced_ = false;  // prepare() fsynced the file
};

}  // namespace safetensors::detail
