#include "atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <new>
#include <random>
#include <thread>

#include "core/try.hpp"

namespace safetensors::detail {
namespace {

std::filesystem::path folder_of(const std::filesystem::path& target) {
  auto parent = target.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

constexpr std::string_view temp_tag = ".safetensors-cpp.";
constexpr std::string_view temp_suffix = ".tmp";

// ".<target name>.safetensors-cpp.<pid>.<counter>-<random>.tmp": who wrote it and for which
// target. pid + process-wide counter + a random word: unique across threads and processes;
// O_EXCL catches the rest.
std::filesystem::path temp_name(const std::filesystem::path& target) {
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t salt = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  const auto n = counter.fetch_add(1);
  const auto name =
      fmt::format(".{}{}{}.{}-{:x}{}", target.filename().string(), temp_tag, ::getpid(), n,
                  (salt ^ (n * 0x9e3779b97f4a7c15ULL)) & 0xffffffffULL, temp_suffix);
  return folder_of(target) / name;
}

// The writer's pid in one of our temp names for `target_name`, or 0 when `name` is not one.
pid_t writer_of(std::string_view name, std::string_view target_name) {
  const std::size_t head = 1 + target_name.size() + temp_tag.size();
  if (name.size() <= head + temp_suffix.size() || name[0] != '.' ||
      name.substr(1, target_name.size()) != target_name ||
      name.substr(1 + target_name.size(), temp_tag.size()) != temp_tag ||
      !name.ends_with(temp_suffix)) {
    return 0;
  }
  std::uint64_t pid = 0;
  std::size_t i = head;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && pid < (1u << 30); ++i)
    pid = pid * 10 + (name[i] - '0');
  if (i == head || i >= name.size() || name[i] != '.') return 0;
  return static_cast<pid_t>(pid);
}

// A temp file of `target` left by a writer that died (SIGKILL, power loss) is removed; a live
// writer's never is. Live means: its pid (from the name) still runs, or someone holds the flock
// every writer keeps on its temp file until it is renamed or removed (covers a writer whose pid
// this process cannot see, e.g. in another pid namespace). Only regular files of this user.
// Best effort: any doubt or error keeps the file.
void remove_stale_temps(const std::filesystem::path& target) {
  const std::string target_name = target.filename().string();
  const auto folder = folder_of(target);
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return;
  const int dfd = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name(entry->d_name);
    const pid_t pid = writer_of(name, target_name);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // runs (EPERM: runs, as another user)
    const int fd = ::openat(dfd, entry->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
        ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      (void)::unlinkat(dfd, entry->d_name, 0);
    }
    ::close(fd);
  }
  ::closedir(dir);
}

// The file about to be replaced: its cached pages are dropped first (clean ones only; mapped
// ones stay), so the new file's pages are recycled ones rather than fresh allocations (on a VM,
// first-touched guest pages can cost a host fault each: writes then run several times slower).
void drop_cached_pages_of(const std::filesystem::path& target) {
  const int fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) return;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

}  // namespace

atomic_file::atomic_file(int fd, int lock_fd, std::filesystem::path target,
                         std::filesystem::path temp)
    : fd_(fd), lock_fd_(lock_fd), target_(std::move(target)), temp_(std::move(temp)) {}

atomic_file::atomic_file(atomic_file&& other) noexcept
    : fd_(other.fd_),
      lock_fd_(other.lock_fd_),
      target_(std::move(other.target_)),
      temp_(std::move(other.temp_)),
      buffer_(std::move(other.buffer_)),
      capacity_(other.capacity_),
      used_(other.used_),
      written_(other.written_),
      flushed_(other.flushed_),
      write_behind_(other.write_behind_),
      on_written_(std::move(other.on_written_)),
      synced_(other.synced_) {
  other.fd_ = -1;
  other.lock_fd_ = -1;
  other.temp_.clear();
}

atomic_file::~atomic_file() { abandon(); }

error atomic_file::io_error(std::string_view what, int err) const {
  return error{errc::io, fmt::format("{}: {}: {}", target_.string(), what, std::strerror(err))};
}

result<atomic_file> atomic_file::create(const std::filesystem::path& target) {
  if (target.empty() || !target.has_filename()) {
    return fail(errc::invalid_argument, fmt::format("'{}' is not a file path", target.string()));
  }
  drop_cached_pages_of(target);
  remove_stale_temps(target);
  for (int attempt = 0; attempt < 64; ++attempt) {
    auto temp = temp_name(target);
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      // The lock lives on its own descriptor: it outlasts prepare(), which closes `fd`, until
      // publish() or abandon(). A file system without flock still works (pid check only).
      const int lock_fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
      if (lock_fd >= 0) (void)::flock(lock_fd, LOCK_EX | LOCK_NB);
      return atomic_file(fd, lock_fd, target, std::move(temp));
    }
    if (errno != EEXIST) {
      return fail(errc::io,
                  fmt::format("{}: cannot create a temp file in '{}': {}", target.string(),
                              folder_of(target).string(), std::strerror(errno)));
    }
  }
  return fail(errc::io, fmt::format("{}: no unique temp file name in its folder", target.string()));
}

result<atomic_file> atomic_file::prepared_text(const std::filesystem::path& target,
                                               std::string_view text, bool fsync) {
  atomic_file f = ST_TRY(create(target));
  f.expect_size(text.size());
  ST_TRY(f.write(std::as_bytes(std::span(text))));
  ST_TRY(f.prepare(fsync));
  return f;
}

result<void> atomic_file::write_all(const std::byte* p, std::size_t n) {
  const std::uint64_t start = flushed_;
  const std::size_t total = n;
  while (n > 0) {
    // Linux writes at most 0x7ffff000 bytes per call.
    const std::size_t chunk = n < (1u << 30) ? n : (1u << 30);
    const ssize_t w = ::write(fd_, p, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(io_error("cannot write the temp file", errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
    flushed_ += static_cast<std::uint64_t>(w);
  }
  // A hint: fsync at commit still decides (and reports) durability.
  if (write_behind_)
    (void)::sync_file_range(fd_, static_cast<off_t>(start), static_cast<off_t>(total),
                            SYNC_FILE_RANGE_WRITE);
  if (on_written_) on_written_(temp_, flushed_);
  return {};
}

result<void> atomic_file::flush() {
  if (used_ == 0) return {};
  auto r = write_all(buffer_.get(), used_);
  used_ = 0;
  return r;
}

void atomic_file::expect_size(std::uint64_t bytes) noexcept {
  if (buffer_) return;  // the first write chose the size
  constexpr std::uint64_t page = 4096;
  capacity_ = static_cast<std::size_t>(
      std::clamp<std::uint64_t>((bytes + page - 1) / page * page, page, buffer_size));
}

void buffer_unmap::operator()(std::byte* p) const noexcept { (void)::munmap(p, bytes); }

// The buffer is a mapping of its own, filled as a whole before it is written out: its pages are
// populated in one call (on a virtual machine each first touch of a page can cost a fault of
// the host's; one madvise does them all), in transparent huge pages from 2 MiB up. It goes back
// to the system with the file, whatever the process's malloc keeps.
std::span<std::byte> atomic_file::free_space() {
  if (!buffer_) {
    constexpr std::size_t huge = std::size_t{2} << 20;
    const bool in_huge_pages = capacity_ >= huge;
    const std::size_t span = capacity_ + (in_huge_pages ? huge : 0);
    void* const m =
        ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    auto* start = static_cast<std::byte*>(m);
    if (in_huge_pages) {  // keep the 2 MiB-aligned capacity_ bytes inside the mapping
      const auto at = reinterpret_cast<std::uintptr_t>(m);
      const std::size_t head = ((at + huge - 1) / huge * huge) - at;
      if (head > 0) (void)::munmap(m, head);
      start += head;
      (void)::munmap(start + capacity_, huge - head);  // head < huge: a tail is always left
      (void)::madvise(start, capacity_, MADV_HUGEPAGE);
    }
#ifdef MADV_POPULATE_WRITE
    (void)::madvise(start, capacity_, MADV_POPULATE_WRITE);  // refused before Linux 5.14: lazy
#endif
    buffer_ = std::unique_ptr<std::byte[], buffer_unmap>(start, buffer_unmap{capacity_});
  }
  return {buffer_.get() + used_, capacity_ - used_};
}

result<void> atomic_file::write(std::span<const std::byte> bytes) {
  if (fd_ < 0)
    return fail(errc::invalid_argument, target_.string() + ": write after commit or abandon");
  written_ += bytes.size();
  // Every write(2) but the last starts and ends on a multiple of the buffer's size: the
  // page cache then holds the file in large folios, which later mmap readers map in a few
  // faults (a file written in unaligned pieces is several times slower to map and touch).
  while (!bytes.empty()) {
    if (used_ == 0 && bytes.size() >= capacity_) {
      const std::size_t whole = bytes.size() / capacity_ * capacity_;
      ST_TRY(write_all(bytes.data(), whole));
      bytes = bytes.subspan(whole);
      continue;
    }
    const auto space = free_space();
    const std::size_t take = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), take);
    used_ += take;
    bytes = bytes.subspan(take);
    if (used_ == capacity_) {
      ST_TRY(flush());
    }
  }
  return {};
}

result<void> atomic_file::fill(std::uint64_t n, const byte_reader& read) {
  if (fd_ < 0)
    return fail(errc::invalid_argument, target_.string() + ": write after commit or abandon");
  for (std::uint64_t at = 0; at < n;) {
    const auto space = free_space();
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(space.size(), n - at));
    ST_TRY(read(at, space.first(take)));
    used_ += take;
    written_ += take;
    at += take;
    if (used_ == capacity_) {
      ST_TRY(flush());
    }
  }
  return {};
}

result<void> atomic_file::commit(bool fsync, const file_check& check) {
  ST_TRY(prepare(fsync, check));
  return publish();
}

result<void> atomic_file::prepare(bool fsync, const file_check& check) {
  if (fd_ < 0)
    return fail(errc::invalid_argument, target_.string() + ": commit after commit or abandon");
  ST_TRY(flush());
  buffer_.reset();  // written out: not resident while the check reads the file back
  int sync_error = 0;
  if (check) {
    // The disk works on the fsync while the check reads the file back from the page cache.
    std::thread syncer;
    if (fsync) syncer = std::thread([&] { sync_error = ::fsync(fd_) == 0 ? 0 : errno; });
    auto checked = check(temp_);
    if (syncer.joinable()) syncer.join();
    ST_TRY(std::move(checked));  // on error the destructor removes the temp file
  } else if (fsync && ::fsync(fd_) != 0) {
    sync_error = errno;
  }
  if (sync_error != 0) return tl::unexpected(io_error("cannot fsync the temp file", sync_error));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    abandon();
    return tl::unexpected(io_error("cannot close the temp file", err));
  }
  synced_ = fsync;
  return {};
}

result<void> atomic_file::publish() {
  if (fd_ >= 0 || temp_.empty())
    return fail(errc::invalid_argument, target_.string() + ": publish before prepare or twice");
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    abandon();
    return tl::unexpected(io_error("cannot rename the temp file over it", err));
  }
  temp_.clear();
  release_lock();
  if (synced_) {
    const int dir = ::open(folder_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return tl::unexpected(io_error("cannot open its folder", errno));
    const int rc = ::fsync(dir);
    const int err = errno;
    ::close(dir);
    // Some file systems cannot fsync a directory; the rename itself has happened.
    if (rc != 0 && err != EINVAL && err != ENOTSUP)
      return tl::unexpected(io_error("cannot fsync its folder", err));
  }
  return {};
}

void atomic_file::release_lock() noexcept {
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
}

void atomic_file::abandon() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_.empty()) {
    ::unlink(temp_.c_str());
    temp_.clear();
  }
  release_lock();
  buffer_.reset();
  used_ = 0;
}

}  // namespace safetensors::detail
