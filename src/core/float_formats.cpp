// Narrow float codecs. Decoding is exact; encoding rounds once, to nearest even, from the
// exact source value (a double holds every value of every narrower format exactly).
#include "core/float_formats.hpp"

#include <bit>
#include <cmath>

namespace safetensors::detail {

std::optional<minifloat> minifloat_of(dtype t) noexcept {
  using s = minifloat::specials;
  switch (t) {
    case dtype::F16:
      return minifloat{5, 10, 15, s::ieee};
    case dtype::BF16:
      return minifloat{8, 7, 127, s::ieee};
    case dtype::F8_E5M2:
      return minifloat{5, 2, 15, s::ieee};
    case dtype::F8_E4M3:
      return minifloat{4, 3, 7, s::fn};
    case dtype::F8_E4M3FNUZ:
      return minifloat{4, 3, 8, s::fnuz};
    case dtype::F8_E5M2FNUZ:
      return minifloat{5, 2, 16, s::fnuz};
    case dtype::F6_E2M3:
      return minifloat{2, 3, 1, s::finite};
    case dtype::F6_E3M2:
      return minifloat{3, 2, 3, s::finite};
    case dtype::F4:
      return minifloat{2, 1, 1, s::finite};
    default:
      return std::nullopt;
  }
}

namespace {

struct fields {
  std::uint32_t sign_bit, exp_max, man_mask;
};
fields fields_of(const minifloat& f) {
  return {1u << (f.exp_bits + f.man_bits), (1u << f.exp_bits) - 1, (1u << f.man_bits) - 1};
}

// Largest finite magnitude code (exponent and mantissa fields, no sign).
std::uint32_t max_magnitude(const minifloat& f) {
  auto k = fields_of(f);
  switch (f.kind) {
    case minifloat::specials::ieee:
      return ((k.exp_max - 1) << f.man_bits) | k.man_mask;
    case minifloat::specials::fn:
      return (k.exp_max << f.man_bits) | (k.man_mask - 1);
    default:
      return (k.exp_max << f.man_bits) | k.man_mask;
  }
}

std::uint32_t nan_code(const minifloat& f, bool negative) {
  auto k = fields_of(f);
  std::uint32_t sign = negative ? k.sign_bit : 0;
  switch (f.kind) {
    case minifloat::specials::ieee:
      return sign | (k.exp_max << f.man_bits) | (1u << (f.man_bits - 1));
    case minifloat::specials::fn:
      return sign | (k.exp_max << f.man_bits) | k.man_mask;
    default:
      return k.sign_bit;  // fnuz
  }
}

std::optional<std::uint32_t> overflow_code(const minifloat& f, bool negative) {
  auto k = fields_of(f);
  std::uint32_t sign = negative ? k.sign_bit : 0;
  switch (f.kind) {
    case minifloat::specials::ieee:
      return sign | (k.exp_max << f.man_bits);
    case minifloat::specials::finite:
      return sign | max_magnitude(f);
    default:
      return nan_code(f, negative);
  }
}

}  // namespace

double minifloat_decode(const minifloat& f, std::uint32_t code) noexcept {
  auto k = fields_of(f);
  const bool negative = (code & k.sign_bit) != 0;
  const std::uint32_t e = (code >> f.man_bits) & k.exp_max, m = code & k.man_mask;
  switch (f.kind) {
    case minifloat::specials::ieee:
      if (e == k.exp_max) return m == 0 ? (negative ? -INFINITY : INFINITY) : std::nan("");
      break;
    case minifloat::specials::fn:
      if (e == k.exp_max && m == k.man_mask) return std::nan("");
      break;
    case minifloat::specials::fnuz:
      if (code == k.sign_bit) return std::nan("");
      break;
    case minifloat::specials::finite:
      break;
  }
  double v = e == 0 ? std::ldexp(static_cast<double>(m), 1 - f.bias - f.man_bits)
                    : std::ldexp(static_cast<double>(m | (1u << f.man_bits)),
                                 static_cast<int>(e) - f.bias - f.man_bits);
  return negative ? -v : v;
}

std::optional<std::uint32_t> minifloat_encode(const minifloat& f, double v) noexcept {
  auto k = fields_of(f);
  const bool negative = std::signbit(v);
  if (std::isnan(v)) {
    if (f.kind == minifloat::specials::finite) return std::nullopt;
    return nan_code(f, negative);
  }
  if (std::isinf(v)) return overflow_code(f, negative);
  const std::uint32_t sign = negative && f.kind != minifloat::specials::fnuz ? k.sign_bit : 0;
  const double a = std::fabs(v);
  if (a == 0) return sign;
  const int emin = 1 - f.bias;
  int exp2 = 0;
  std::frexp(a, &exp2);              // a = frac * 2^exp2, frac in [0.5, 1)
  int e = std::max(exp2 - 1, emin);  // exponent of the leading bit (or emin)
  double r = std::nearbyint(std::ldexp(a, f.man_bits - e));  // exact scaling, one RNE rounding
  if (r == 0) return sign;
  if (r >= std::ldexp(1.0, f.man_bits + 1)) {  // rounded up into the next binade
    r = std::ldexp(1.0, f.man_bits);
    ++e;
  }
  const auto ri = static_cast<std::uint32_t>(r);
  std::uint32_t magnitude;
  if (ri < (1u << f.man_bits)) {
    magnitude = ri;  // subnormal (only possible at e == emin)
  } else {
    const long long exp_field = static_cast<long long>(e) + f.bias;
    if (exp_field > static_cast<long long>(k.exp_max)) return overflow_code(f, negative);
    magnitude = (static_cast<std::uint32_t>(exp_field) << f.man_bits) | (ri - (1u << f.man_bits));
  }
  if (magnitude > max_magnitude(f)) return overflow_code(f, negative);
  if (magnitude == 0) return sign;
  return (negative ? k.sign_bit : 0) | magnitude;
}

double e8m0_decode(std::uint8_t code) noexcept {
  if (code == 0xff) return std::nan("");
  return std::ldexp(1.0, static_cast<int>(code) - 127);
}

std::uint8_t e8m0_encode(float v) noexcept {
  const auto bits = std::bit_cast<std::uint32_t>(v);
  std::uint32_t exponent = (bits >> 23) & 0xff;
  if (exponent == 0xff) return 0xff;
  const bool guard = (bits & 0x400000) != 0;
  const bool rest = (bits & 0x3fffff) != 0;
  const bool lsb = exponent > 0;  // the implicit bit
  if (guard && (rest || lsb)) ++exponent;
  return static_cast<std::uint8_t>(exponent);
}

#if defined(__FLT16_MAX__)
float f16_to_float(std::uint16_t h) noexcept {
  return static_cast<float>(std::bit_cast<_Float16>(h));
}
std::uint16_t float_to_f16(float f) noexcept {
  if (std::isnan(f)) return std::signbit(f) ? 0xfe00 : 0x7e00;
  return std::bit_cast<std::uint16_t>(static_cast<_Float16>(f));
}
#else
float f16_to_float(std::uint16_t h) noexcept {
  return static_cast<float>(minifloat_decode(*minifloat_of(dtype::F16), h));
}
std::uint16_t float_to_f16(float f) noexcept {
  return static_cast<std::uint16_t>(*minifloat_encode(*minifloat_of(dtype::F16), f));
}
#endif

float bf16_to_float(std::uint16_t h) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

std::uint16_t float_to_bf16(float f) noexcept {
  const auto bits = std::bit_cast<std::uint32_t>(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  const std::uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}

}  // namespace safetensors::detail
