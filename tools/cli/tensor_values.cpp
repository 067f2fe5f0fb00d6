#include "tensor_values.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

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

value_layout value_layout_of(dtype t, std::uint64_t numel) {
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
  switch (vt) {
    case dtype::F64:
      std::memcpy(out.data(), p, n * 8);
      return {};
    case dtype::F32:
      for (std::uint64_t i = 0; i < n; ++i) out[i] = load_le<float>(p + 4 * i);
      return {};
    case dtype::F16:
    case dtype::BF16: {
      // The core's fast path goes to F32; widen from there in blocks.
      std::array<float, 4096> tmp;
      for (std::uint64_t at = 0; at < n; at += tmp.size()) {
        const std::uint64_t k = std::min<std::uint64_t>(tmp.size(), n - at);
        auto r = convert_elements(vt, {p + 2 * at, 2 * k}, dtype::F32,
                                  std::as_writable_bytes(std::span(tmp.data(), k)), k);
        if (!r) return r;
        for (std::uint64_t i = 0; i < k; ++i) out[at + i] = tmp[i];
      }
      return {};
    }
    default:
      return convert_elements(vt, {p, len}, dtype::F64, std::as_writable_bytes(out), n);
  }
}

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
