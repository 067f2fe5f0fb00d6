// safetensors-cli serve: the HTTP inference server (src/server, docs/DEPLOY.md).
#include <fmt/format.h>
#include <pthread.h>

#include <csignal>
#include <cstdio>

#include "command.hpp"
#include "output.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/server/server.hpp"

namespace safetensors::cli {
namespace {

struct serve_args {
  std::string model;
  server::server_options opts;
  double request_timeout_s = 30, read_timeout_s = 10, keep_alive_timeout_s = 5;
  int threads = 0;
  std::string precision = "fp32";
};

// Lifecycle lines share the request log's format (stderr).
void log_event(const serve_args& a, std::string_view event, std::string_view detail = {}) {
  std::string line;
  if (a.opts.json_logs) {
    json_writer w;
    w.begin_object().key("level").value("INFO").key("event").value(event);
    if (!detail.empty()) w.key("detail").value(detail);
    w.end_object();
    line = w.take();
  } else {
    line = detail.empty() ? std::string(event) : fmt::format("{}: {}", event, detail);
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

// Signals are blocked in every thread and taken synchronously by sigwait in the main thread.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

int run_serve(serve_args& a) {
  a.opts.request_timeout =
      std::chrono::milliseconds(static_cast<long long>(a.request_timeout_s * 1000));
  a.opts.read_timeout = std::chrono::seconds(static_cast<long long>(a.read_timeout_s));
  a.opts.keep_alive_timeout = std::chrono::seconds(static_cast<long long>(a.keep_alive_timeout_s));
  std::signal(SIGPIPE, SIG_IGN);
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::server srv(a.opts);
  auto port = srv.bind();
  if (!port) return report_error(port.error());
  std::printf("listening on http://%s:%d\n", a.opts.host.c_str(), *port);
  std::fflush(stdout);
  srv.start();

  auto backend = server::load_classifier_backend(
      a.model, a.threads, model::parse_precision(a.precision).value_or(model::precision::fp32));
  if (!backend) {
    srv.shutdown();
    return report_error(backend.error(), a.model);
  }
  if (auto r = srv.set_backend(std::move(*backend)); !r) {
    srv.shutdown();
    return report_error(r.error(), a.model);
  }
  log_event(a, "ready", fmt::format("model {} on http://{}:{}", a.model, a.opts.host, *port));

  int sig = 0;
  sigwait(&signals, &sig);
  log_event(a, "shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  srv.shutdown();
  log_event(a, "stopped");
  return exit_ok;
}

std::function<int()> setup_serve(CLI::App& sub) {
  auto a = std::make_shared<serve_args>();
  auto& o = a->opts;
  sub.add_option("--model", a->model, "Model folder (config.json, tokenizer, weights)")->required();
  sub.add_option("--host", o.host, "Address to listen on")->capture_default_str();
  sub.add_option("--port", o.port, "Port (0: pick a free one and print it)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  sub.add_option("--max-batch-tokens", o.max_batch_tokens, "Padded tokens per inference batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--max-batch-requests", o.max_batch_requests, "Inputs per inference batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--max-concurrent-requests", o.max_concurrent_requests,
                 "Inputs admitted at once (429 beyond)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--max-client-batch-size", o.max_client_batch_size,
                 "Inputs per request (422 beyond)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--payload-limit", o.payload_limit, "Request body bytes (413 beyond)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--auto-truncate", o.auto_truncate,
                 "Truncate long inputs when a request leaves `truncate` null (true|false)")
      ->capture_default_str();
  sub.add_option("--api-key", o.api_key,
                 "Require `Authorization: Bearer KEY` (except /health, /metrics)")
      ->envname("SAFETENSORS_API_KEY");
  sub.add_option("--request-timeout", a->request_timeout_s,
                 "Seconds a request may wait for inference (503 beyond)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--read-timeout", a->read_timeout_s,
                 "Seconds for a request's whole head, then its whole body, then the response write")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--keep-alive-timeout", a->keep_alive_timeout_s,
                 "Seconds a kept-alive connection has for its next request's head")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--precision", a->precision,
                 "Compute precision: fp32, bf16 or int8 (docs/MODEL.md \"Precision\")")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  sub.add_option("--threads", a->threads, "Inference threads (0: all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--max-header-bytes", o.max_header_bytes,
                 "Request line + headers bytes (431 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(1024, 1 << 20));
  sub.add_option("--max-connections", o.max_connections,
                 "Open connections (503 and close beyond; capped by the open-file limit)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--io-threads", o.io_threads, "Event-loop threads serving the connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  sub.add_option("--http-threads", o.http_threads, "Request workers (JSON parsing, tokenization)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  sub.add_flag("--json-logs", o.json_logs, "One JSON object per log line");
  return [a] { return run_serve(*a); };
}

SAFETENSORS_CLI_COMMAND("serve", "Serve a classifier over HTTP (text-embeddings-inference API)",
                        setup_serve);

}  // namespace
}  // namespace safetensors::cli
