#include "tensor_block.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <new>

#include "core/mapped_file.hpp"
#include "errors.hpp"

namespace py = pybind11;

namespace safetensors::python {
namespace {

constexpr std::size_t huge_page = std::size_t{2} << 20;
constexpr std::size_t small_page = 4096;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

}  // namespace

tensor_block::tensor_block(std::size_t n) : size_(n) {
  if (n == 0) return;
  const std::size_t length = round_up(n, small_page);
  // Over-map by a huge page and trim, so the block starts on a 2 MiB boundary and every whole
  // huge page of it can be backed by one.
  const bool align = length >= huge_page;
  const std::size_t reserve = align ? length + huge_page : length;
  void* p = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<std::byte*>(p);
  auto* start = base;
  if (align) {
    start =
        reinterpret_cast<std::byte*>(round_up(reinterpret_cast<std::uintptr_t>(base), huge_page));
    if (start != base) ::munmap(base, static_cast<std::size_t>(start - base));
    const std::size_t tail = static_cast<std::size_t>(base + reserve - (start + length));
    if (tail != 0) ::munmap(start + length, tail);
  }
  data_ = start;
  mapped_ = length;
  detail::advise_huge_pages(data_, mapped_);
}

tensor_block::~tensor_block() {
  if (data_ != nullptr) ::munmap(data_, mapped_);
}

result<void> tensor_block::fill(const file& f) const {
  // One pread of the whole section (the tensors are contiguous from 0: the core validated
  // that). A second thread reading half of it was slower on the 2-core machine
  // (docs/PERFORMANCE.md, "Python package").
  return f.read_data(0, {data_, size_});
}

void bind_tensor_block(py::module_& m) {
  py::class_<tensor_block>(m, "_TensorBlock", py::buffer_protocol(),
                           "Writable memory holding one load_file call's tensors")
      .def_buffer([](tensor_block& b) {
        static std::byte empty{};
        return py::buffer_info(b.size() ? b.data() : &empty, 1, "B", 1,
                               {static_cast<py::ssize_t>(b.size())}, {py::ssize_t{1}}, false);
      });
}

}  // namespace safetensors::python
