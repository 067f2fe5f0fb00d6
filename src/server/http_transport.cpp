#include "server/http_transport.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace safetensors::server::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = beast::error_code;

// After a response that ends the connection, what the client still sends is read and dropped
// for a moment, so that closing with unread bytes does not reset the connection before the
// client has read the response (a 413 sent before the body was read); bounded in time and size.
constexpr auto linger_time = std::chrono::seconds(1);
constexpr std::size_t linger_bytes = 4 << 20;
// accept() failing (EMFILE, ENFILE, ENOBUFS) is retried after this pause, not in a busy loop.
constexpr auto accept_retry_pause = std::chrono::milliseconds(50);

bool is_http_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

reply status_reply(int status) { return error_reply(error_for_status(status)); }

}  // namespace

class connection;

// Handlers hold a plain pointer to the core: shutdown() joins the I/O threads before the core
// goes, and the members connections use on destruction (mutex, open) are declared before the
// io_context, so they outlive the handlers it destroys.
struct http_transport::core {
  http_limits limits;
  request_handler handler;
  request_logger logger;
  mutable std::mutex mutex;
  std::condition_variable all_closed;
  std::unordered_map<connection*, std::weak_ptr<connection>> open;
  bool started = false, stopped = false;
  std::atomic<bool> draining{false};
  asio::io_context ioc;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  asio::steady_timer accept_retry{acceptor.get_executor()};
  // Keeps the I/O threads running while shutdown() still posts to connections.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::vector<std::thread> threads;

  void do_accept();
  void on_accept(const error_code& ec, tcp::socket socket);
  bool admit(const std::shared_ptr<connection>& c);
  void forget(connection* c);
};

// One client connection: read a head, maybe a body, hand the request to the handler, write the
// answer, repeat while keep-alive. All of it runs on the connection's strand.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(http_transport::core* core, tcp::socket socket)
      : core_(core), stream_(std::move(socket)) {
    error_code ec;
    const auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_addr_ = ep.address().to_string();
  }
  ~connection() { core_->forget(this); }

  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_head(); });
  }
  /// Beyond max_connections: a 503 without reading anything, then close.
  void reject() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->ex_ = std::make_shared<http_exchange>();
      self->ex_->remote_addr = self->remote_addr_;
      self->keep_alive_ = false;
      self->ex_->answer = error_reply({503, "Overloaded", "too many open connections"});
      self->ex_->answer.headers.emplace_back("Retry-After", "1");
      self->write_answer();
    });
  }
  /// Shutdown: a connection waiting for a request is closed; one with a request in hand
  /// finishes it (its response says Connection: close).
  void stop_if_idle() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ == phase::head) self->close_now();
    });
  }

 private:
  enum class phase { head, body, busy, writing, closing };

  void read_head() {
    if (core_->draining.load()) return close_now();
    phase_ = phase::head;
    ex_ = std::make_shared<http_exchange>();
    ex_->remote_addr = remote_addr_;
    body_read_ = false;
    if (buffer_.size() == 0 && buffer_.capacity() > 64 * 1024) buffer_.shrink_to_fit();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(core_->limits.max_header_bytes));
    parser_->body_limit(core_->limits.max_body_bytes);
    // One deadline for the whole head: a client sending a line every few seconds is cut off
    // when it passes, however many lines it managed to send.
    stream_.expires_after(requests_ == 0 ? core_->limits.read_timeout
                                         : core_->limits.keep_alive_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_head(ec); });
  }

  void on_head(const error_code& ec) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    ex_->method = std::string(req.method_string());
    const std::string_view target = req.target();
    ex_->path = std::string(target.substr(0, target.find('?')));
    if (auto it = req.find(http::field::authorization); it != req.end())
      ex_->authorization = std::string(it->value());
    if (parser_->is_done()) return dispatch();
    phase_ = phase::body;
    stream_.expires_after(core_->limits.read_timeout);
    const auto expect = req[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(go_on.data(), go_on.size()),
                        [self = shared_from_this()](const error_code& e, std::size_t) {
                          if (e) return self->close_now();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](const error_code& ec, std::size_t) {
                       if (ec) return self->on_read_error(ec);
                       self->body_read_ = true;
                       self->dispatch();
                     });
  }

  // Read failures: a client gone or too slow is closed silently; a request over a limit or not
  // HTTP gets its status and the connection ends.
  void on_read_error(const error_code& ec) {
    if (const auto& req = parser_->get(); ex_->method.empty() && !req.method_string().empty()) {
      ex_->method = std::string(req.method_string());
      ex_->path = std::string(req.target().substr(0, req.target().find('?')));
    }
    if (ex_->method.empty()) ex_->method = "-";
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
      return fail_request(phase_ == phase::head ? 431 : 413);
    if (ec == http::error::body_limit) return fail_request(413);
    if (is_http_error(ec) && ec != http::error::end_of_stream && ec != http::error::partial_message)
      return fail_request(400);
    close_now();  // timeout, reset, end of stream, a message cut short
  }

  void fail_request(int status) {
    keep_alive_ = false;
    ex_->answer = status_reply(status);
    write_answer();
  }

  void dispatch() {
    phase_ = phase::busy;
    ++requests_;
    stream_.expires_never();
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    head_only_ = req.method() == http::verb::head;
    ex_->body = std::move(req.body());
    core_->handler(ex_, [self = shared_from_this()] {
      asio::post(self->stream_.get_executor(), [self] { self->write_answer(); });
    });
  }

  void write_answer() {
    phase_ = phase::writing;
    const reply& r = ex_->answer;
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(r.status));
    for (const auto& [k, v] : r.headers) res_.set(k, v);
    if (!r.body.empty() || r.status >= 400) res_.set(http::field::content_type, r.content_type);
    res_.body() = r.body;
    res_.prepare_payload();
    if (head_only_) res_.body().clear();  // HEAD: GET's headers (Content-Length too), no body
    if (core_->draining.load()) keep_alive_ = false;
    res_.keep_alive(keep_alive_);
    stream_.expires_after(core_->limits.read_timeout);
    http::async_write(stream_, res_,
                      [self = shared_from_this()](const error_code& ec, std::size_t) {
                        if (self->core_->logger && !self->ex_->method.empty())
                          self->core_->logger(*self->ex_);
                        if (ec) return self->close_now();
                        if (!self->keep_alive_) return self->linger();
                        self->read_head();
                      });
  }

  void linger() {
    phase_ = phase::closing;
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close_now();
    stream_.expires_after(linger_time);
    if (!scratch_) scratch_ = std::make_unique<std::array<char, 16384>>();
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(*scratch_),
                            [self = shared_from_this()](const error_code& ec, std::size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ > linger_bytes) return self->close_now();
                              self->drain();
                            });
  }

  void close_now() {
    phase_ = phase::closing;
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  http_transport::core* core_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  exchange_ptr ex_;
  std::string remote_addr_;
  std::unique_ptr<std::array<char, 16384>> scratch_;
  phase phase_ = phase::head;
  std::size_t requests_ = 0, lingered_ = 0;
  bool keep_alive_ = true, head_only_ = false, body_read_ = false;
};

void http_transport::core::do_accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](const error_code& ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void http_transport::core::on_accept(const error_code& ec, tcp::socket socket) {
  if (!acceptor.is_open() || ec == asio::error::operation_aborted) return;
  if (ec) {  // out of descriptors or buffers: pause, the listen backlog keeps the clients
    accept_retry.expires_after(accept_retry_pause);
    accept_retry.async_wait([this](const error_code& e) {
      if (!e && acceptor.is_open()) do_accept();
    });
    return;
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto c = std::make_shared<connection>(this, std::move(socket));
  if (admit(c))
    c->run();
  else
    c->reject();
  do_accept();
}

bool http_transport::core::admit(const std::shared_ptr<connection>& c) {
  std::lock_guard lock(mutex);
  if (open.size() >= limits.max_connections) return false;
  open.emplace(c.get(), c);
  return true;
}

void http_transport::core::forget(connection* c) {
  std::lock_guard lock(mutex);
  if (open.erase(c) && open.empty()) all_closed.notify_all();
}

http_transport::http_transport(http_limits limits, request_handler handler, request_logger logger)
    : core_(std::make_unique<core>()) {
  core_->limits = limits;
  core_->limits.io_threads = std::max<std::size_t>(limits.io_threads, 1);
  core_->handler = std::move(handler);
  core_->logger = std::move(logger);
}

http_transport::~http_transport() { shutdown(); }

result<int> http_transport::bind(const std::string& host, int port) {
  error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return fail(errc::io, fmt::format("{}:{}: invalid listen address", host, port));
  const tcp::endpoint ep(address, static_cast<unsigned short>(port));
  auto& a = core_->acceptor;
  a.open(ep.protocol(), ec);
  // SO_REUSEADDR only: a second server must not share the port (no SO_REUSEPORT).
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    a.close(ec);
    return fail(errc::io,
                fmt::format("{}:{}: cannot listen (address in use or invalid host)", host, port));
  }
  return static_cast<int>(a.local_endpoint().port());
}

void http_transport::start() {
  std::lock_guard lock(core_->mutex);
  if (core_->started || core_->stopped || !core_->acceptor.is_open()) return;
  core_->started = true;
  core_->keep_running.emplace(core_->ioc.get_executor());
  core_->do_accept();
  for (std::size_t i = 0; i < core_->limits.io_threads; ++i)
    core_->threads.emplace_back([c = core_.get()] { c->ioc.run(); });
}

void http_transport::shutdown() {
  auto& c = *core_;
  std::vector<std::shared_ptr<connection>> conns;
  {
    std::lock_guard lock(c.mutex);
    if (c.stopped) return;
    c.stopped = true;
    c.draining.store(true);
    for (auto& [raw, weak] : c.open)
      if (auto p = weak.lock()) conns.push_back(std::move(p));
  }
  std::promise<void> closed;
  asio::post(c.acceptor.get_executor(), [&c, &closed] {
    error_code ec;
    c.acceptor.close(ec);
    c.accept_retry.cancel();
    closed.set_value();
  });
  if (c.started) {
    closed.get_future().wait();
  } else {
    c.ioc.run();  // no I/O threads: run the close here
  }
  for (auto& conn : conns) conn->stop_if_idle();
  conns.clear();
  {
    // Requests already read are answered; their connections then close. A handler stuck
    // longer than this bound (its own timeouts are shorter) does not keep the process alive.
    std::unique_lock lock(c.mutex);
    c.all_closed.wait_for(lock, std::chrono::minutes(2), [&c] { return c.open.empty(); });
  }
  c.keep_running.reset();
  c.ioc.stop();
  for (auto& t : c.threads) t.join();
  c.threads.clear();
}

std::size_t http_transport::open_connections() const {
  std::lock_guard lock(core_->mutex);
  return core_->open.size();
}

std::function<void()> http_transport::after(std::chrono::milliseconds delay,
                                            std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(asio::make_strand(core_->ioc), delay);
  timer->async_wait([timer, fn = std::move(fn)](const error_code& ec) {
    if (!ec) fn();
  });
  return [timer] { asio::post(timer->get_executor(), [timer] { timer->cancel(); }); };
}

std::size_t raise_open_file_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20
                                      : static_cast<std::size_t>(rl.rlim_cur);
}

}  // namespace safetensors::server::detail
