// Core values as Python objects, shared by the binding files.
#pragma once

#include <pybind11/pybind11.h>

#include "safetensors/header.hpp"

namespace safetensors::python {

/// `__metadata__` as a dict of str, or None when the header has none (as upstream).
inline pybind11::object metadata_dict(const metadata_map& m) {
  if (!m.present) return pybind11::none();
  pybind11::dict d;
  for (const auto& [k, v] : m.entries) d[pybind11::str(k)] = pybind11::str(v);
  return d;
}

}  // namespace safetensors::python
