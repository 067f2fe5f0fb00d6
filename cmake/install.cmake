# Install rules, the CMake package (find_package(safetensors) -> safetensors::core, ::torch,
# ::model, ::server), the pkg-config file of the core (safetensors.pc) and the Debian package
# (cpack -G DEB). See docs/DESIGN.md, "Package layout".
include(CMakePackageConfigHelpers)

if(NOT BUILD_SHARED_LIBS)
  # Static libraries would carry their private dependencies (oneDNN, cpp-httplib, ...) into the
  # package's link interface; the installable package is the shared build.
  message(STATUS "safetensors: install rules need BUILD_SHARED_LIBS=ON; none generated")
  return()
endif()

set(SAFETENSORS_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/safetensors)
get_property(SAFETENSORS_INSTALLED_LAYERS GLOBAL PROPERTY SAFETENSORS_LAYERS)

# Public headers: the core's at the top of include/safetensors/, one folder per other layer.
file(GLOB core_headers ${PROJECT_SOURCE_DIR}/include/safetensors/*.h ${PROJECT_SOURCE_DIR}/include/safetensors/*.hpp)
install(FILES ${core_headers} ${PROJECT_BINARY_DIR}/include/safetensors/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/safetensors COMPONENT development)
foreach(layer IN LISTS SAFETENSORS_INSTALLED_LAYERS)
  install(TARGETS safetensors_${layer} EXPORT safetensors-${layer}-targets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT development
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT safetensors-${layer}-targets NAMESPACE safetensors:: DESTINATION ${SAFETENSORS_CMAKE_DIR}
    COMPONENT development)
  if(NOT layer STREQUAL "core")
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/safetensors/${layer}
      DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/safetensors COMPONENT development)
  endif()
endforeach()
if(TARGET safetensors-cli)
  install(TARGETS safetensors-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  # The complete CLI on the shared libraries, beside the modules it loads; safetensors-cli execs
  # it for the model commands, the command list and URL inputs (tools/cli/command_module.hpp).
  install(TARGETS safetensors-cli-full RUNTIME DESTINATION ${CMAKE_INSTALL_LIBDIR}/safetensors)
endif()
if(TARGET safetensors-cli-remote)  # the HTTP client for URL inputs, loaded on demand
  install(TARGETS safetensors-cli-remote LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/safetensors)
endif()
if(TARGET safetensors-cli-model)  # classify, tokenize, serve: loaded by safetensors-cli on demand
  install(TARGETS safetensors-cli-model LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/safetensors)
endif()

configure_package_config_file(cmake/safetensorsConfig.cmake.in
  ${PROJECT_BINARY_DIR}/safetensorsConfig.cmake INSTALL_DESTINATION ${SAFETENSORS_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/safetensorsConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/safetensorsConfig.cmake ${PROJECT_BINARY_DIR}/safetensorsConfigVersion.cmake
  DESTINATION ${SAFETENSORS_CMAKE_DIR} COMPONENT development)

# pkg-config: relocatable (prefix found from the .pc file's own folder), so an install under
# any --prefix works without editing it.
file(RELATIVE_PATH SAFETENSORS_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" SAFETENSORS_PC_TO_PREFIX "${SAFETENSORS_PC_TO_PREFIX}")
configure_file(cmake/safetensors.pc.in ${PROJECT_BINARY_DIR}/safetensors.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/safetensors.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT development)

# Debian package: `cpack -G DEB` in the build folder (README, "Install").
set(CPACK_PACKAGE_NAME safetensors-cpp)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "safetensors-cpp developers")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# The public headers include <tl/expected.hpp>.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libexpected-dev")
include(CPack)
