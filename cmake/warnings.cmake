# Project-wide warning flags, applied through safetensors_warnings (an INTERFACE target).
add_library(safetensors_warnings INTERFACE)
target_compile_options(safetensors_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX,C>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>)
if(SAFETENSORS_WERROR)
  target_compile_options(safetensors_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX,C>:-Werror>)
endif()

# safetensors_add_layer(<name> [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
# Builds safetensors_<name> (alias safetensors::<name>) from every .cpp/.c under src/<name>/,
# so adding a file to a layer needs no CMake edit.
function(safetensors_add_layer name)
  cmake_parse_arguments(ARG "" "" "PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  set(target safetensors_${name})
  if(srcs)
    add_library(${target} STATIC ${srcs})
    target_include_directories(${target} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>
      PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_LIBS} PRIVATE ${ARG_PRIVATE_LIBS} safetensors_warnings)
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(${target} INTERFACE ${ARG_PUBLIC_LIBS})
  endif()
  add_library(safetensors::${name} ALIAS ${target})
endfunction()
