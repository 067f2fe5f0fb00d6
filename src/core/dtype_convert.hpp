// Private helpers of the element conversion (dtype_convert.cpp), for tests and messages.
#pragma once

#include <cstdint>
#include <span>

#include "safetensors/dtype.hpp"

namespace safetensors::detail {

/// Element `index` of a packed buffer of dtype `t` as a double (C64: its real part); NaN when
/// the element lies outside `data`.
double element_to_double(dtype t, std::span<const std::byte> data, std::uint64_t index);

}  // namespace safetensors::detail
