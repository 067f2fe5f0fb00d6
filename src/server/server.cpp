// The server's routing (routes, 405s, auth, error bodies, logs) on the event-driven transport
// (http_transport.hpp), and its life cycle (bind, start, warm-up, graceful shutdown).
#include "safetensors/server/server.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "server/http_transport.hpp"
#include "server/request_log.hpp"
#include "server/server_state.hpp"
#include "server/work_pool.hpp"

namespace safetensors::server {

using detail::exchange_ptr;
using detail::reply;

namespace {

// Compares without an early exit, so the time taken does not reveal how much of a key matched.
bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool is_public(const detail::http_exchange& ex) {
  return ex.path == "/health" || ex.path == "/ping" || ex.path == "/metrics" ||
         ex.path == "/openapi.json" || ex.path == "/docs" ||
         (ex.path == "/" && (ex.method == "GET" || ex.method == "HEAD"));
}

enum class action { health, metrics, info, predict, tokenize, decode, page, docs, openapi };

struct route {
  std::string_view path;
  std::optional<action> get, post;  ///< what GET (and HEAD) / POST do; none: 405
};

constexpr route routes[] = {
    {"/predict", {}, action::predict},
    {"/invocations", {}, action::predict},
    {"/tokenize", {}, action::tokenize},
    {"/decode", {}, action::decode},
    {"/info", action::info, {}},
    {"/health", action::health, {}},
    {"/ping", action::health, {}},
    {"/metrics", action::metrics, {}},
    {"/", action::page, action::predict},
    {"/docs", action::docs, {}},
    {"/openapi.json", action::openapi, {}},
};

reply status_only(int status) {
  reply r;
  r.status = status;
  return r;
}

// Statuses without a body (401, 404, 405...) get the JSON error body.
void complete(reply& r) {
  if (r.status >= 400 && r.body.empty()) {
    r.body = detail::error_body(detail::error_for_status(r.status));
    r.content_type = "application/json";
  }
}

}  // namespace

struct server::impl {
  detail::server_state state;
  std::unique_ptr<detail::work_pool> workers;
  std::unique_ptr<detail::http_transport> http;
  std::mutex lifecycle;
  bool bound = false;
  bool stopped = false;

  void handle(const exchange_ptr& ex, std::function<void()> done);
  reply run(action a, detail::http_exchange& ex);
  void finish(detail::http_exchange& ex) const;
};

reply server::impl::run(action a, detail::http_exchange& ex) {
  switch (a) {
    case action::health:
      return state.ready.load() ? reply{} : detail::error_reply({503, "Unhealthy", "unhealthy"});
    case action::metrics: {
      state.stats.set_gauge("te_queue_size",
                            state.queue ? static_cast<double>(state.queue->queue_size()) : 0.0);
      reply r;
      r.body = state.stats.render();
      r.content_type = "text/plain; version=0.0.4";
      return r;
    }
    case action::info:
      return detail::handle_info(state);
    case action::predict:  // asynchronous: handle() starts it
      break;
    case action::tokenize:
      return detail::handle_tokenize(state, ex.body, ex.facts);
    case action::decode:
      return detail::handle_decode(state, ex.body, ex.facts);
    case action::page:
      return detail::handle_page();
    case action::docs:
      return detail::handle_docs();
    case action::openapi:
      return detail::handle_openapi();
  }
  return detail::error_reply({500, "Backend", "internal error: unknown route"});
}

void server::impl::finish(detail::http_exchange& ex) const {
  reply& r = ex.answer;
  complete(r);
  if (r.status >= 400 && ex.facts.error_type.empty()) ex.facts.error_type = r.error_type;
  const auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ex.start)
          .count();
  r.headers.emplace_back("x-total-time", fmt::format("{:.0f}", ms));
}

void server::impl::handle(const exchange_ptr& ex, std::function<void()> done) {
  ex->start = std::chrono::steady_clock::now();
  const auto answer_now = [&](reply r) {
    ex->answer = std::move(r);
    finish(*ex);
    done();
  };
  const auto& key = state.opts.api_key;
  if (!key.empty() && !is_public(*ex)) {
    const std::string_view prefix = "Bearer ", auth = ex->authorization;
    if (!auth.starts_with(prefix) || !constant_time_equal(auth.substr(prefix.size()), key)) {
      reply r = status_only(401);
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return answer_now(std::move(r));
    }
  }
  const auto it = std::find_if(std::begin(routes), std::end(routes),
                               [&](const route& r) { return r.path == ex->path; });
  if (it == std::end(routes)) return answer_now(status_only(404));
  const bool get = ex->method == "GET" || ex->method == "HEAD";
  const std::optional<action> a = get ? it->get : ex->method == "POST" ? it->post : std::nullopt;
  if (!a) {
    reply r = status_only(405);
    r.headers.emplace_back("Allow", it->get && it->post ? "GET, HEAD, POST"
                                    : it->get           ? "GET, HEAD"
                                                        : "POST");
    return answer_now(std::move(r));
  }
  if (*a == action::health || *a == action::metrics || *a == action::docs ||
      *a == action::openapi) {
    return answer_now(run(*a, *ex));
  }
  // The inference page answers 503 Unhealthy until the model is loaded, as GET / did before.
  if (!state.serving.load())
    return answer_now(detail::error_reply({503, "Unhealthy", "the model is not ready"}));
  if (*a == action::info || *a == action::page) return answer_now(run(*a, *ex));
  // Tokenization and inference: on a worker, never on an I/O thread. /predict does not wait
  // for the model: its answer comes from the inference thread (or the timeout timer).
  workers->post([this, ex, a, done = std::move(done)] {
    try {
      if (*a == action::predict) {
        detail::start_predict(state, ex->body,
                              [this, ex, done](reply r, const detail::request_facts& facts) {
                                ex->facts = facts;
                                ex->answer = std::move(r);
                                finish(*ex);
                                done();
                              });
        return;
      }
      ex->answer = run(*a, *ex);
    } catch (const std::exception& e) {
      ex->answer =
          detail::error_reply({500, "Backend", std::string("internal error: ") + e.what()});
    } catch (...) {
      ex->answer = detail::error_reply({500, "Backend", "internal error: unknown exception"});
    }
    finish(*ex);
    done();
  });
}

server::server(server_options opts) : impl_(std::make_unique<impl>()) {
  impl_->state.opts = std::move(opts);
  const auto& o = impl_->state.opts;
  detail::http_limits limits;
  limits.max_header_bytes = o.max_header_bytes;
  limits.max_body_bytes = o.payload_limit;
  // Every connection is a descriptor: take the hard open-file limit and keep a reserve for the
  // model's files, the listening socket and the log.
  const std::size_t files = detail::raise_open_file_limit();
  limits.max_connections = std::min(o.max_connections, files > 256 ? files - 128 : files / 2);
  limits.read_timeout = o.read_timeout;
  limits.keep_alive_timeout = o.keep_alive_timeout;
  limits.io_threads = o.io_threads;
  impl_->http = std::make_unique<detail::http_transport>(
      limits,
      [this](const exchange_ptr& ex, std::function<void()> done) {
        impl_->handle(ex, std::move(done));
      },
      [this](const detail::http_exchange& ex) { detail::log_request(impl_->state.opts, ex); });
  impl_->state.schedule = [this](std::chrono::milliseconds delay, std::function<void()> fn) {
    return impl_->http->after(delay, std::move(fn));
  };
}

server::~server() { shutdown(); }

result<int> server::bind() {
  std::lock_guard lock(impl_->lifecycle);
  const auto& o = impl_->state.opts;
  if (impl_->bound) return fail(errc::invalid_argument, "server: already bound");
  auto port = impl_->http->bind(o.host, o.port);
  if (!port) return port;
  impl_->bound = true;
  return port;
}

void server::start() {
  std::lock_guard lock(impl_->lifecycle);
  if (!impl_->bound || impl_->stopped || impl_->workers) return;
  impl_->workers = std::make_unique<detail::work_pool>(impl_->state.opts.http_threads);
  impl_->http->start();
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
  // Stop accepting, close idle connections, answer what was read (workers still run, the
  // batcher too), then stop the workers and the inference loop.
  impl_->http->shutdown();
  if (impl_->workers) impl_->workers->stop();
  if (impl_->state.queue) impl_->state.queue->stop();
}

}  // namespace safetensors::server
