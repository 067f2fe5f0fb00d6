// Opening safetensors files: mmap (default) or pread backends, lazy per-tensor access.
//
// Example (compiled by tests/core/header_examples_test.cpp):
//
//   safetensors::result<float> sum(const std::filesystem::path& path, std::string_view name) {
//     auto f = safetensors::file::open(path);  // reads and validates the header only
//     if (!f) return tl::unexpected(f.error());  // error().message names the file and the field
//     auto t = f->get(name);  // zero-copy view into the mapping (tensor_not_found if absent)
//     if (!t) return tl::unexpected(t.error());
//     auto values = t->as<float>();  // dtype_mismatch unless the tensor is F32
//     if (!values) return tl::unexpected(values.error());
//     return std::accumulate(values->begin(), values->end(), 0.0f);
//   }
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "safetensors/header.hpp"
#include "safetensors/tensor.hpp"

namespace safetensors {

enum class backend { mmap, pread };

struct open_options {
  backend io = backend::mmap;
  std::uint64_t max_header_size = default_max_header_size;
  /// Read and validate the header only; tensor data access then fails with invalid_argument.
  /// Never maps or reads the data pages (the mmap backend maps the header's pages, parses them
  /// in place and unmaps them before open returns).
  bool header_only = false;
  /// mmap backend: map every page of the file at open (MADV_POPULATE_READ) instead of one
  /// fault at a time on first touch. For callers that will read every tensor (model loading,
  /// convert, value checks): it reads the whole file now, so leave it off for lazy access.
  bool populate = false;
};

/// An open, validated safetensors file. Move-only; views it hands out borrow its mapping.
class file {
 public:
  static result<file> open(const std::filesystem::path& path, const open_options& opts = {});
  file(file&&) noexcept;
  file& operator=(file&&) noexcept;
  ~file();

  const std::filesystem::path& path() const noexcept;
  const header& info() const noexcept;
  const std::vector<tensor_info>& tensors() const noexcept {
    return info().tensors;
  }                                                         ///< offset order
  std::vector<const tensor_info*> tensors_by_name() const;  ///< byte-wise name order
  const metadata_map& metadata() const noexcept { return info().metadata; }
  const tensor_info* find(std::string_view name) const noexcept { return info().find(name); }
  std::uint64_t file_size() const noexcept;
  std::uint64_t data_start() const noexcept { return 8 + info().header_size; }

  /// mmap: a zero-copy view into the mapping. pread: reads the tensor into memory owned by the
  /// returned tensor. tensor_not_found for an unknown name.
  result<tensor> get(std::string_view name) const;
  /// Copies out.size() bytes of tensor `t`, starting `offset` bytes into the tensor, into `out`.
  /// invalid_argument when the range runs past the tensor, `t` is not from this file or the file
  /// was opened header_only.
  result<void> read_bytes(const tensor_info& t, std::uint64_t offset,
                          std::span<std::byte> out) const;
  /// Copies out.size() bytes of the data section starting at `offset` into `out`, across
  /// tensor boundaries (one pread, or one memcpy from the mapping). invalid_argument when the
  /// range runs past the data section or the file was opened header_only.
  result<void> read_data(std::uint64_t offset, std::span<std::byte> out) const;
  /// With the mmap backend: the whole data section (empty span for pread / header_only).
  std::span<const std::byte> mapped_data() const noexcept;

 private:
  struct impl;
  explicit file(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace safetensors
