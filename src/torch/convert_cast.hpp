// The dtype each converted tensor is written in (--dtype) and its bytes in that dtype.
#pragma once

#include <cstdint>

#include "safetensors/dtype.hpp"
#include "safetensors/error.hpp"
#include "safetensors/torch/convert.hpp"
#include "torch/convert_sources.hpp"

namespace safetensors::torch::detail {

/// `opts.cast` for a floating tensor of any width (F64 ... F8, F6, F4); every other dtype
/// (integers, BOOL, C64) is written as it is.
dtype target_type(dtype src, const convert_options& opts);

/// Bytes of `s` in dtype `to`, from its element count: a byte count is never divided by an
/// element size, which sub-byte dtypes (F4, F6_*) do not have.
result<std::uint64_t> target_bytes(const source_tensor& s, dtype to);

/// Streams the bytes of `s` in dtype `to` (converted with convert_elements when it differs).
/// Source chunks may end inside a packed element group (three bytes hold four F6 values): the
/// tail waits for the next chunk. invalid_checkpoint when the bytes end inside a group.
result<void> stream_target(const source_tensor& s, dtype to, const torch_sink& sink);

}  // namespace safetensors::torch::detail
