// HTTP error values: {"error": "...", "error_type": "..."} with text-embeddings-inference's
// status codes (docs/DEPLOY.md "Errors"; TEI's router/src/http/server.rs `impl From<&ErrorType>
// for StatusCode`: Validation 413, Empty 400, Tokenizer 422, Backend 424, Overloaded 429,
// Unhealthy 503).
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace safetensors::server::detail {

struct api_error {
  int status;
  std::string type;     ///< "Validation", "Tokenizer", "Empty", "Overloaded", "Backend", ...
  std::string message;  ///< one line
};

template <class T>
using api_result = tl::expected<T, api_error>;

inline tl::unexpected<api_error> api_fail(int status, std::string type, std::string message) {
  return tl::unexpected<api_error>(api_error{status, std::move(type), std::move(message)});
}
/// 422 Validation ("Input validation error: ..."): the body is not the request's JSON shape
/// (malformed, a wrong field type, a missing field), where TEI's JSON extractor rejects with 422.
inline tl::unexpected<api_error> validation_fail(std::string_view what) {
  return api_fail(422, "Validation", "Input validation error: " + std::string(what));
}
/// TEI's TextEmbeddingsError::Validation: 413 Validation ("Input validation error: ...").
inline tl::unexpected<api_error> input_validation_fail(std::string_view what) {
  return api_fail(413, "Validation", "Input validation error: " + std::string(what));
}
/// TEI's TextEmbeddingsError::Empty: 400 Empty ("Input validation error: ...").
inline tl::unexpected<api_error> empty_fail(std::string_view what) {
  return api_fail(400, "Empty", "Input validation error: " + std::string(what));
}
/// TEI's TextEmbeddingsError::Tokenizer: 422 Tokenizer ("tokenizer error ...").
inline tl::unexpected<api_error> tokenizer_fail(std::string_view what) {
  return api_fail(422, "Tokenizer", "tokenizer error " + std::string(what));
}

/// The JSON body of an error response.
std::string error_body(const api_error& e);
/// The error_type and default message for a status answered without a handler's body (404,
/// 405, 413, 431, 400 on a malformed request...).
api_error error_for_status(int status);

}  // namespace safetensors::server::detail
