// Element values as doubles (values.hpp decode_values): one typed loop per dtype that the
// compiler vectorizes (built for x86-64-v3/-v4 too); F16 widens with integer operations and
// selects only (no branch, no table, no subnormal float arithmetic); the 8-bit floats read a
// 256-entry table built once from the core's exact decoders; F4/F6 go through convert_elements.
#include <fmt/format.h>

#include <array>
#include <bit>
#include <cstring>
#include <numeric>

#include "core/float_formats.hpp"
#include "core/vector_clones.hpp"
#include "safetensors/values.hpp"

namespace safetensors {
namespace {

/// IEEE binary16 bits -> the binary32 bits of the same value (NaN payloads kept).
inline std::uint32_t f16_to_f32_bits(std::uint32_t h) noexcept {
  std::uint32_t o = (h & 0x7fffu) << 13;  // exponent and mantissa in place
  const std::uint32_t e = o & 0x0f800000u;
  o += 0x38000000u;                         // rebias 15 -> 127
  o += e == 0x0f800000u ? 0x38000000u : 0;  // Inf/NaN: exponent 255
  // Zero and subnormals: 2^-14 x (1 + m) minus 2^-14 gives m x 2^-24 exactly.
  const float sub = std::bit_cast<float>(o + (1u << 23)) - std::bit_cast<float>(113u << 23);
  const std::uint32_t r = e == 0 ? std::bit_cast<std::uint32_t>(sub) : o;
  return r | (h & 0x8000u) << 16;
}

template <class T>
T load(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);  // little-endian host (checked in dtype_convert.cpp)
  return v;
}

ST_VECTOR_CLONES void decode_f16(const std::byte* __restrict p, std::size_t n,
                                 double* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    out[i] = std::bit_cast<float>(f16_to_f32_bits(load<std::uint16_t>(p + 2 * i)));
}

ST_VECTOR_CLONES void decode_bf16(const std::byte* __restrict p, std::size_t n,
                                  double* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    out[i] = std::bit_cast<float>(static_cast<std::uint32_t>(load<std::uint16_t>(p + 2 * i)) << 16);
}

/// F32, F64 and the integer dtypes: a plain widening.
template <class T>
ST_VECTOR_CLONES void decode_plain(const std::byte* __restrict p, std::size_t n,
                                   double* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<double>(load<T>(p + sizeof(T) * i));
}

ST_VECTOR_CLONES void decode_bool(const std::byte* __restrict p, std::size_t n,
                                  double* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = p[i] != std::byte{0} ? 1.0 : 0.0;
}

void decode_table(const std::array<double, 256>& table, const std::byte* p, std::size_t n,
                  double* out) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = table[std::to_integer<std::uint8_t>(p[i])];
}

/// The value of every code of an 8-bit float dtype (null for the others).
const std::array<double, 256>* table_of(dtype t) noexcept {
  static const auto tables = [] {
    std::array<std::array<double, 256>, dtype_count> all{};
    for (int k = 0; k < dtype_count; ++k) {
      const auto d = static_cast<dtype>(k);
      if (!dtype_is_float(d) || dtype_bits(d) != 8) continue;
      for (unsigned c = 0; c < 256; ++c) {
        all[k][c] = d == dtype::F8_E8M0 ? detail::e8m0_decode(static_cast<std::uint8_t>(c))
                                        : detail::minifloat_decode(*detail::minifloat_of(d), c);
      }
    }
    return all;
  }();
  if (!dtype_is_float(t) || dtype_bits(t) != 8) return nullptr;
  return &tables[static_cast<std::size_t>(t)];
}

}  // namespace

value_layout value_layout_of(dtype t, std::uint64_t numel) noexcept {
  if (t == dtype::C64) return {dtype::F32, 2 * numel, 1};
  const unsigned bits = dtype_bits(t);
  return {t, numel, 8 / std::gcd(bits, 8u)};
}

result<void> decode_values(dtype t, std::span<const std::byte> bytes, std::uint64_t first,
                           std::span<double> out) {
  const auto layout = value_layout_of(t, 0);
  const dtype vt = layout.type;
  const unsigned bits = dtype_bits(vt);
  const std::uint64_t begin = first * bits / 8;
  const std::uint64_t n = out.size();
  const std::uint64_t len = (n * bits + 7) / 8;
  if (first % layout.group != 0 || begin > bytes.size() || len > bytes.size() - begin) {
    return fail(errc::invalid_argument,
                fmt::format("values [{}, +{}) of a {} tensor of {} bytes: out of range", first, n,
                            dtype_name(t), bytes.size()));
  }
  const std::byte* p = bytes.data() + begin;
  double* o = out.data();
  switch (vt) {
    case dtype::F64:
      std::memcpy(o, p, n * 8);
      return {};
    case dtype::F32:
      decode_plain<float>(p, n, o);
      return {};
    case dtype::F16:
      decode_f16(p, n, o);
      return {};
    case dtype::BF16:
      decode_bf16(p, n, o);
      return {};
    case dtype::BOOL:
      decode_bool(p, n, o);
      return {};
    case dtype::U8:
      decode_plain<std::uint8_t>(p, n, o);
      return {};
    case dtype::I8:
      decode_plain<std::int8_t>(p, n, o);
      return {};
    case dtype::U16:
      decode_plain<std::uint16_t>(p, n, o);
      return {};
    case dtype::I16:
      decode_plain<std::int16_t>(p, n, o);
      return {};
    case dtype::U32:
      decode_plain<std::uint32_t>(p, n, o);
      return {};
    case dtype::I32:
      decode_plain<std::int32_t>(p, n, o);
      return {};
    case dtype::U64:
      decode_plain<std::uint64_t>(p, n, o);
      return {};
    case dtype::I64:
      decode_plain<std::int64_t>(p, n, o);
      return {};
    default:
      if (const auto* table = table_of(vt)) {
        decode_table(*table, p, n, o);
        return {};
      }
      return convert_elements(vt, {p, len}, dtype::F64, std::as_writable_bytes(out), n);
  }
}

}  // namespace safetensors
