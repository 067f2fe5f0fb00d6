#include "server/api_error.hpp"

#include "safetensors/json_writer.hpp"

namespace safetensors::server::detail {

std::string error_body(const api_error& e) {
  json_writer w;
  w.begin_object().key("error").value(e.message).key("error_type").value(e.type).end_object();
  return w.take();
}

api_error error_for_status(int status) {
  switch (status) {
    case 400:
      return {400, "Validation", "malformed HTTP request"};
    case 401:
      return {401, "Unauthorized", "missing or invalid bearer token"};
    case 404:
      return {404, "NotFound", "no such route"};
    case 405:
      return {405, "MethodNotAllowed", "method not allowed on this route"};
    case 413:
      return {413, "PayloadTooLarge", "request body exceeds the payload limit"};
    case 414:
      return {414, "Validation", "request URI too long"};
    case 431:
      return {431, "Validation", "request header fields too large"};
    case 503:
      return {503, "Unhealthy", "unhealthy"};
    default:
      return {status, "Backend", "HTTP error " + std::to_string(status)};
  }
}

}  // namespace safetensors::server::detail
