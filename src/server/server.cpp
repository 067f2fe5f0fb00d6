// The HTTP layer: cpp-httplib wiring (routes, 405s, auth, errors, logs) and the server's life
// cycle (bind, start, warm-up, graceful shutdown).
#include "safetensors/server/server.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <thread>

#include "server/request_log.hpp"
#include "server/server_state.hpp"

namespace safetensors::server {

using detail::reply;
using detail::request_facts;
using detail::server_state;

struct server::impl {
  server_state state;
  httplib::Server http;
  std::thread http_thread;
  std::atomic<int> listen_fd{-1};
  std::mutex lifecycle;
  bool bound = false;
  bool stopped = false;

  void configure();
  void add_routes();
  void answer(const httplib::Request& req, httplib::Response& res, const reply& r);
  template <class F>
  httplib::Server::Handler model_route(F handler);
};

namespace {

// Per connection thread: what the current request did, for the log line and x-* headers.
thread_local request_facts current_facts;
thread_local std::chrono::steady_clock::time_point current_start{};

// Compares without an early exit, so the time taken does not reveal how much of a key matched.
bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool is_public(const httplib::Request& req) {
  return req.path == "/health" || req.path == "/ping" || req.path == "/metrics" ||
         req.path == "/openapi.json" || req.path == "/docs" ||
         (req.path == "/" && (req.method == "GET" || req.method == "HEAD"));
}

}  // namespace

void server::impl::answer(const httplib::Request&, httplib::Response& res, const reply& r) {
  res.status = r.status;
  for (const auto& [k, v] : r.headers) res.set_header(k, v);
  if (!r.body.empty() || r.status >= 400) res.set_content(r.body, r.content_type);
  if (r.status >= 400) current_facts.error_type = r.error_type;
}

template <class F>
httplib::Server::Handler server::impl::model_route(F handler) {
  return [this, handler](const httplib::Request& req, httplib::Response& res) {
    if (!state.serving.load()) {
      answer(req, res, detail::error_reply({503, "Unhealthy", "the model is not ready"}));
      return;
    }
    answer(req, res, handler(req));
  };
}

void server::impl::add_routes() {
  auto predict = model_route([this](const httplib::Request& req) {
    return detail::handle_predict(state, req.body, current_facts);
  });
  auto health = [this](const httplib::Request& req, httplib::Response& res) {
    if (state.ready.load()) {
      res.status = 200;
    } else {
      answer(req, res, detail::error_reply({503, "Unhealthy", "unhealthy"}));
    }
  };
  struct route {
    const char* path;
    bool get, post;
  };
  const route routes[] = {
      {"/predict", false, true},      {"/invocations", false, true}, {"/tokenize", false, true},
      {"/decode", false, true},       {"/info", true, false},        {"/health", true, false},
      {"/ping", true, false},         {"/metrics", true, false},     {"/", true, true},
      {"/openapi.json", true, false}, {"/docs", true, false}};
  http.Post("/predict", predict).Post("/invocations", predict).Post("/", predict);
  http.Post("/tokenize", model_route([this](const httplib::Request& req) {
              return detail::handle_tokenize(state, req.body, current_facts);
            }));
  http.Post("/decode", model_route([this](const httplib::Request& req) {
              return detail::handle_decode(state, req.body, current_facts);
            }));
  http.Get("/info",
           model_route([this](const httplib::Request&) { return detail::handle_info(state); }));
  http.Get("/health", health).Get("/ping", health);
  // The inference page answers 503 Unhealthy until the model is loaded, as GET / did before.
  http.Get("/", model_route([](const httplib::Request&) { return detail::handle_page(); }));
  http.Get("/docs", [this](const httplib::Request& req, httplib::Response& res) {
    answer(req, res, detail::handle_docs());
  });
  http.Get("/openapi.json", [this](const httplib::Request& req, httplib::Response& res) {
    answer(req, res, detail::handle_openapi());
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    state.stats.set_gauge("te_queue_size",
                          state.queue ? static_cast<double>(state.queue->queue_size()) : 0.0);
    res.set_content(state.stats.render(), "text/plain; version=0.0.4");
  });
  // Every other method on a known route: 405 with Allow.
  for (const auto& r : routes) {
    const std::string allow = r.get && r.post ? "GET, HEAD, POST" : r.get ? "GET, HEAD" : "POST";
    auto not_allowed = [allow](const httplib::Request&, httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", allow);
    };
    if (!r.get) http.Get(r.path, not_allowed);
    if (!r.post) http.Post(r.path, not_allowed);
    http.Put(r.path, not_allowed)
        .Patch(r.path, not_allowed)
        .Delete(r.path, not_allowed)
        .Options(r.path, not_allowed);
  }
}

void server::impl::configure() {
  const auto& o = state.opts;
  const std::size_t threads = std::max<std::size_t>(o.http_threads, 1);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // SO_REUSEADDR only (httplib's default adds SO_REUSEPORT, which would let a second server
  // silently share the port); and remember the socket so shutdown() can stop accept().
  http.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd.store(sock);
  });
  http.set_payload_max_length(o.payload_limit);
  http.set_read_timeout(o.read_timeout);
  http.set_write_timeout(o.read_timeout);
  http.set_keep_alive_timeout(o.keep_alive_timeout.count());
  http.set_keep_alive_max_count(1000);
  http.set_tcp_nodelay(true);
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    current_start = std::chrono::steady_clock::now();
    current_facts = {};
    if (!state.opts.api_key.empty() && !is_public(req)) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string_view prefix = "Bearer ";
      if (auth.size() < prefix.size() || auth.compare(0, prefix.size(), prefix) != 0 ||
          !constant_time_equal(std::string_view(auth).substr(prefix.size()), state.opts.api_key)) {
        res.status = 401;
        res.set_header("WWW-Authenticate", "Bearer");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    if (current_start != std::chrono::steady_clock::time_point{}) {
      const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                                current_start)
                          .count();
      res.set_header("x-total-time", fmt::format("{:.0f}", ms));
    }
    if (state.draining.load()) res.set_header("Connection", "close");
  });
  // Statuses httplib sets itself (404, 405, 413, 400...) get the JSON error body.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&,
                                                                 httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    res.set_content(detail::error_body(detail::error_for_status(res.status)), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        res.status = 500;
        res.set_content(detail::error_body({500, "Backend", "internal error: " + what}),
                        "application/json");
      });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    detail::log_request(state.opts, req, res, current_facts, current_start);
    current_start = {};
  });
}

server::server(server_options opts) : impl_(std::make_unique<impl>()) {
  impl_->state.opts = std::move(opts);
  impl_->configure();
  impl_->add_routes();
}

server::~server() { shutdown(); }

result<int> server::bind() {
  std::lock_guard lock(impl_->lifecycle);
  const auto& o = impl_->state.opts;
  if (impl_->bound) return fail(errc::invalid_argument, "server: already bound");
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    port = -1;
  }
  if (port < 0)
    return fail(errc::io, fmt::format("{}:{}: cannot listen (address in use or invalid host)",
                                      o.host, o.port));
  // httplib listens with a backlog of 5; a burst of clients would see dropped SYNs and 1 s
  // retransmits. listen(2) again on the bound socket only raises the backlog.
  if (const int fd = impl_->listen_fd.load(); fd >= 0) ::listen(fd, SOMAXCONN);
  impl_->bound = true;
  return port;
}

void server::start() {
  std::lock_guard lock(impl_->lifecycle);
  if (!impl_->bound || impl_->stopped || impl_->http_thread.joinable()) return;
  impl_->http_thread = std::thread([this] { impl_->http.listen_after_bind(); });
}

result<void> server::set_backend(std::unique_ptr<inference_backend> backend) {
  auto& s = impl_->state;
  if (!backend) return fail(errc::invalid_argument, "server: no backend");
  if (s.ready.load() || s.backend)
    return fail(errc::invalid_argument, "server: the model is already set");
  const std::string& model_id = backend->info().model_id;
  const std::size_t model_max = backend->info().max_input_length;
  if (model_max == 0)
    return fail(errc::invalid_model,
                model_id + ": the model accepts no tokens (max_input_length 0)");
  if (model_max > s.opts.max_batch_tokens && !s.opts.auto_truncate) {
    return fail(errc::invalid_argument,
                fmt::format("--max-batch-tokens {} is below the model's max_input_length {} and "
                            "--auto-truncate is off: some valid inputs could never run",
                            s.opts.max_batch_tokens, model_max));
  }
  s.max_input_length = std::min(model_max, s.opts.max_batch_tokens);
  // Warm-up: two real batches through tokenizer and model before reporting ready (the engine
  // packs its weights on its second forward pass: no request pays for that).
  model::encode_options eo;
  eo.max_length = s.max_input_length;
  auto enc = backend->encode("warm-up", std::nullopt, eo);
  if (!enc)
    return fail(enc.error().code,
                model_id + ": warm-up tokenization failed: " + enc.error().message);
  std::vector<model::encoding> batch{std::move(*enc)};
  for (int pass = 0; pass < 2; ++pass) {
    auto logits = backend->logits(batch);
    if (!logits)
      return fail(logits.error().code,
                  model_id + ": warm-up batch failed: " + logits.error().message);
    if (logits->size() != 1 || (*logits)[0].size() != backend->info().id2label.size()) {
      return fail(errc::invalid_model,
                  model_id + ": the warm-up batch returned logits that do not match the labels");
    }
  }
  s.backend = std::move(backend);
  s.queue = std::make_unique<detail::batcher>(
      *s.backend,
      detail::batch_limits{s.opts.max_batch_tokens,
                           std::max<std::size_t>(s.opts.max_batch_requests, 1)},
      s.stats);
  s.serving.store(true);
  s.ready.store(true);
  return {};
}

bool server::ready() const noexcept { return impl_->state.ready.load(); }

void server::shutdown() {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->state.ready.store(false);
  impl_->state.draining.store(true);
  // shutdown(2) on the listening socket makes the blocked accept() fail: httplib leaves its
  // accept loop and joins its connection threads after they answer what they already read.
  const int fd = impl_->listen_fd.load();
  if (fd >= 0 && impl_->http_thread.joinable()) {
    ::shutdown(fd, SHUT_RDWR);
    impl_->http_thread.join();
  } else if (fd >= 0) {
    ::close(fd);  // bound but never started
  }
  if (impl_->state.queue) impl_->state.queue->stop();
}

}  // namespace safetensors::server
