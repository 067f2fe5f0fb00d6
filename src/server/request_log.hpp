// One log line per request: JSON (--json-logs) or plain text.
#pragma once

#include <httplib.h>

#include <chrono>

#include "safetensors/server/server.hpp"
#include "server/server_state.hpp"

namespace safetensors::server::detail {

/// Formats and emits the line for one answered request. `start` is the steady-clock time routing
/// began (a default value when the request never reached routing, e.g. a 413).
void log_request(const server_options& opts, const httplib::Request& req,
                 const httplib::Response& res, const request_facts& facts,
                 std::chrono::steady_clock::time_point start);

/// "2026-11-29T16:00:00.123Z"
std::string utc_timestamp();

}  // namespace safetensors::server::detail
