// The memory load_file's tensors live in: one anonymous mapping per load holding the file's
// whole data section, filled by pread (GIL released) and handed to Python as a writable
// buffer; each tensor is a view of its own byte range that keeps the block alive, and the
// mapping is unmapped when the last view is gone.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>

#include "safetensors/reader.hpp"

namespace safetensors::python {

class tensor_block {
 public:
  /// n bytes of untouched zero memory, 2 MiB-aligned and advised as transparent huge pages when
  /// it spans one (a few hundred faults for a model instead of one per 4 KiB page).
  /// std::bad_alloc (MemoryError) when the mapping is refused.
  explicit tensor_block(std::size_t n);
  tensor_block(const tensor_block&) = delete;
  tensor_block& operator=(const tensor_block&) = delete;
  ~tensor_block();

  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

  /// Fills the block with `f`'s data section (block size = the section's size); the caller
  /// released the GIL. Errors: the core's, e.g. io when the file shrank since it was opened.
  result<void> fill(const file& f) const;

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;
};

}  // namespace safetensors::python
