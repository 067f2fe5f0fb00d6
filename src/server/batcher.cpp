#include "server/batcher.hpp"

#include <algorithm>
#include <numeric>

namespace safetensors::server::detail {
namespace {

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

std::size_t next_batch_size(std::span<const std::size_t> queued_lengths,
                            const batch_limits& limits) {
  std::size_t longest = 0, n = 0;
  for (std::size_t len : queued_lengths) {
    if (n >= limits.max_batch_requests) break;
    const std::size_t widest = std::max(longest, len);
    if (n > 0 && widest * (n + 1) > limits.max_batch_tokens) break;
    longest = widest;
    ++n;
  }
  return std::max<std::size_t>(n, queued_lengths.empty() ? 0 : 1);
}

std::vector<std::size_t> padding_groups(std::span<const std::size_t> sorted_lengths,
                                        double max_waste) {
  std::vector<std::size_t> groups;
  std::size_t i = 0;
  while (i < sorted_lengths.size()) {
    const double width = static_cast<double>(sorted_lengths[i]);
    double real = width;
    std::size_t n = 1;
    while (i + n < sorted_lengths.size()) {
      const double next_real = real + static_cast<double>(sorted_lengths[i + n]);
      if (width * static_cast<double>(n + 1) > (1.0 + max_waste) * next_real) break;
      real = next_real;
      ++n;
    }
    groups.push_back(n);
    i += n;
  }
  return groups;
}

batcher::batcher(inference_backend& backend, batch_limits limits, metrics& m)
    : backend_(backend), limits_(limits), metrics_(m), thread_([this] { loop(); }) {}

batcher::~batcher() { stop(); }

void batcher::submit(model::encoding enc, std::shared_ptr<const std::atomic<bool>> cancelled,
                     completion done) {
  entry e{std::move(enc), std::move(cancelled), std::move(done), std::chrono::steady_clock::now()};
  {
    std::unique_lock lock(mutex_);
    if (!finished_) {
      queue_.push_back(std::move(e));
      metrics_.set_gauge("te_queue_size", static_cast<double>(queue_.size()));
      lock.unlock();
      wake_.notify_one();
      return;
    }
  }
  e.done({fail(errc::invalid_argument, "the server is shutting down"), 0, 0, 0});
}

void batcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::size_t batcher::queue_size() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void batcher::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {  // stopping, and nothing left to run
      finished_ = true;
      return;
    }
    auto batch = take_batch(lock);
    lock.unlock();
    if (!batch.empty()) run_batch(batch);
    lock.lock();
  }
}

std::vector<batcher::entry> batcher::take_batch(std::unique_lock<std::mutex>&) {
  std::vector<entry> batch;
  // Inputs whose request gave up (timeout) are answered and dropped before they cost anything.
  std::vector<std::size_t> lengths;
  lengths.reserve(std::min(queue_.size(), limits_.max_batch_requests));
  for (auto it = queue_.begin();
       it != queue_.end() && lengths.size() < limits_.max_batch_requests;) {
    if (it->cancelled && it->cancelled->load()) {
      it->done({fail(errc::invalid_argument, "dropped: the request timed out"), 0, 0, 0});
      metrics_.inc("te_request_failure", "err=\"dropped\"");
      it = queue_.erase(it);
      continue;
    }
    lengths.push_back(it->enc.size());
    ++it;
  }
  const std::size_t n = next_batch_size(lengths, limits_);
  for (std::size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  metrics_.set_gauge("te_queue_size", static_cast<double>(queue_.size()));
  return batch;
}

void batcher::run_batch(std::vector<entry>& batch) {
  const auto started = std::chrono::steady_clock::now();
  std::stable_sort(batch.begin(), batch.end(),
                   [](const entry& a, const entry& b) { return a.enc.size() > b.enc.size(); });
  std::vector<std::size_t> lengths;
  for (const auto& e : batch) lengths.push_back(e.enc.size());
  metrics_.observe("te_batch_next_size", static_cast<double>(batch.size()));
  metrics_.observe("te_batch_next_tokens", static_cast<double>(lengths.front() * batch.size()));
  std::size_t offset = 0;
  for (std::size_t group : padding_groups(lengths)) {
    run_group(std::span<entry>(batch).subspan(offset, group), started);
    offset += group;
  }
}

void batcher::run_group(std::span<entry> group, std::chrono::steady_clock::time_point started) {
  std::vector<model::encoding> encodings;
  encodings.reserve(group.size());
  for (auto& e : group) encodings.push_back(std::move(e.enc));
  const auto t0 = std::chrono::steady_clock::now();
  auto logits = backend_.logits(encodings);
  const auto t1 = std::chrono::steady_clock::now();
  if (logits && logits->size() != group.size()) {
    logits = fail(errc::invalid_model, "the backend returned " + std::to_string(logits->size()) +
                                           " rows for a batch of " + std::to_string(group.size()));
  }
  for (std::size_t i = 0; i < group.size(); ++i) {
    item_outcome out;
    out.queue_seconds = seconds_between(group[i].queued_at, started) + seconds_between(started, t0);
    out.inference_seconds = seconds_between(t0, t1);
    out.batch_size = group.size();
    if (logits) {
      out.logits = std::move((*logits)[i]);
    } else {
      out.logits = tl::unexpected(logits.error());
    }
    group[i].done(std::move(out));
  }
}

}  // namespace safetensors::server::detail
