// Private: bit-exact codecs for the narrow floating dtypes (F16, BF16, F8, F6, F4, E8M0).
#pragma once

#include <cstdint>
#include <optional>

#include "safetensors/dtype.hpp"

namespace safetensors::detail {

/// A sign/exponent/mantissa format. Special-value conventions (OCP / ml_dtypes / torch names):
///   ieee   - top exponent holds inf (mantissa 0) and NaN (F16, BF16, F8_E5M2)
///   fn     - no inf; NaN is S.1111.111 (F8_E4M3 = float8_e4m3fn, max 448)
///   fnuz   - no inf, no -0; NaN is 0x80 (F8_E4M3FNUZ bias 8, F8_E5M2FNUZ bias 16)
///   finite - no inf, no NaN (F6_E2M3, F6_E3M2, F4 = E2M1; MX spec), overflow saturates
struct minifloat {
  enum class specials : std::uint8_t { ieee, fn, fnuz, finite };
  int exp_bits;
  int man_bits;
  int bias;
  specials kind;
  int total_bits() const noexcept { return 1 + exp_bits + man_bits; }
};

/// The format of a floating dtype that is not F32/F64/F8_E8M0; nullopt otherwise.
std::optional<minifloat> minifloat_of(dtype t) noexcept;

/// Exact value of a code (every narrow format is exactly representable as a double).
double minifloat_decode(const minifloat& f, std::uint32_t code) noexcept;

/// Round-to-nearest-even encoding of `v`. Overflow: ieee -> inf, fn/fnuz -> NaN (as ml_dtypes
/// and torch do without saturation), finite -> +-max. NaN: ieee/fn keep the sign with all
/// mantissa bits set (F16 0x7e00 / BF16 0x7fc0 style quiet NaN for ieee), fnuz -> 0x80, finite
/// -> nullopt (not representable). fnuz has no -0: negative values that round to 0 give 0x00.
std::optional<std::uint32_t> minifloat_encode(const minifloat& f, double v) noexcept;

/// F8_E8M0 (float8_e8m0fnu): 2^(code-127), 0xff NaN, no sign, no zero (code 0 = 2^-127).
double e8m0_decode(std::uint8_t code) noexcept;
/// As torch's fp8e8m0fnu_from_fp32_value: the sign is ignored, NaN/inf -> 0xff, the exponent
/// rounds up when the first dropped mantissa bit is set and (any later bit is set or the
/// input is normal); 0 -> 0x00. Applied to the float32 nearest to `v`.
std::uint8_t e8m0_encode(float v) noexcept;

/// float32 <-> F16 / BF16 fast paths (RNE; NaN stays NaN).
float f16_to_float(std::uint16_t h) noexcept;
std::uint16_t float_to_f16(float f) noexcept;
float bf16_to_float(std::uint16_t h) noexcept;
std::uint16_t float_to_bf16(float f) noexcept;

}  // namespace safetensors::detail
