// Errors as values: every fallible call in safetensors-cpp returns result<T>.
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace safetensors {

/// Error kinds. The format kinds mirror the reference implementation's SafeTensorError
/// variants (see docs/FORMAT.md); the rest belong to the other layers.
enum class errc {
  // format (reference kinds)
  header_too_small,       ///< fewer than 8 bytes
  header_too_large,       ///< N above the limit (100,000,000 by default)
  invalid_header_length,  ///< 8 + N beyond the file
  invalid_utf8,           ///< header is not UTF-8
  invalid_json,           ///< syntax or schema error in the header JSON
  invalid_offset,         ///< gap, overlap, non-zero start or begin > end
  tensor_invalid_info,    ///< end - begin != numel * bits / 8
  incomplete_buffer,      ///< last end + 8 + N != file size
  validation_overflow,    ///< shape product / byte count overflows u64
  misaligned_slice,       ///< sub-byte dtype total not a multiple of 8 bits
  unknown_dtype,          ///< dtype name not one of the 22
  duplicate_key,          ///< our deviation: a name or metadata key appears twice
  tensor_not_found,
  invalid_slice,        ///< too many indexers, out of range, bad step
  dtype_mismatch,       ///< typed access with the wrong element type
  invalid_tensor_view,  ///< writer input: byte count does not match dtype x shape
  // files and arguments
  io,
  invalid_argument,
  invalid_index,  ///< sharded index json problems (paths, weight_map)
  // torch checkpoints
  unsupported,         ///< a valid construct we refuse (TorchScript, sparse, ...)
  malicious,           ///< a pickle that names a known-dangerous callable
  limit_exceeded,      ///< a resource limit of the unpickler or a parser
  invalid_checkpoint,  ///< a corrupt torch checkpoint (zip, pickle, storage records)
  // model / tokenizer
  invalid_model,
};

/// Stable snake_case name of a kind, e.g. "invalid_offset" (used in --json output and tests).
std::string_view errc_name(errc code) noexcept;

struct error {
  errc code;
  std::string message;  ///< one line; names the file, tensor or field
};

/// A value or an error: tl::expected<T, error>, with everything it offers (`if (!r)`, `*r`,
/// `r->`, `r.error()`, `value_or`, comparisons), but [[nodiscard]]: a call whose result is
/// dropped does not compile (-Werror=unused-result). Ignoring one on purpose is written
/// `(void)f();` with a comment why. Propagate errors with ST_TRY (src/core/try.hpp).
template <class T>
class [[nodiscard]] result : public tl::expected<T, error> {
  using base = tl::expected<T, error>;

 public:
  using base::base;  // from a value, tl::unexpected<error> (fail(...)), in_place, unexpect, ...
  result() = default;
  result(const base& b) : base(b) {}  // NOLINT(google-explicit-constructor): map(), and_then()
  result(base&& b) : base(std::move(b)) {}  // NOLINT(google-explicit-constructor)
};

/// Shorthand for `return fail(errc::io, "...")` in functions returning result<T>.
inline tl::unexpected<error> fail(errc code, std::string message) {
  return tl::unexpected<error>(error{code, std::move(message)});
}

}  // namespace safetensors
