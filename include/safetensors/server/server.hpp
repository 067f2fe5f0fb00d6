// An HTTP inference server with text-embeddings-inference's API (docs/DEPLOY.md): /predict,
// /tokenize, /decode, /info, /health, /metrics, with dynamic batching and admission control.
//
//   server s(opts);
//   auto port = s.bind();                       // listening; /health answers 503
//   s.start();                                  // I/O threads accepting
//   s.set_backend(std::move(backend));          // warm-up batch, then /health answers 200
//   ...
//   s.shutdown();                               // stop accepting, finish in-flight, join
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "safetensors/error.hpp"
#include "safetensors/server/backend.hpp"

namespace safetensors::server {

struct server_options {
  std::string host = "127.0.0.1";
  int port = 8080;                            ///< 0: any free port (bind() returns it)
  std::size_t max_batch_tokens = 16384;       ///< padded tokens (longest x count) per batch
  std::size_t max_batch_requests = 64;        ///< inputs per batch
  std::size_t max_concurrent_requests = 512;  ///< inputs admitted at once; beyond: 429
  std::size_t max_client_batch_size = 32;     ///< inputs per request; beyond: 422
  std::size_t payload_limit = 2'000'000;      ///< request body bytes; beyond: 413
  bool auto_truncate = true;                  ///< default when a request leaves truncate null
  std::string api_key;                        ///< non-empty: Bearer token required (401)
  std::chrono::milliseconds request_timeout{30'000};  ///< queue + inference wait; then 503
  /// Whole request head, then whole body, then the response write: each must finish within this.
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds keep_alive_timeout{5};  ///< for the next request's head on a connection
  std::size_t max_header_bytes = 16 * 1024;    ///< request line + headers; beyond: 431
  /// Open connections; beyond: 503 and close. Capped at the open-file limit less a reserve.
  std::size_t max_connections = 10'000;
  std::size_t io_threads = 2;      ///< event-loop threads (epoll) serving every connection
  std::size_t http_threads = 128;  ///< request workers: JSON parsing and tokenization
  bool json_logs = false;          ///< one JSON object per request line
  /// Where request log lines go (one line each, no newline); default: stderr.
  std::function<void(const std::string&)> log_sink;
};

class server {
 public:
  explicit server(server_options opts);
  ~server();  ///< shutdown() if still running
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds host:port; returns the port (the chosen one when port is 0).
  result<int> bind();
  /// Starts accepting connections on a background thread (after bind()).
  void start();
  /// Installs the model, runs one warm-up batch through it, then reports ready. Fails (and stays
  /// not ready) when the warm-up fails or the options cannot serve this model.
  result<void> set_backend(std::unique_ptr<inference_backend> backend);
  bool ready() const noexcept;
  /// Graceful stop: /health turns 503, the listening socket closes, requests already accepted
  /// are answered, then the inference loop stops. Idempotent; blocks until done.
  void shutdown();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace safetensors::server
