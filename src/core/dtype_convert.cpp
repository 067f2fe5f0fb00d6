// Element conversion between dtypes (docs/FORMAT.md "Conversions"): floats go through their
// exact double value and round once (RNE) into the target; integers follow Rust `as` casts.
#include "core/dtype_convert.hpp"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/float_formats.hpp"
#include "core/try.hpp"
#include "safetensors/dtype.hpp"

namespace safetensors {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts need byte swapping here");

// One element in transit: an exact double for floats, an integer for integer dtypes.
struct value {
  bool is_int = false;
  bool is_unsigned = false;
  std::int64_t i = 0;   // integer value when is_int && !is_unsigned
  std::uint64_t u = 0;  // integer value when is_int && is_unsigned
  double d = 0;         // float value when !is_int
};

template <class T>
T load_le(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <class T>
void store_le(std::byte* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

// Code of sub-byte element i: F4 low nibble first, F6 as a little-endian bit stream.
std::uint32_t load_bits(const std::byte* base, std::uint64_t i, unsigned bits) {
  const std::uint64_t bit = i * bits;
  const std::byte* p = base + bit / 8;
  std::uint32_t window = std::to_integer<std::uint32_t>(p[0]);
  if (bit % 8 + bits > 8) window |= std::to_integer<std::uint32_t>(p[1]) << 8;
  return (window >> (bit % 8)) & ((1u << bits) - 1);
}
void store_bits(std::byte* base, std::uint64_t i, unsigned bits, std::uint32_t code) {
  const std::uint64_t bit = i * bits;
  std::byte* p = base + bit / 8;
  const std::uint32_t shifted = code << (bit % 8);
  p[0] |= static_cast<std::byte>(shifted & 0xff);
  if (bit % 8 + bits > 8) p[1] |= static_cast<std::byte>((shifted >> 8) & 0xff);
}

value load(dtype t, const std::byte* base, std::uint64_t i) {
  value v;
  auto as_int = [&](std::int64_t x) {
    v.is_int = true;
    v.i = x;
  };
  auto as_uint = [&](std::uint64_t x) {
    v.is_int = true;
    v.is_unsigned = true;
    v.u = x;
  };
  switch (t) {
    case dtype::BOOL:
      as_uint(std::to_integer<unsigned>(base[i]) != 0 ? 1 : 0);
      break;
    case dtype::U8:
      as_uint(std::to_integer<unsigned>(base[i]));
      break;
    case dtype::I8:
      as_int(load_le<std::int8_t>(base + i));
      break;
    case dtype::I16:
      as_int(load_le<std::int16_t>(base + 2 * i));
      break;
    case dtype::U16:
      as_uint(load_le<std::uint16_t>(base + 2 * i));
      break;
    case dtype::I32:
      as_int(load_le<std::int32_t>(base + 4 * i));
      break;
    case dtype::U32:
      as_uint(load_le<std::uint32_t>(base + 4 * i));
      break;
    case dtype::I64:
      as_int(load_le<std::int64_t>(base + 8 * i));
      break;
    case dtype::U64:
      as_uint(load_le<std::uint64_t>(base + 8 * i));
      break;
    case dtype::F32:
      v.d = load_le<float>(base + 4 * i);
      break;
    case dtype::F64:
      v.d = load_le<double>(base + 8 * i);
      break;
    case dtype::F8_E8M0:
      v.d = detail::e8m0_decode(std::to_integer<std::uint8_t>(base[i]));
      break;
    case dtype::C64:
      break;  // refused by the caller
    default: {
      auto f = *detail::minifloat_of(t);
      const unsigned bits = static_cast<unsigned>(f.total_bits());
      std::uint32_t code = bits == 16  ? load_le<std::uint16_t>(base + 2 * i)
                           : bits == 8 ? std::to_integer<std::uint32_t>(base[i])
                                       : load_bits(base, i, bits);
      v.d = detail::minifloat_decode(f, code);
    }
  }
  return v;
}

// The integer's exact value as a double when it fits 53 bits; otherwise the bits below the
// 53rd are folded into a sticky bit so the later single rounding stays correct (round to odd).
double exact_double(std::uint64_t m, bool negative) {
  int shift = 0;
  while ((m >> shift) >= (std::uint64_t{1} << 53)) ++shift;
  double d;
  if (shift == 0) {
    d = static_cast<double>(m);
  } else {
    std::uint64_t kept = m >> shift;
    if (m & ((std::uint64_t{1} << shift) - 1)) kept |= 1;
    d = std::ldexp(static_cast<double>(kept), shift);
  }
  return negative ? -d : d;
}

double to_double_for_narrowing(const value& v) {
  if (!v.is_int) return v.d;
  if (v.is_unsigned) return exact_double(v.u, false);
  std::uint64_t mag =
      v.i < 0 ? static_cast<std::uint64_t>(-(v.i + 1)) + 1 : static_cast<std::uint64_t>(v.i);
  return exact_double(mag, v.i < 0);
}

// Float -> integer: truncate toward zero, NaN -> 0, saturate (Rust `as`).
template <class T>
T float_to_int(double d) {
  if (std::isnan(d)) return 0;
  if (d <= static_cast<double>(std::numeric_limits<T>::lowest()))
    return std::numeric_limits<T>::lowest();
  if (d >= std::ldexp(1.0, std::numeric_limits<T>::digits)) return std::numeric_limits<T>::max();
  return static_cast<T>(std::trunc(d));
}

// Integer -> integer: two's-complement wrap (Rust `as`).
template <class T>
T int_to_int(const value& v) {
  std::uint64_t bits = v.is_unsigned ? v.u : static_cast<std::uint64_t>(v.i);
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(bits));
}

template <class T>
T to_int(const value& v) {
  return v.is_int ? int_to_int<T>(v) : float_to_int<T>(v.d);
}

bool store(dtype t, std::byte* base, std::uint64_t i, const value& v) {
  switch (t) {
    case dtype::BOOL: {
      bool nz = v.is_int ? (v.is_unsigned ? v.u != 0 : v.i != 0) : v.d != 0;
      base[i] = std::byte{static_cast<unsigned char>(nz ? 1 : 0)};
      return true;
    }
    case dtype::U8:
      store_le(base + i, to_int<std::uint8_t>(v));
      return true;
    case dtype::I8:
      store_le(base + i, to_int<std::int8_t>(v));
      return true;
    case dtype::I16:
      store_le(base + 2 * i, to_int<std::int16_t>(v));
      return true;
    case dtype::U16:
      store_le(base + 2 * i, to_int<std::uint16_t>(v));
      return true;
    case dtype::I32:
      store_le(base + 4 * i, to_int<std::int32_t>(v));
      return true;
    case dtype::U32:
      store_le(base + 4 * i, to_int<std::uint32_t>(v));
      return true;
    case dtype::I64:
      store_le(base + 8 * i, to_int<std::int64_t>(v));
      return true;
    case dtype::U64:
      store_le(base + 8 * i, to_int<std::uint64_t>(v));
      return true;
    case dtype::F64:
      store_le(
          base + 8 * i,
          v.is_int ? (v.is_unsigned ? static_cast<double>(v.u) : static_cast<double>(v.i)) : v.d);
      return true;
    case dtype::F32:
      store_le(base + 4 * i,
               v.is_int ? (v.is_unsigned ? static_cast<float>(v.u) : static_cast<float>(v.i))
                        : static_cast<float>(v.d));
      return true;
    case dtype::F8_E8M0:
      base[i] = std::byte{detail::e8m0_encode(static_cast<float>(to_double_for_narrowing(v)))};
      return true;
    case dtype::C64:
      return false;
    default: {
      auto f = *detail::minifloat_of(t);
      auto code = detail::minifloat_encode(f, to_double_for_narrowing(v));
      if (!code) return false;
      const unsigned bits = static_cast<unsigned>(f.total_bits());
      if (bits == 16)
        store_le(base + 2 * i, static_cast<std::uint16_t>(*code));
      else if (bits == 8)
        base[i] = static_cast<std::byte>(*code);
      else
        store_bits(base, i, bits, *code);
      return true;
    }
  }
}

// Hot paths for model loading and --dtype casts.
bool convert_fast(dtype from, const std::byte* s, dtype to, std::byte* d, std::uint64_t n) {
  if (from == dtype::F16 && to == dtype::F32) {
    for (std::uint64_t i = 0; i < n; ++i)
      store_le(d + 4 * i, detail::f16_to_float(load_le<std::uint16_t>(s + 2 * i)));
  } else if (from == dtype::BF16 && to == dtype::F32) {
    for (std::uint64_t i = 0; i < n; ++i)
      store_le(d + 4 * i, detail::bf16_to_float(load_le<std::uint16_t>(s + 2 * i)));
  } else if (from == dtype::F32 && to == dtype::F16) {
    for (std::uint64_t i = 0; i < n; ++i)
      store_le(d + 2 * i, detail::float_to_f16(load_le<float>(s + 4 * i)));
  } else if (from == dtype::F32 && to == dtype::BF16) {
    for (std::uint64_t i = 0; i < n; ++i)
      store_le(d + 2 * i, detail::float_to_bf16(load_le<float>(s + 4 * i)));
  } else if (from == dtype::F32 && to == dtype::F64) {
    for (std::uint64_t i = 0; i < n; ++i)
      store_le(d + 8 * i, static_cast<double>(load_le<float>(s + 4 * i)));
  } else if (from == dtype::F64 && to == dtype::F32) {
    for (std::uint64_t i = 0; i < n; ++i)
      store_le(d + 4 * i, static_cast<float>(load_le<double>(s + 8 * i)));
  } else {
    return false;
  }
  return true;
}

}  // namespace

result<void> convert_elements(dtype from, std::span<const std::byte> src, dtype to,
                              std::span<std::byte> dst, std::uint64_t count) {
  const auto src_bytes = ST_TRY(dtype_byte_size(from, count));
  const auto dst_bytes = ST_TRY(dtype_byte_size(to, count));

  if (src.size() < src_bytes || dst.size() < dst_bytes) {
    return fail(
        errc::invalid_argument,
        fmt::format("convert {} elements {} -> {}: buffers hold {} and {} bytes, need {} and {}",
                    count, dtype_name(from), dtype_name(to), src.size(), dst.size(), src_bytes,
                    dst_bytes));
  }
  if (from == to) {
    if (src_bytes) std::memmove(dst.data(), src.data(), src_bytes);
    return {};
  }
  if (from == dtype::C64 || to == dtype::C64) {
    return fail(errc::unsupported, fmt::format("cannot convert {} to {}: C64 converts only to C64",
                                               dtype_name(from), dtype_name(to)));
  }
  if (convert_fast(from, src.data(), to, dst.data(), count)) return {};
  if (dtype_bits(to) < 8) std::memset(dst.data(), 0, dst_bytes);
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!store(to, dst.data(), i, load(from, src.data(), i))) {
      return fail(errc::invalid_argument,
                  fmt::format("element {} ({}) cannot be represented in {} (no NaN encoding)", i,
                              detail::element_to_double(from, src, i), dtype_name(to)));
    }
  }
  return {};
}

double detail::element_to_double(dtype t, std::span<const std::byte> data, std::uint64_t index) {
  std::uint64_t end_bits = 0;
  if (index >= data.size() * 8 ||
      __builtin_mul_overflow(index + 1, std::uint64_t{dtype_bits(t)}, &end_bits) ||
      (end_bits + 7) / 8 > data.size()) {
    return std::nan("");
  }
  if (t == dtype::C64)
    return static_cast<double>(load_le<float>(data.data() + 8 * index));  // real part
  value v = load(t, data.data(), index);
  if (!v.is_int) return v.d;
  return v.is_unsigned ? static_cast<double>(v.u) : static_cast<double>(v.i);
}

}  // namespace safetensors
