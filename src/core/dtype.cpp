// The dtype table: names, bit widths and byte sizes (conversions live in dtype_convert.cpp).
#include "safetensors/dtype.hpp"

#include <fmt/format.h>

#include <array>
#include <string>

namespace safetensors {
namespace {

struct dtype_row {
  std::string_view name;
  unsigned bits;
};

// Indexed by the enum value (the reference's declaration order).
constexpr std::array<dtype_row, dtype_count> dtype_table{{
    {"BOOL", 8},        {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},          {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8},
    {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},    {"F16", 16},    {"BF16", 16},
    {"I32", 32},        {"U32", 32},    {"F32", 32},    {"C64", 64},    {"F64", 64},
    {"I64", 64},        {"U64", 64},
}};

const dtype_row& row(dtype t) noexcept { return dtype_table[static_cast<std::size_t>(t)]; }

}  // namespace

std::string_view dtype_name(dtype t) noexcept { return row(t).name; }

std::optional<dtype> dtype_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < dtype_table.size(); ++i) {
    if (dtype_table[i].name == name) return static_cast<dtype>(i);
  }
  return std::nullopt;
}

unsigned dtype_bits(dtype t) noexcept { return row(t).bits; }

bool dtype_is_float(dtype t) noexcept {
  switch (t) {
    case dtype::F4:
    case dtype::F6_E2M3:
    case dtype::F6_E3M2:
    case dtype::F8_E5M2:
    case dtype::F8_E4M3:
    case dtype::F8_E8M0:
    case dtype::F8_E4M3FNUZ:
    case dtype::F8_E5M2FNUZ:
    case dtype::F16:
    case dtype::BF16:
    case dtype::F32:
    case dtype::F64:
      return true;
    default:
      return false;
  }
}

bool dtype_is_integer(dtype t) noexcept {
  switch (t) {
    case dtype::BOOL:
    case dtype::U8:
    case dtype::I8:
    case dtype::I16:
    case dtype::U16:
    case dtype::I32:
    case dtype::U32:
    case dtype::I64:
    case dtype::U64:
      return true;
    default:
      return false;
  }
}

result<std::uint64_t> dtype_byte_size(dtype t, std::uint64_t count) {
  std::uint64_t bits = 0;
  if (__builtin_mul_overflow(count, std::uint64_t{dtype_bits(t)}, &bits)) {
    return fail(errc::validation_overflow,
                fmt::format("{} elements of {} overflow a 64-bit bit count", count, dtype_name(t)));
  }
  if (bits % 8 != 0) {
    return fail(errc::misaligned_slice,
                fmt::format("{} elements of {} are {} bits, not a whole number of bytes", count,
                            dtype_name(t), bits));
  }
  return bits / 8;
}

}  // namespace safetensors
