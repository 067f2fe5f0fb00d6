#include "server/request_log.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

#include "safetensors/json_writer.hpp"

namespace safetensors::server::detail {

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms));
}

void log_request(const server_options& opts, const http_exchange& ex) {
  const auto start = ex.start;
  const auto& facts = ex.facts;
  const int status = ex.answer.status;
  const bool timed = start != std::chrono::steady_clock::time_point{};
  const double ms =
      timed ? std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count()
            : -1;
  std::string error_type = facts.error_type;
  if (status >= 400 && error_type.empty()) error_type = error_for_status(status).type;
  std::string line;
  if (opts.json_logs) {
    json_writer w;
    w.begin_object()
        .key("timestamp")
        .value(utc_timestamp())
        .key("level")
        .value(status >= 500 ? "WARN" : "INFO");
    w.key("method").value(ex.method).key("path").value(ex.path).key("status").value(status);
    w.key("duration_ms");
    if (timed)
      w.value(ms);
    else
      w.null();
    w.key("inputs")
        .value(static_cast<std::uint64_t>(facts.inputs))
        .key("tokens")
        .value(static_cast<std::uint64_t>(facts.tokens));
    w.key("tokenization_ms").value(facts.tokenization_ms).key("queue_ms").value(facts.queue_ms);
    w.key("inference_ms").value(facts.inference_ms).key("error_type");
    if (error_type.empty())
      w.null();
    else
      w.value(error_type);
    w.key("remote_addr").value(ex.remote_addr).end_object();
    line = w.take();
  } else {
    line = fmt::format("{} {} {} {} {} inputs={} tokens={}{}", utc_timestamp(), ex.remote_addr,
                       ex.method, ex.path, status, facts.inputs, facts.tokens,
                       error_type.empty() ? "" : " error=" + error_type);
    if (timed) line += fmt::format(" {:.1f}ms", ms);
  }
  if (opts.log_sink) {
    opts.log_sink(line);
  } else {
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
}

}  // namespace safetensors::server::detail
