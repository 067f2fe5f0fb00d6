// One log line per request: JSON (--json-logs) or plain text.
#pragma once

#include <chrono>

#include "safetensors/server/server.hpp"
#include "server/http_transport.hpp"

namespace safetensors::server::detail {

/// Formats and emits the line for one answered request. Its duration counts from the time routing
/// began (null when the request never reached routing, e.g. a 413 or a 431).
void log_request(const server_options& opts, const http_exchange& ex);

/// "2026-11-29T16:00:00.123Z"
std::string utc_timestamp();

}  // namespace safetensors::server::detail
