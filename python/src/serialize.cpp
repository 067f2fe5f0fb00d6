// Writing (through the core writer, so files are byte-identical to the C++ API's) and parsing
// in-memory files for safetensors.{numpy,torch}.save / load.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "safetensors/writer.hpp"
#include "values.hpp"

namespace py = pybind11;

namespace safetensors::python {
namespace {

/// Tensors to write: (name, dtype name, shape, bytes) tuples; the buffers stay requested (and
/// so alive and unmoved) as long as this object lives.
struct write_input {
  std::vector<tensor_source> sources;
  std::vector<py::buffer_info> buffers;
  metadata_map metadata;
};

write_input to_sources(
    const py::list& tensors,
    const std::optional<std::vector<std::pair<std::string, std::string>>>& meta) {
  write_input in;
  in.sources.reserve(tensors.size());
  in.buffers.reserve(tensors.size());
  for (const auto& item : tensors) {
    const auto t = item.cast<py::tuple>();
    tensor_source s;
    s.name = t[0].cast<std::string>();
    const auto name = t[1].cast<std::string>();
    const auto type = dtype_from_name(name);
    if (!type) raise(error{errc::unknown_dtype, "tensor '" + s.name + "': unknown dtype " + name});
    s.type = *type;
    s.shape = t[2].cast<std::vector<std::uint64_t>>();
    in.buffers.push_back(t[3].cast<py::buffer>().request());
    const auto& b = in.buffers.back();
    s.data = {static_cast<const std::byte*>(b.ptr), static_cast<std::size_t>(b.size * b.itemsize)};
    in.sources.push_back(std::move(s));
  }
  if (meta) in.metadata = {true, *meta};
  return in;
}

void write(const std::string& path, const py::list& tensors,
           const std::optional<std::vector<std::pair<std::string, std::string>>>& metadata) {
  const auto in = to_sources(tensors, metadata);
  py::gil_scoped_release unlocked;
  unwrap(write_file(path, in.sources, in.metadata));
}

py::bytes to_bytes(
    const py::list& tensors,
    const std::optional<std::vector<std::pair<std::string, std::string>>>& metadata) {
  const auto in = to_sources(tensors, metadata);
  std::vector<std::byte> out;
  {
    py::gil_scoped_release unlocked;
    out = unwrap(serialize(in.sources, in.metadata));
  }
  return {reinterpret_cast<const char*>(out.data()), out.size()};
}

/// (metadata or None, [(name, dtype, shape, begin, end)]) of an in-memory file, offsets from the
/// start of the buffer, in offset order.
py::tuple parse(const py::buffer& data) {
  const auto b = data.request();
  const std::span<const std::byte> bytes(static_cast<const std::byte*>(b.ptr),
                                         static_cast<std::size_t>(b.size * b.itemsize));
  header h;
  {
    py::gil_scoped_release unlocked;
    h = unwrap(parse_buffer(bytes));
  }
  const std::uint64_t start = 8 + h.header_size;
  py::list tensors;
  for (const auto& t : h.tensors) {
    tensors.append(py::make_tuple(t.name, std::string(dtype_name(t.type)), py::cast(t.shape),
                                  start + t.begin, start + t.end));
  }
  return py::make_tuple(metadata_dict(h.metadata), tensors);
}

}  // namespace

void bind_serialize(py::module_& m) {
  m.def("write_file", &write, py::arg("path"), py::arg("tensors"), py::arg("metadata"),
        "Writes [(name, dtype, shape, buffer)] atomically with the core writer");
  m.def("serialize", &to_bytes, py::arg("tensors"), py::arg("metadata"),
        "The file the writer would write, as bytes");
  m.def("parse", &parse, py::arg("data"), "(metadata, [(name, dtype, shape, begin, end)])");
}

}  // namespace safetensors::python
