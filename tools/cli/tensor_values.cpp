#include "tensor_values.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstring>

#include "safetensors/values.hpp"

namespace safetensors::cli {
namespace {

template <class T>
T load_le(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // little-endian host (x86-64, aarch64)
  return v;
}

/// Shortest round-trip text of a float value, NumPy style: a whole number keeps a trailing '.'.
template <class F>
std::string float_text(F v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += '.';
  return s;
}

}  // namespace

std::string format_element(dtype t, std::span<const std::byte> bytes, std::uint64_t index) {
  const unsigned bits = dtype_bits(t);
  const std::byte* p = bytes.data() + index * bits / 8;
  switch (t) {
    case dtype::BOOL:
      return *p != std::byte{0} ? "True" : "False";
    case dtype::U8:
      return fmt::format("{}", load_le<std::uint8_t>(p));
    case dtype::I8:
      return fmt::format("{}", load_le<std::int8_t>(p));
    case dtype::U16:
      return fmt::format("{}", load_le<std::uint16_t>(p));
    case dtype::I16:
      return fmt::format("{}", load_le<std::int16_t>(p));
    case dtype::U32:
      return fmt::format("{}", load_le<std::uint32_t>(p));
    case dtype::I32:
      return fmt::format("{}", load_le<std::int32_t>(p));
    case dtype::U64:
      return fmt::format("{}", load_le<std::uint64_t>(p));
    case dtype::I64:
      return fmt::format("{}", load_le<std::int64_t>(p));
    case dtype::F64:
      return float_text(load_le<double>(p));
    case dtype::C64: {
      const float re = load_le<float>(p), im = load_le<float>(p + 4);
      std::string ims = float_text(std::fabs(im));
      return fmt::format("({}{}{}j)", float_text(re), std::signbit(im) ? "-" : "+", ims);
    }
    default: {
      // Every other float dtype fits a float exactly.
      const auto layout = value_layout_of(t, 0);
      const std::uint64_t first = index / layout.group * layout.group;
      std::array<double, 4> v{};
      auto r = decode_values(t, bytes, first, std::span(v.data(), layout.group));
      if (!r) return "?";
      return float_text(static_cast<float>(v[index - first]));
    }
  }
}

}  // namespace safetensors::cli
