// What the HTTP handlers share: options, model, batcher, metrics, admission counter.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "safetensors/server/backend.hpp"
#include "safetensors/server/server.hpp"
#include "server/api_error.hpp"
#include "server/batcher.hpp"
#include "server/metrics.hpp"

namespace safetensors::server::detail {

struct server_state {
  server_options opts;
  metrics stats;
  std::unique_ptr<inference_backend> backend;
  std::unique_ptr<batcher> queue;
  std::atomic<bool> ready{false};    ///< /health: loaded, warmed up, not draining
  std::atomic<bool> serving{false};  ///< model routes work (also while draining)
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> admitted{0};  ///< inputs admitted and not yet answered
  std::size_t max_input_length = 0;      ///< tokens: min(model limit, max_batch_tokens)
  /// Runs `fn` once after `delay` (on an I/O thread); returns a function that cancels it.
  std::function<std::function<void()>(std::chrono::milliseconds, std::function<void()> fn)>
      schedule;
};

/// An HTTP answer, independent of the HTTP library.
struct reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string error_type;  ///< for the log line
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Per-request facts for the log line and metrics.
struct request_facts {
  std::size_t inputs = 0;
  std::size_t tokens = 0;
  double tokenization_ms = 0, queue_ms = 0, inference_ms = 0;
  std::string error_type;
};

reply error_reply(const api_error& e);

/// Inputs admitted against max_concurrent_requests, released on destruction.
class admission {
 public:
  admission(std::atomic<std::size_t>& counter, std::size_t n, std::size_t limit);
  ~admission();
  admission(const admission&) = delete;
  admission& operator=(const admission&) = delete;
  bool admitted() const noexcept { return ok_; }

 private:
  std::atomic<std::size_t>& counter_;
  std::size_t n_ = 0;
  bool ok_ = false;
};

/// How an asynchronous /predict answers: once, from any thread.
using predict_answer = std::function<void(reply r, const request_facts& facts)>;
/// POST /predict: parses, admits and tokenizes on the calling thread, queues the inputs and
/// returns; `answer` comes from the inference thread when the last input ran, or from
/// s.schedule's timer when --request-timeout passes first (503; the queued inputs are dropped).
void start_predict(server_state& s, std::string_view body, predict_answer answer);
/// The reply for a finished /predict (request duration and failure metrics recorded).
reply finished(server_state& s, api_result<reply> r, std::chrono::steady_clock::time_point t0);
reply handle_tokenize(server_state& s, std::string_view body, request_facts& facts);
reply handle_decode(server_state& s, std::string_view body, request_facts& facts);
reply handle_info(const server_state& s);
/// GET / (the inference page), GET /docs and GET /openapi.json (src/server/pages.cpp).
reply handle_page();
reply handle_docs();
reply handle_openapi();

}  // namespace safetensors::server::detail
