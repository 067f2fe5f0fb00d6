# safetensors_add_gtests(LABEL <label> LIBS <targets...> SOURCES <files...>)
# One GoogleTest executable per source file; each test case becomes a ctest entry labelled
# `unit-<label>` (one label: gtest_discover_tests loses a list's escaping), which both
# `ctest -L unit` and `ctest -L <label>` select (-L is a regular expression).
find_package(GTest REQUIRED)
include(python)
include(GoogleTest)
# `unit_tests` builds every unit-test executable (what the asan preset runs). (No shared
# GoogleTest PCH: with it GCC 12 reports -Wrestrict false positives from libstdc++ inlines.)
add_custom_target(unit_tests)
function(safetensors_add_gtests)
  cmake_parse_arguments(ARG "" "LABEL" "LIBS;SOURCES" ${ARGN})
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(name ${src} NAME_WE)
    set(target ${ARG_LABEL}_${name})
    add_executable(${target} ${src})
    target_link_libraries(${target} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main GTest::gmock safetensors_warnings)
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    target_compile_definitions(${target} PRIVATE
      SAFETENSORS_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
      SAFETENSORS_BINARY_DIR="${PROJECT_BINARY_DIR}")
    add_dependencies(unit_tests ${target})
    gtest_discover_tests(${target} DISCOVERY_MODE PRE_TEST
      PROPERTIES LABELS "unit-${ARG_LABEL}" ENVIRONMENT "SAFETENSORS_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  endforeach()
endfunction()

# safetensors_add_script_tests(LABEL <label> SOURCES <files...>)
# Python (run by SAFETENSORS_PYTHON, cmake/python.cmake) or shell test scripts; each gets the
# build and source dirs in its environment (SAFETENSORS_CLI, SAFETENSORS_BINARY_DIR,
# SAFETENSORS_SOURCE_DIR).
function(safetensors_add_script_tests)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(name ${src} NAME_WE)
    get_filename_component(ext ${src} EXT)
    if(ext STREQUAL ".py")
      set(cmd ${SAFETENSORS_PYTHON} ${src})
    else()
      set(cmd bash ${src})
    endif()
    add_test(NAME ${ARG_LABEL}.${name} COMMAND ${cmd} WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
    set_tests_properties(${ARG_LABEL}.${name} PROPERTIES
      LABELS "${ARG_LABEL};script" TIMEOUT ${ARG_TIMEOUT} SKIP_RETURN_CODE 77
      ENVIRONMENT "SAFETENSORS_CLI=$<TARGET_FILE:safetensors-cli>;SAFETENSORS_BINARY_DIR=${PROJECT_BINARY_DIR};SAFETENSORS_SOURCE_DIR=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")
  endforeach()
endfunction()
