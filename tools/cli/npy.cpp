#include "npy.hpp"

#include <fmt/format.h>

namespace safetensors::cli {

std::optional<std::string_view> npy_descr(dtype t) noexcept {
  switch (t) {
    case dtype::BOOL:
      return "|b1";
    case dtype::U8:
      return "|u1";
    case dtype::I8:
      return "|i1";
    case dtype::U16:
      return "<u2";
    case dtype::I16:
      return "<i2";
    case dtype::F16:
      return "<f2";
    case dtype::U32:
      return "<u4";
    case dtype::I32:
      return "<i4";
    case dtype::F32:
      return "<f4";
    case dtype::U64:
      return "<u8";
    case dtype::I64:
      return "<i8";
    case dtype::F64:
      return "<f8";
    case dtype::C64:
      return "<c8";
    default:
      return std::nullopt;
  }
}

std::string npy_header(std::string_view descr, std::span<const std::uint64_t> shape) {
  std::string dims;
  for (auto d : shape) dims += fmt::format("{}, ", d);
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // (3,) keeps its comma, (2, 3) does not
  if (shape.size() == 1) dims.pop_back();
  std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, dims);
  const bool v2 = dict.size() + 1 + 10 > 65535;
  const std::size_t prefix = v2 ? 12 : 10;
  const std::size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  const std::size_t n = dict.size();
  for (std::size_t i = 0; i < (v2 ? 4u : 2u); ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out + dict;
}

}  // namespace safetensors::cli
