// Names of the error kinds (stable: used in --json output, the C API and tests).
#include "safetensors/error.hpp"

namespace safetensors {

std::string_view errc_name(errc code) noexcept {
  switch (code) {
    case errc::header_too_small:
      return "header_too_small";
    case errc::header_too_large:
      return "header_too_large";
    case errc::invalid_header_length:
      return "invalid_header_length";
    case errc::invalid_utf8:
      return "invalid_utf8";
    case errc::invalid_json:
      return "invalid_json";
    case errc::invalid_offset:
      return "invalid_offset";
    case errc::tensor_invalid_info:
      return "tensor_invalid_info";
    case errc::incomplete_buffer:
      return "incomplete_buffer";
    case errc::validation_overflow:
      return "validation_overflow";
    case errc::misaligned_slice:
      return "misaligned_slice";
    case errc::unknown_dtype:
      return "unknown_dtype";
    case errc::duplicate_key:
      return "duplicate_key";
    case errc::tensor_not_found:
      return "tensor_not_found";
    case errc::invalid_slice:
      return "invalid_slice";
    case errc::dtype_mismatch:
      return "dtype_mismatch";
    case errc::invalid_tensor_view:
      return "invalid_tensor_view";
    case errc::io:
      return "io";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::invalid_index:
      return "invalid_index";
    case errc::unsupported:
      return "unsupported";
    case errc::malicious:
      return "malicious";
    case errc::limit_exceeded:
      return "limit_exceeded";
    case errc::invalid_checkpoint:
      return "invalid_checkpoint";
    case errc::invalid_model:
      return "invalid_model";
  }
  return "unknown_error";
}

}  // namespace safetensors
