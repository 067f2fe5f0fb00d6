// The fixed table of globals the unpickler understands, and the known-dangerous ones.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "safetensors/dtype.hpp"

namespace safetensors::torch::detail {

/// What a known global means. Nothing here is ever called: REDUCE/NEWOBJ on a symbol is
/// interpreted by the unpickler according to this kind.
enum class sym : std::uint8_t {
  ordered_dict,    // collections.OrderedDict: a dict (empty, or from pairs)
  counter,         // collections.Counter: a dict from a mapping, else counts of elements
  rebuild_tensor,  // torch._utils._rebuild_tensor
  rebuild_tensor_v2,
  rebuild_tensor_v3,
  rebuild_parameter,
  rebuild_parameter_with_state,
  rebuild_from_type_v2,  // torch._tensor._rebuild_from_type_v2
  rebuild_refused,       // quantized/sparse/meta/numpy/wrapper/nested rebuilds: tensor refused
  storage_class,         // torch.FloatStorage ... (dtype in `torch_dtype`), UntypedStorage
  torch_dtype,           // torch.float32 ...
  tensor_class,          // torch.Tensor, torch._tensor.Tensor, torch.nn.parameter.Parameter
  parameter_class,
  size,           // torch.Size
  device,         // torch.device
  codecs_encode,  // _codecs.encode
  make_set,       // builtins.set / frozenset
  make_bytes,     // builtins.bytearray
  opaque_data,    // builtins.slice/complex, torch layouts and qschemes: plain data
};

/// A torch element type (storage class or dtype): its safetensors dtype when there is one.
struct torch_type {
  std::string_view torch_name;  // "float32", "complex128", "qint8", "uint8 (untyped)"
  std::optional<dtype> type;    // nullopt: no safetensors dtype (refused)
  std::uint8_t element_size;
};

struct symbol {
  sym kind = sym::opaque_data;
  std::int16_t type_index = -1;  // index into torch_types() for storage_class / torch_dtype
  std::string_view detail;       // rebuild_refused: what kind of tensor it builds
  constexpr symbol() = default;
  constexpr explicit symbol(sym k, std::int16_t t = -1, std::string_view d = {})
      : kind(k), type_index(t), detail(d) {}
};

const torch_type& torch_type_at(std::size_t index);

/// "module.name" after Python-2 name mapping (__builtin__ -> builtins, copy_reg -> copyreg,
/// torch.tensor -> torch._tensor), as torch's weights_only unpickler maps them.
std::string normalize_global(std::string_view module, std::string_view name);

/// The allowlist entry for a normalized name, if any.
std::optional<symbol> find_symbol(std::string_view full_name);

/// True for known-dangerous callables (os/posix/nt/subprocess/..., builtins.eval/exec/...).
bool is_dangerous_global(std::string_view full_name);

}  // namespace safetensors::torch::detail
