# Project-wide warning flags, applied through safetensors_warnings (an INTERFACE target).
add_library(safetensors_warnings INTERFACE)
target_compile_options(safetensors_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX,C>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>)
if(SAFETENSORS_WERROR)
  target_compile_options(safetensors_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX,C>:-Werror>)
endif()

# safetensors_add_layer(<name> [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
# Builds safetensors_<name> (alias and exported name safetensors::<name>) from every .cpp/.c under
# src/<name>/, so adding a file to a layer needs no CMake edit. Shared or static follows
# BUILD_SHARED_LIBS; the files are libsafetensors.so (core) and libsafetensors_<name>.so.
# The objects are compiled once, in the object library safetensors_<name>_objects, which also
# lets an executable link the layer statically (safetensors-cli, tools/cli/CMakeLists.txt).
function(safetensors_add_layer name)
  cmake_parse_arguments(ARG "" "" "PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  set(target safetensors_${name})
  add_library(${target}_objects OBJECT ${srcs})
  add_library(${target} $<TARGET_OBJECTS:${target}_objects>)
  foreach(t ${target}_objects ${target})
    target_include_directories(${t} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
      PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${t} PUBLIC ${ARG_PUBLIC_LIBS} PRIVATE ${ARG_PRIVATE_LIBS}
      $<BUILD_INTERFACE:safetensors_warnings>)
    set_target_properties(${t} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endforeach()
  if(name STREQUAL "core")
    set(output safetensors)
  else()
    set(output safetensors_${name})
  endif()
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${output} EXPORT_NAME ${name}
    VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  # Calls inside a shared library stay direct (and inlinable), as in a static one.
  if(BUILD_SHARED_LIBS AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target}_objects PRIVATE -fno-semantic-interposition)
  endif()
  add_library(safetensors::${name} ALIAS ${target})
  set_property(GLOBAL APPEND PROPERTY SAFETENSORS_LAYERS ${name})
endfunction()
