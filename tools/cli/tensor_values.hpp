// One element of a tensor as NumPy prints it (get --format text). Values as numbers come from
// the core (values.hpp decode_values).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "safetensors/dtype.hpp"

namespace safetensors::cli {

/// Element `index` printed like NumPy: integers exactly (U64/I64 too), BOOL as True/False,
/// floats in the shortest form that reads back in their own precision ("1.", "0.1", "nan",
/// "-inf", "1e-08"), C64 as "(re+imj)".
std::string format_element(dtype t, std::span<const std::byte> bytes, std::uint64_t index);

}  // namespace safetensors::cli
