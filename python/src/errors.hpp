// Core errors as Python exceptions: every result<T> is unwrapped here, so a failure reaches
// Python as safetensors.SafetensorError carrying the core's one-line message and its kind.
#pragma once

#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "safetensors/error.hpp"

namespace safetensors::python {

/// Thrown by the bindings; translated to SafetensorError (message, and `.kind` = errc name).
class core_error : public std::runtime_error {
 public:
  explicit core_error(const error& e) : std::runtime_error(e.message), code(e.code) {}
  errc code;
};

[[noreturn]] inline void raise(const error& e) { throw core_error(e); }

template <class T>
T unwrap(result<T>&& r) {
  if (!r) raise(r.error());
  return std::move(*r);
}
inline void unwrap(result<void>&& r) {
  if (!r) raise(r.error());
}

/// Registers SafetensorError on `m` and the translator of core_error.
void register_errors(pybind11::module_& m);

// Each binding file registers its own functions and classes.
void bind_open_file(pybind11::module_& m);
void bind_tensor_block(pybind11::module_& m);
void bind_serialize(pybind11::module_& m);
void bind_extras(pybind11::module_& m);

}  // namespace safetensors::python
