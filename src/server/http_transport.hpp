// The HTTP/1.1 transport: Boost.Beast over Boost.Asio, a small fixed pool of I/O threads on
// epoll. Every connection is a state machine on its own strand; none owns a thread, so idle or
// slow clients cost a few kilobytes each and never stop other clients from being answered.
//
// Limits (docs/DEPLOY.md "Connections and slow clients"): the request head must arrive whole
// within read_timeout (keep_alive_timeout for the next request on a kept-alive connection) and
// fit max_header_bytes (431 beyond); the body must fit max_body_bytes (413 beyond, told by
// Content-Length before any body byte is read, or as soon as a chunked body passes the limit)
// and arrive within read_timeout; at most max_connections are open (a connection beyond that is
// answered 503 and closed). Pipelined requests are answered in order on their connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "safetensors/error.hpp"
#include "server/server_state.hpp"

namespace safetensors::server::detail {

struct http_limits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 2'000'000;
  std::size_t max_connections = 10'000;
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds keep_alive_timeout{5'000};
  std::size_t io_threads = 2;
};

/// One request and its answer, shared by the transport and the handler that answers it.
struct http_exchange {
  std::string method;  ///< "GET", "POST", ... ("-" when the request line never parsed)
  std::string path;    ///< the target without its query string
  std::string authorization;
  std::string body;
  std::string remote_addr;
  reply answer;
  request_facts facts;
  std::chrono::steady_clock::time_point start{};  ///< set when routing begins
};
using exchange_ptr = std::shared_ptr<http_exchange>;

/// Called on an I/O thread for every complete request; must set ex->answer and then call
/// `done` exactly once, from any thread (hand slow work to another thread first).
using request_handler = std::function<void(const exchange_ptr& ex, std::function<void()> done)>;
/// Called once per answered request, after its response was written (or failed to be).
using request_logger = std::function<void(const http_exchange& ex)>;

class http_transport {
 public:
  http_transport(http_limits limits, request_handler handler, request_logger logger);
  ~http_transport();  ///< shutdown()
  http_transport(const http_transport&) = delete;
  http_transport& operator=(const http_transport&) = delete;

  /// Listens on host:port (backlog SOMAXCONN); returns the port (the chosen one for port 0).
  result<int> bind(const std::string& host, int port);
  /// Starts the I/O threads and accepting.
  void start();
  /// Stops accepting, closes connections waiting for a request, answers the requests already
  /// read (their responses say Connection: close), then joins the I/O threads. Idempotent.
  void shutdown();
  /// Connections open now (accepted and not yet closed).
  std::size_t open_connections() const;
  /// Runs `fn` on an I/O thread after `delay` (never, once shutdown() has returned); the
  /// function returned cancels it (from any thread).
  std::function<void()> after(std::chrono::milliseconds delay, std::function<void()> fn);

  struct core;  ///< the implementation (http_transport.cpp)

 private:
  std::unique_ptr<core> core_;
};

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force.
std::size_t raise_open_file_limit();

}  // namespace safetensors::server::detail
