// Header parsing and validation: the reference implementation's acceptance set (docs/FORMAT.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safetensors/dtype.hpp"
#include "safetensors/error.hpp"
#include "safetensors/name_index.hpp"

namespace safetensors {

inline constexpr std::uint64_t default_max_header_size = 100'000'000;

struct tensor_info {
  std::string name;
  dtype type;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;  ///< data_offsets[0], relative to the data section
  std::uint64_t end = 0;    ///< data_offsets[1]
  std::uint64_t numel()
      const noexcept;  ///< product of shape (1 for rank 0); validated not to overflow
  std::uint64_t nbytes() const noexcept { return end - begin; }
};

/// `__metadata__` as key/value pairs, sorted by key (byte-wise). `present` distinguishes
/// `{}` from absent / null.
struct metadata_map {
  bool present = false;
  std::vector<std::pair<std::string, std::string>> entries;
  const std::string* find(std::string_view key) const noexcept;
};

struct parse_options {
  std::uint64_t max_header_size = default_max_header_size;
  std::string_view source = "<buffer>";  ///< file name used in error messages
};

struct header {
  header() = default;
  header(const header& other);  ///< copies rebuild the name index for the copy's strings
  header& operator=(const header& other);
  header(header&&) noexcept = default;  ///< moves keep the strings (and the views) in place
  header& operator=(header&&) noexcept = default;
  ~header() = default;

  std::uint64_t header_size = 0;     ///< N (includes padding)
  std::uint64_t data_size = 0;       ///< file size - 8 - N
  std::vector<tensor_info> tensors;  ///< in offset order (begin, end), as validated
  metadata_map metadata;
  /// The tensor named `name`, or nullptr: O(1), through an index built when the header is
  /// parsed (or copied).
  const tensor_info* find(std::string_view name) const noexcept;

 private:
  friend struct header_index;  // builds the index (src/core/header.cpp)
  name_index by_name_;         ///< positions in tensors
};

/// Reads N from the first 8 bytes and checks it against the limit and file size.
/// Errors: header_too_small, header_too_large, invalid_header_length.
result<std::uint64_t> read_header_length(std::span<const std::byte> prefix, std::uint64_t file_size,
                                         const parse_options& opts = {});

/// Parses and validates the header JSON bytes (exactly N bytes, after the length prefix) for a
/// file of `file_size` bytes. Every check of docs/FORMAT.md, in the reference's order.
result<header> parse_header(std::string_view json, std::uint64_t file_size,
                            const parse_options& opts = {});

/// Convenience: parse a whole in-memory file (length prefix + header + data).
result<header> parse_buffer(std::span<const std::byte> file, const parse_options& opts = {});

}  // namespace safetensors
