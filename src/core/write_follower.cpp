#include "core/write_follower.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <span>

#include "core/header_json.hpp"
#include "core/piece_sums.hpp"
#include "safetensors/header.hpp"

namespace safetensors::detail {

struct write_follower::followed {
  struct piece {
    std::size_t tensor;
    std::size_t k;
    std::uint64_t offset;
    std::uint64_t length;
  };
  int fd = -1;
  std::uint64_t header = 0;  // N once the length prefix was read
  bool parsed = false;       // pieces known
  std::vector<piece> pieces;
  std::size_t next = 0;
  std::unique_ptr<std::byte[]> buffer;

  ~followed() {
    if (fd >= 0) ::close(fd);
  }
  /// Reads exactly `out.size()` bytes at `at`.
  bool read(std::uint64_t at, std::span<std::byte> out) const {
    while (!out.empty()) {
      const ssize_t r = ::pread(fd, out.data(), out.size(), static_cast<off_t>(at));
      if (r <= 0) return false;
      out = out.subspan(static_cast<std::size_t>(r));
      at += static_cast<std::uint64_t>(r);
    }
    return true;
  }
};

write_follower::write_follower(const std::unordered_map<std::string_view, std::size_t>& by_name,
                               const std::vector<std::uint64_t>& sizes, std::uint64_t start_after)
    : by_name_(by_name), sizes_(sizes), sums_(sizes.size()), start_after_(start_after) {
  for (std::size_t i = 0; i < sizes.size(); ++i)
    sums_[i].resize(static_cast<std::size_t>((sizes[i] + piece_size - 1) / piece_size));
}

write_follower::~write_follower() {
  {
    std::lock_guard g(lock_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void write_follower::advance(const std::filesystem::path& temp, std::uint64_t bytes) {
  bool wake = false;
  {
    std::lock_guard g(lock_);
    if (temp != path_ || file_ == 0) {
      path_ = temp;
      ++file_;
      needed_ = 0;
      wake = true;
    }
    bytes_ = bytes;
    wake = wake || bytes_ >= needed_;
    if (!thread_.joinable() && bytes >= start_after_) thread_ = std::thread([this] { run(); });
  }
  if (wake) changed_.notify_all();
}

void write_follower::close() {
  std::unique_lock l(lock_);
  closed_ = file_;
  path_.clear();  // the same path written again later is another file
  changed_.notify_all();
  changed_.wait(l, [&] { return !working_; });
}

void write_follower::settle() {
  std::unique_lock l(lock_);
  changed_.wait(l, [&] {
    return !thread_.joinable() || closed_ >= file_ || (!working_ && needed_ > bytes_);
  });
}

void write_follower::run() {
  std::unique_ptr<followed> f;
  std::uint64_t current = 0;  // the file number f follows
  std::unique_lock l(lock_);
  for (;;) {
    changed_.wait(
        l, [&] { return stop_ || (file_ > closed_ && (file_ != current || bytes_ >= needed_)); });
    if (stop_) return;
    if (file_ != current) {
      current = file_;
      f = std::make_unique<followed>();
      f->fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (f->fd < 0) closed_ = current;  // not readable: the final check reads it all
      continue;
    }
    const std::uint64_t bytes = bytes_;
    working_ = true;
    l.unlock();
    const bool more = step(*f, bytes);
    l.lock();
    working_ = false;
    changed_.notify_all();
    if (!more && current == file_) closed_ = std::max(closed_, current);
  }
}

bool write_follower::step(followed& f, std::uint64_t bytes) {
  const auto wait_for = [&](std::uint64_t n) {
    std::lock_guard g(lock_);
    needed_ = n;
    return true;
  };
  if (f.header == 0) {
    std::byte prefix[8];
    if (bytes < 8) return wait_for(8);
    if (!f.read(0, prefix)) return false;
    const auto n = read_header_length(prefix, std::numeric_limits<std::uint64_t>::max());
    if (!n || *n == 0) return false;
    f.header = *n;
  }
  if (!f.parsed) {
    if (bytes < 8 + f.header) return wait_for(8 + f.header);
    std::string json(static_cast<std::size_t>(f.header), '\0');
    if (!f.read(8, std::as_writable_bytes(std::span(json)))) return false;
    const auto parsed = parse_header_json(json, "follow", false);
    if (!parsed) return false;
    for (const auto& t : parsed->tensors) {
      const auto it = by_name_.find(t.name);
      if (it == by_name_.end() || t.end < t.begin || t.end - t.begin != sizes_[it->second])
        continue;
      const std::uint64_t n = t.end - t.begin;
      for (std::uint64_t at = 0, k = 0; at < n; at += piece_size, ++k)
        f.pieces.push_back({it->second, static_cast<std::size_t>(k), 8 + f.header + t.begin + at,
                            std::min(piece_size, n - at)});
    }
    std::sort(f.pieces.begin(), f.pieces.end(),
              [](const auto& a, const auto& b) { return a.offset < b.offset; });
    f.parsed = true;
    std::uint64_t largest = 0;
    for (const auto& p : f.pieces) largest = std::max(largest, p.length);
    f.buffer = std::make_unique_for_overwrite<std::byte[]>(static_cast<std::size_t>(largest));
  }
  if (f.next == f.pieces.size()) return false;
  const auto& p = f.pieces[f.next];
  if (bytes < p.offset + p.length) return wait_for(p.offset + p.length);
  const std::span<std::byte> mine(f.buffer.get(), static_cast<std::size_t>(p.length));
  if (!f.read(p.offset, mine)) return false;
  sums_[p.tensor][p.k] = {p.offset, p.length, piece_sum(mine)};
  ++f.next;
  return true;
}

}  // namespace safetensors::detail
