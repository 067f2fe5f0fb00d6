# SAFETENSORS_PYTHON: the interpreter that runs the Python script tests and the benchmarks'
# Python parts. Its default is what scripts/python runs (the one place that names the default
# interpreter; PYTHON=... in the environment overrides it there); -DSAFETENSORS_PYTHON=... here.
include_guard(GLOBAL)
if(NOT DEFINED CACHE{SAFETENSORS_PYTHON})
  execute_process(COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/python -c "import sys; print(sys.executable)"
    OUTPUT_VARIABLE python_path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE python_rc)
  if(NOT python_rc EQUAL 0 OR python_path STREQUAL "")
    message(WARNING "scripts/python did not run (${python_rc}): the Python tests will fail; "
                    "install python3 (scripts/setup) or set -DSAFETENSORS_PYTHON=/path/to/python")
    set(python_path "SAFETENSORS_PYTHON-NOTFOUND")
  endif()
  set(SAFETENSORS_PYTHON "${python_path}" CACHE FILEPATH
      "Python interpreter of the script tests and benchmarks (default: what scripts/python runs)")
endif()
