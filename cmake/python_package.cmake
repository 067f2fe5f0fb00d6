# SAFETENSORS_BUILD_PYTHON: the pybind11 package (python/CMakeLists.txt), built for the
# interpreter SAFETENSORS_PYTHON (cmake/python.cmake; setup.py passes the one pip runs).
# Looked up only when the torch layer is built, so a core-only configure names no Python.
include(python)
set(Python_EXECUTABLE ${SAFETENSORS_PYTHON})
find_package(Python 3 QUIET COMPONENTS Interpreter Development.Module)
if(Python_FOUND)
  find_package(pybind11 2.6 CONFIG QUIET)
endif()
if(Python_FOUND AND pybind11_FOUND)
  set(python_default ON)
else()
  set(python_default OFF)
endif()
option(SAFETENSORS_BUILD_PYTHON "Build the Python package (needs python3-dev and pybind11-dev)" ${python_default})
if(SAFETENSORS_BUILD_PYTHON)
  if(NOT Python_FOUND OR NOT pybind11_FOUND)
    message(FATAL_ERROR "SAFETENSORS_BUILD_PYTHON needs the Python 3 development files of "
                        "${SAFETENSORS_PYTHON} and pybind11 (scripts/setup installs python3-dev and pybind11-dev)")
  endif()
  add_subdirectory(python)
endif()
