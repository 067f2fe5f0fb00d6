// Dynamic batching: request workers submit encoded inputs; one inference thread takes the
// oldest queued inputs up to the token/request budget, runs them in length-sorted groups (little
// padding) and hands each input its logits through its completion callback.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "safetensors/server/backend.hpp"
#include "server/metrics.hpp"

namespace safetensors::server::detail {

struct batch_limits {
  std::size_t max_batch_tokens = 16384;  ///< padded tokens: longest x count
  std::size_t max_batch_requests = 64;
};

/// How many of the queued inputs (oldest first, by token count) the next batch takes: at least
/// one, and no more than fit max_batch_requests and max_batch_tokens (longest x count).
std::size_t next_batch_size(std::span<const std::size_t> queued_lengths,
                            const batch_limits& limits);

/// Splits lengths sorted longest first into consecutive groups whose padded size (first length x
/// group size) stays within (1 + max_waste) x their real token count; returns the group sizes.
std::vector<std::size_t> padding_groups(std::span<const std::size_t> sorted_lengths,
                                        double max_waste = 0.25);

struct item_outcome {
  result<std::vector<float>> logits;  ///< an error: the backend failed or the input was dropped
  double queue_seconds = 0;
  double inference_seconds = 0;
  std::size_t batch_size = 0;
};

class batcher {
 public:
  batcher(inference_backend& backend, batch_limits limits, metrics& m);
  ~batcher();  ///< stop()
  batcher(const batcher&) = delete;
  batcher& operator=(const batcher&) = delete;

  using completion = std::function<void(item_outcome)>;
  /// Queues one input; `done` is called once with its outcome, on the inference thread (or on
  /// this one when the batcher has stopped). If `cancelled` is true by the time its batch forms,
  /// it is dropped (an error outcome).
  void submit(model::encoding enc, std::shared_ptr<const std::atomic<bool>> cancelled,
              completion done);
  /// Runs everything still queued, then stops the inference thread. Idempotent.
  void stop();
  std::size_t queue_size() const;

 private:
  struct entry {
    model::encoding enc;
    std::shared_ptr<const std::atomic<bool>> cancelled;
    completion done;
    std::chrono::steady_clock::time_point queued_at;
  };
  void loop();
  std::vector<entry> take_batch(std::unique_lock<std::mutex>& lock);
  void run_batch(std::vector<entry>& batch);
  void run_group(std::span<entry> group, std::chrono::steady_clock::time_point started);

  inference_backend& backend_;
  batch_limits limits_;
  metrics& metrics_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<entry> queue_;
  bool stopping_ = false;
  bool finished_ = false;  ///< the inference thread has returned
  std::thread thread_;
};

}  // namespace safetensors::server::detail
