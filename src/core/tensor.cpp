// tensor_view construction and typed access; the owning/borrowing tensor.
#include "safetensors/tensor.hpp"

#include <fmt/format.h>

#include <cstring>

#include "core/text_util.hpp"
#include "core/try.hpp"

namespace safetensors {
namespace {

template <class T>
bool type_matches(dtype t) {
  if constexpr (std::is_same_v<T, float>)
    return t == dtype::F32;
  else if constexpr (std::is_same_v<T, double>)
    return t == dtype::F64;
  else if constexpr (std::is_same_v<T, std::int8_t>)
    return t == dtype::I8;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return t == dtype::U8;
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return t == dtype::I16;
  else if constexpr (std::is_same_v<T, std::uint16_t>)
    return t == dtype::U16 || t == dtype::F16 || t == dtype::BF16;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return t == dtype::I32;
  else if constexpr (std::is_same_v<T, std::uint32_t>)
    return t == dtype::U32;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return t == dtype::I64;
  else if constexpr (std::is_same_v<T, std::uint64_t>)
    return t == dtype::U64;
  else if constexpr (std::is_same_v<T, bool>)
    return t == dtype::BOOL;
  else
    return false;
}

template <class T>
std::string_view type_label() {
  if constexpr (std::is_same_v<T, float>)
    return "float";
  else if constexpr (std::is_same_v<T, double>)
    return "double";
  else if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_signed_v<T>)
    return sizeof(T) == 1   ? "int8_t"
           : sizeof(T) == 2 ? "int16_t"
           : sizeof(T) == 4 ? "int32_t"
                            : "int64_t";
  else
    return sizeof(T) == 1   ? "uint8_t"
           : sizeof(T) == 2 ? "uint16_t"
           : sizeof(T) == 4 ? "uint32_t"
                            : "uint64_t";
}

}  // namespace

result<tensor_view> tensor_view::make(dtype t, std::vector<std::uint64_t> shape,
                                      std::span<const std::byte> data) {
  std::uint64_t n = 1;
  for (std::uint64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) {
      return fail(
          errc::validation_overflow,
          fmt::format("shape {} overflows a 64-bit element count", detail::shape_string(shape)));
    }
  }
  const std::uint64_t bytes = ST_TRY(dtype_byte_size(t, n));
  if (bytes != data.size()) {
    return fail(
        errc::invalid_tensor_view,
        fmt::format("tensor of type {} and shape {} can't be created from {} bytes (needs {})",
                    dtype_name(t), detail::shape_string(shape), data.size(), bytes));
  }
  return tensor_view(t, std::move(shape), data);
}

std::uint64_t tensor_view::numel() const noexcept {
  std::uint64_t n = 1;
  for (std::uint64_t d : shape_) n *= d;
  return n;
}

template <class T>
result<std::span<const T>> tensor_view::as() const {
  if (!type_matches<T>(type_)) {
    return fail(errc::dtype_mismatch,
                fmt::format("cannot read a {} tensor as {}", dtype_name(type_), type_label<T>()));
  }
  if (reinterpret_cast<std::uintptr_t>(data_.data()) % alignof(T) != 0) {
    return fail(errc::misaligned_slice,
                fmt::format("{} data at address {} is not aligned to {} bytes", dtype_name(type_),
                            static_cast<const void*>(data_.data()), alignof(T)));
  }
  if constexpr (std::is_same_v<T, bool>) {
    for (std::size_t i = 0; i < data_.size(); ++i) {
      if (std::to_integer<unsigned>(data_[i]) > 1) {
        return fail(errc::invalid_argument, fmt::format("BOOL element {} holds byte {}, not 0 or 1",
                                                        i, std::to_integer<unsigned>(data_[i])));
      }
    }
  }
  return std::span<const T>(reinterpret_cast<const T*>(data_.data()), data_.size() / sizeof(T));
}

template result<std::span<const float>> tensor_view::as<float>() const;
template result<std::span<const double>> tensor_view::as<double>() const;
template result<std::span<const std::int8_t>> tensor_view::as<std::int8_t>() const;
template result<std::span<const std::uint8_t>> tensor_view::as<std::uint8_t>() const;
template result<std::span<const std::int16_t>> tensor_view::as<std::int16_t>() const;
template result<std::span<const std::uint16_t>> tensor_view::as<std::uint16_t>() const;
template result<std::span<const std::int32_t>> tensor_view::as<std::int32_t>() const;
template result<std::span<const std::uint32_t>> tensor_view::as<std::uint32_t>() const;
template result<std::span<const std::int64_t>> tensor_view::as<std::int64_t>() const;
template result<std::span<const std::uint64_t>> tensor_view::as<std::uint64_t>() const;
template result<std::span<const bool>> tensor_view::as<bool>() const;

result<tensor> tensor_view::to(dtype target) const {
  const std::uint64_t n = numel();
  std::vector<std::byte> out(ST_TRY(dtype_byte_size(target, n)));
  ST_TRY(convert_elements(type_, data_, target, out, n));
  return tensor::owned(target, shape_, std::move(out));
}

// ------------------------------------------------------------------------------------ tensor

tensor tensor::borrowed(tensor_view v) {
  tensor t;
  t.view_ = std::move(v);
  return t;
}

tensor tensor::owned(dtype t, std::vector<std::uint64_t> shape, std::vector<std::byte> data) {
  tensor out;
  out.storage_ = std::move(data);
  out.owned_ = true;
  out.view_ = tensor_view(t, std::move(shape), std::span<const std::byte>(out.storage_));
  return out;
}

result<tensor> tensor::make_owned(dtype t, std::vector<std::uint64_t> shape,
                                  std::vector<std::byte> data) {
  ST_TRY(tensor_view::make(t, shape, data));  // validates shape against the byte count
  return owned(t, std::move(shape), std::move(data));
}

tensor::tensor(const tensor& other)
    : view_(other.view_), storage_(other.storage_), owned_(other.owned_) {
  if (owned_)
    view_ = tensor_view(view_.type(), view_.shape(), std::span<const std::byte>(storage_));
}

tensor& tensor::operator=(const tensor& other) {
  if (this != &other) {
    tensor copy(other);
    *this = std::move(copy);
  }
  return *this;
}

tensor::tensor(tensor&& other) noexcept
    : view_(std::move(other.view_)), storage_(std::move(other.storage_)), owned_(other.owned_) {
  // The vector's heap buffer moved with it, so the view still points at valid bytes.
  other.view_ = tensor_view();
  other.owned_ = false;
}

tensor& tensor::operator=(tensor&& other) noexcept {
  if (this != &other) {
    view_ = std::move(other.view_);
    storage_ = std::move(other.storage_);
    owned_ = other.owned_;
    other.view_ = tensor_view();
    other.storage_.clear();
    other.owned_ = false;
  }
  return *this;
}

}  // namespace safetensors
