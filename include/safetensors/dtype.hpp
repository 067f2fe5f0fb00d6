// The 22 dtypes of the safetensors format, their sizes, and element conversion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "safetensors/error.hpp"

namespace safetensors {

/// Declared in the reference implementation's enum order (increasing alignment). The writer
/// sorts tensors by this value descending, then by name.
enum class dtype : std::uint8_t {
  BOOL,
  F4,
  F6_E2M3,
  F6_E3M2,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,
  F64,
  I64,
  U64,
};
inline constexpr int dtype_count = 22;

/// "F32", "BF16", ... exactly as written in headers.
std::string_view dtype_name(dtype t) noexcept;
/// Exact, case-sensitive match of one of the 22 names.
std::optional<dtype> dtype_from_name(std::string_view name) noexcept;
/// Bits per element: 4 (F4), 6 (F6_*), 8, 16, 32 or 64.
unsigned dtype_bits(dtype t) noexcept;
/// True for F64 F32 F16 BF16 and every F8/F6/F4 variant (not C64).
bool dtype_is_float(dtype t) noexcept;
bool dtype_is_integer(dtype t) noexcept;  ///< I8..U64 and BOOL

/// Bytes for `count` elements; error (validation_overflow / misaligned_slice) when the bit
/// total overflows or is not a multiple of 8.
result<std::uint64_t> dtype_byte_size(dtype t, std::uint64_t count);

/// Converts `count` elements from `src` (dtype `from`) to `dst` (dtype `to`) through float32
/// (float64 for F64<->F64/integers), round-to-nearest-even when narrowing, saturating or
/// NaN per the target's rules. Sub-byte dtypes are packed little-end first. C64 converts only
/// to C64. `dst` must hold dtype_byte_size(to, count) bytes.
result<void> convert_elements(dtype from, std::span<const std::byte> src, dtype to,
                              std::span<std::byte> dst, std::uint64_t count);

}  // namespace safetensors
