// Tensor views (borrowed bytes), owned tensors, slicing and typed access.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "safetensors/dtype.hpp"
#include "safetensors/error.hpp"

namespace safetensors {

/// One indexer per dimension, as in Python: a range start:stop:step (negative values count
/// from the end, missing ends mean the whole dimension) or a single index (which drops the dim).
struct slice_spec {
  std::optional<std::int64_t> start, stop;
  std::int64_t step = 1;
  bool is_index = false;  ///< select one element: start holds the index
  static slice_spec all() { return {}; }
  static slice_spec range(std::optional<std::int64_t> b, std::optional<std::int64_t> e,
                          std::int64_t s = 1) {
    return {b, e, s, false};
  }
  static slice_spec index(std::int64_t i) { return {i, std::nullopt, 1, true}; }
};
/// Parses "[:, 1:3, -1, ::2]" / ":, 1:3" into indexers (invalid_slice on bad syntax).
result<std::vector<slice_spec>> parse_slices(std::string_view text);

class tensor;

/// Non-owning view of one tensor's bytes (row-major, little-endian). Valid while the file
/// (or tensor) it came from lives.
class tensor_view {
 public:
  tensor_view() = default;
  tensor_view(dtype t, std::vector<std::uint64_t> shape, std::span<const std::byte> data)
      : type_(t), shape_(std::move(shape)), data_(data) {}
  /// Checked construction: byte count must equal dtype x shape (invalid_tensor_view).
  static result<tensor_view> make(dtype t, std::vector<std::uint64_t> shape,
                                  std::span<const std::byte> data);

  dtype type() const noexcept { return type_; }
  const std::vector<std::uint64_t>& shape() const noexcept { return shape_; }
  std::uint64_t numel() const noexcept;
  std::span<const std::byte> bytes() const noexcept { return data_; }

  /// Typed access; dtype_mismatch unless T matches (float<->F32, double<->F64, int8_t<->I8,
  /// uint8_t<->U8, int16_t<->I16, uint16_t<->U16/F16/BF16, int32_t<->I32, uint32_t<->U32,
  /// int64_t<->I64, uint64_t<->U64, bool<->BOOL) or when the data is not aligned for T
  /// (misaligned_slice). bool also checks every byte is 0 or 1 (invalid_argument otherwise:
  /// the format does not check BOOL bytes, and another value is not a valid C++ bool).
  template <class T>
  result<std::span<const T>> as() const;

  /// Slicing (docs/FORMAT.md "Slicing"): Python slice semantics per dimension: negative
  /// bounds count from the end, out-of-range range bounds are clamped, start >= stop gives an
  /// empty dimension, step > 0; an index (negative allowed) must be in range and drops the
  /// dimension; missing trailing indexers mean ':'. The result borrows this view's bytes when
  /// they are contiguous, otherwise it owns a copy. Errors: invalid_slice (too many indexers,
  /// index out of range, step <= 0) and misaligned_slice (a sub-byte dtype chunk that does not
  /// start and end on a byte boundary).
  result<tensor> slice(std::span<const slice_spec> indexers) const;
  /// Element conversion to another dtype (always copies).
  result<tensor> to(dtype target) const;

 private:
  dtype type_ = dtype::F32;
  std::vector<std::uint64_t> shape_;
  std::span<const std::byte> data_;
};

/// A tensor that either owns its bytes or borrows them from a mapping (zero-copy slices).
/// Copies duplicate owned bytes (and re-point the view at the copy); moves keep the heap buffer,
/// so a moved tensor's view stays valid. A borrowed tensor is valid while its source lives.
class tensor {
 public:
  tensor() = default;
  tensor(const tensor& other);
  tensor& operator=(const tensor& other);
  tensor(tensor&& other) noexcept;
  tensor& operator=(tensor&& other) noexcept;
  ~tensor() = default;

  static tensor borrowed(tensor_view v);
  /// Takes ownership of `data`, which must hold dtype_byte_size(t, numel(shape)) bytes.
  static tensor owned(dtype t, std::vector<std::uint64_t> shape, std::vector<std::byte> data);
  /// Checked form of owned(): invalid_tensor_view when the byte count does not match.
  static result<tensor> make_owned(dtype t, std::vector<std::uint64_t> shape,
                                   std::vector<std::byte> data);
  /// Typed access, as tensor_view::as<T>().
  template <class T>
  result<std::span<const T>> as() const {
    return view_.as<T>();
  }
  const tensor_view& view() const noexcept { return view_; }
  bool owns_data() const noexcept { return !storage_.empty() || owned_; }
  dtype type() const noexcept { return view_.type(); }
  const std::vector<std::uint64_t>& shape() const noexcept { return view_.shape(); }
  std::span<const std::byte> bytes() const noexcept { return view_.bytes(); }

 private:
  tensor_view view_;
  std::vector<std::byte> storage_;
  bool owned_ = false;
};

}  // namespace safetensors
