// Read-back of a file while a writer produces it: on a thread of its own, each 4 MiB piece of each
// tensor is read back (from the page cache: it was just written) and checksummed as soon as the
// file holds it. The pipeline's verification then compares those checksums with the ones taken
// from the bytes the writer handed to the file, and reads back only what the follower did not.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/piece_sums.hpp"

namespace safetensors::detail {

/// One piece of a tensor as read back from a file: where it was read, its length, its checksum
/// (length 0: not read).
struct read_back_sum {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t sum = 0;
};

class write_follower {
 public:
  /// `by_name`: the index of each tensor that may be written, by name; `sizes`: their byte counts
  /// (both outlive the follower). The follower's thread starts when a file holds `start_after`
  /// bytes (it then reads that file from its start): smaller outputs are read back whole at the
  /// end, from the page cache, sooner than a thread starts.
  write_follower(const std::unordered_map<std::string_view, std::size_t>& by_name,
                 const std::vector<std::uint64_t>& sizes,
                 std::uint64_t start_after = 8 * piece_size);
  ~write_follower();
  write_follower(const write_follower&) = delete;
  write_follower& operator=(const write_follower&) = delete;

  /// The writer's progress (write_options::on_written): `temp` holds `bytes` bytes from its start.
  /// A path not seen before starts following that file. Returns at once.
  void advance(const std::filesystem::path& temp, std::uint64_t bytes);
  /// Stops following the current file and waits for the piece being read, if any: afterwards
  /// sum() is stable for every piece of that file.
  void close();
  /// Waits until the follower has read every piece the current file holds so far, or stopped
  /// following it (tests use it; the pipeline does not wait).
  void settle();
  /// Piece k of tensor `tensor`, read back while its file was written (length 0: it was not).
  const read_back_sum& sum(std::size_t tensor, std::size_t k) const { return sums_[tensor][k]; }

 private:
  struct followed;  // the follower thread's view of the current file
  void run();
  /// The follower's next step on `f` given the file's `bytes`: false when it is done with it.
  bool step(followed& f, std::uint64_t bytes);

  const std::unordered_map<std::string_view, std::size_t>& by_name_;
  const std::vector<std::uint64_t>& sizes_;
  std::vector<std::vector<read_back_sum>> sums_;  // per tensor, per piece
  const std::uint64_t start_after_;

  std::mutex lock_;
  std::condition_variable changed_;
  std::filesystem::path path_;  // the file being written
  std::uint64_t file_ = 0;      // counts the files followed; path_ is number file_
  std::uint64_t bytes_ = 0;     // bytes in it
  std::uint64_t closed_ = 0;    // files up to this number are no longer followed
  std::uint64_t needed_ = 0;    // the follower waits for this many bytes of file number file_
  bool working_ = false;        // the follower is reading (without the lock)
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace safetensors::detail
