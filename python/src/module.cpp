// The extension module safetensors._safetensors_cpp: the core (and the torch layer's converter
// and scanner) behind the upstream Python API; python/safetensors/*.py build on it.
#include <pybind11/pybind11.h>

#include "errors.hpp"
#include "safetensors/version.h"

namespace py = pybind11;

namespace safetensors::python {

void register_errors(py::module_& m) {
  static py::exception<core_error> exc(m, "SafetensorError");
  exc.attr("__module__") = "safetensors";
  exc.attr("__doc__") =
      "A safetensors file, header or tensor request was refused; str(e) is the core's one-line "
      "message and e.kind its error kind (e.g. 'invalid_offset').";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const core_error& e) {
      py::object instance = py::handle(exc.ptr())(e.what());
      instance.attr("kind") = std::string(errc_name(e.code));
      PyErr_SetObject(exc.ptr(), instance.ptr());
    }
  });
}

}  // namespace safetensors::python

PYBIND11_MODULE(_safetensors_cpp, m) {
  m.doc() = "safetensors-cpp core bindings (use the safetensors package, not this module)";
  m.attr("__version__") = SAFETENSORS_VERSION_STRING;
  safetensors::python::register_errors(m);
  safetensors::python::bind_open_file(m);
  safetensors::python::bind_tensor_block(m);
  safetensors::python::bind_serialize(m);
  safetensors::python::bind_extras(m);
}
