// safe_open's engine: an open file whose tensors are handed to Python as flat byte arrays,
// either borrowing the read-only mapping (zero copy; the array keeps the mapping alive) or
// copied into a writable buffer the caller allocated (a torch tensor's or numpy array's memory),
// or, for load_file, all read into one tensor_block the tensors are views of.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "safetensors/reader.hpp"
#include "tensor_block.hpp"
#include "values.hpp"

namespace py = pybind11;

namespace safetensors::python {
namespace {

using shared_file = std::shared_ptr<const file>;

/// A flat uint8 array over `bytes`, which `owner` keeps alive; read-only (numpy refuses to make
/// it writable again: its base is a capsule, which exposes no writable buffer).
py::array borrowed_array(const shared_file& owner, std::span<const std::byte> bytes) {
  py::capsule base(new shared_file(owner), [](void* p) { delete static_cast<shared_file*>(p); });
  py::array a(py::dtype("uint8"), {static_cast<py::ssize_t>(bytes.size())}, {py::ssize_t{1}},
              bytes.data(), base);
  a.attr("setflags")(py::arg("write") = false);
  return a;
}

/// A new writable uint8 array holding a copy of `bytes`.
py::array copied_array(std::span<const std::byte> bytes) {
  py::array_t<std::uint8_t> a(static_cast<py::ssize_t>(bytes.size()));
  if (!bytes.empty()) std::memcpy(a.mutable_data(), bytes.data(), bytes.size());
  return a;
}

/// The writable bytes of a flat, contiguous buffer (a 1-D uint8 numpy array).
std::span<std::byte> writable_bytes(const py::buffer& b) {
  const py::buffer_info info = b.request(true);
  if (info.ndim != 1 || info.itemsize != 1 || (info.size > 1 && info.strides[0] != 1)) {
    throw py::value_error("internal: expected a flat contiguous byte buffer");
  }
  return {static_cast<std::byte*>(info.ptr), static_cast<std::size_t>(info.size)};
}

slice_spec to_slice_spec(const py::tuple& t) {
  const auto kind = t[0].cast<std::string>();
  if (kind == "index") return slice_spec::index(t[1].cast<std::int64_t>());
  return slice_spec::range(t[1].cast<std::optional<std::int64_t>>(),
                           t[2].cast<std::optional<std::int64_t>>(), t[3].cast<std::int64_t>());
}

class open_file {
 public:
  open_file(const std::string& path, bool pread) {
    open_options opts;
    opts.io = pread ? backend::pread : backend::mmap;
    path_ = path;
    py::gil_scoped_release unlocked;
    file_ = std::make_shared<const file>(unwrap(file::open(path, opts)));
  }

  const file& get() const {
    if (!file_) raise(error{errc::invalid_argument, path_ + ": the file is closed"});
    return *file_;
  }
  const tensor_info& info(const std::string& name) const {
    const auto* t = get().find(name);
    if (!t) raise(error{errc::tensor_not_found, path_ + ": tensor '" + name + "' not found"});
    return *t;
  }
  void close() { file_.reset(); }

  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto* t : get().tensors_by_name()) out.push_back(t->name);
    return out;
  }
  std::vector<std::string> offset_keys() const {
    std::vector<std::string> out;
    for (const auto& t : get().tensors()) out.push_back(t.name);
    return out;
  }
  py::object metadata() const { return metadata_dict(get().metadata()); }
  py::tuple describe(const std::string& name) const {
    const auto& t = info(name);
    return py::make_tuple(std::string(dtype_name(t.type)), py::cast(t.shape), t.nbytes());
  }
  /// The tensor's bytes borrowing the mapping (mmap), or a copy (pread backend).
  py::array mapped(const std::string& name) const {
    const auto& f = get();
    if (f.mapped_data().empty() && info(name).nbytes() > 0) {
      py::array_t<std::uint8_t> a(static_cast<py::ssize_t>(info(name).nbytes()));
      read_into(name, a);
      return a;
    }
    const auto t = unwrap(f.get(name));
    return borrowed_array(file_, t.bytes());
  }
  /// Copies the named tensor into `out` (a flat writable byte buffer of its size), GIL released.
  void read_into(const std::string& name, const py::buffer& out) const {
    const auto& t = info(name);
    const auto dst = writable_bytes(out);
    if (dst.size() != t.nbytes()) throw py::value_error("internal: buffer size differs");
    const shared_file keep = file_;
    py::gil_scoped_release unlocked;
    unwrap(keep->read_bytes(t, 0, dst));
  }
  /// (name, dtype name, shape, offset in the data section, byte count) of every tensor, sorted
  /// by name: what load_file needs, in one call.
  py::list layout() const {
    py::list out;
    for (const auto* t : get().tensors_by_name()) {
      out.append(py::make_tuple(t->name, std::string(dtype_name(t->type)),
                                py::tuple(py::cast(t->shape)), t->begin, t->nbytes()));
    }
    return out;
  }
  /// The whole data section in a new tensor_block (see tensor_block.hpp), GIL released.
  std::unique_ptr<tensor_block> read_block() const {
    const shared_file keep = file_;
    const auto& f = get();
    auto block = std::make_unique<tensor_block>(static_cast<std::size_t>(f.info().data_size));
    py::gil_scoped_release unlocked;
    unwrap(block->fill(*keep));
    return block;
  }
  /// (shape, bytes) of a slice, as a new writable flat array.
  py::tuple slice(const std::string& name, const py::list& indexers) const {
    std::vector<slice_spec> specs;
    for (const auto& i : indexers) specs.push_back(to_slice_spec(i.cast<py::tuple>()));
    const shared_file keep = file_;  // close() on another thread cannot unmap it under us
    const auto whole = unwrap(get().get(name));
    tensor part;
    {
      py::gil_scoped_release unlocked;
      part = unwrap(whole.view().slice(specs));
    }
    return py::make_tuple(py::cast(part.shape()), copied_array(part.bytes()));
  }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  shared_file file_;
};

}  // namespace

void bind_open_file(py::module_& m) {
  py::class_<open_file>(m, "_File", "An open safetensors file (see safetensors.safe_open)")
      .def(py::init<const std::string&, bool>(), py::arg("path"), py::arg("pread") = false)
      .def("keys", &open_file::keys, "Tensor names, sorted")
      .def("offset_keys", &open_file::offset_keys, "Tensor names in data-offset order")
      .def("metadata", &open_file::metadata, "__metadata__ as a dict, or None")
      .def("describe", &open_file::describe, py::arg("name"), "(dtype name, shape, byte count)")
      .def("mapped", &open_file::mapped, py::arg("name"))
      .def("read_into", &open_file::read_into, py::arg("name"), py::arg("out"))
      .def("layout", &open_file::layout)
      .def("read_block", &open_file::read_block)
      .def("slice", &open_file::slice, py::arg("name"), py::arg("indexers"))
      .def("close", &open_file::close)
      .def_property_readonly("path", &open_file::path);
}

}  // namespace safetensors::python
