# Finds Debian's compiled cpp-httplib (libcpp-httplib-dev), which ships no CMake package.
# The header must be compiled with the same CPPHTTPLIB_* macros as the shared library,
# otherwise class layouts differ; they are taken from its pkg-config file.
find_package(PkgConfig REQUIRED)
pkg_check_modules(PC_HTTPLIB QUIET cpp-httplib)
find_path(httplib_INCLUDE_DIR httplib.h HINTS ${PC_HTTPLIB_INCLUDE_DIRS})
find_library(httplib_LIBRARY NAMES cpp-httplib HINTS ${PC_HTTPLIB_LIBRARY_DIRS})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(httplib REQUIRED_VARS httplib_LIBRARY httplib_INCLUDE_DIR
                                  VERSION_VAR PC_HTTPLIB_VERSION)
if(httplib_FOUND AND NOT TARGET httplib::httplib)
  add_library(httplib::httplib UNKNOWN IMPORTED)
  set_target_properties(httplib::httplib PROPERTIES
    IMPORTED_LOCATION "${httplib_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${httplib_INCLUDE_DIR}")
  set(_httplib_defs ${PC_HTTPLIB_CFLAGS_OTHER})
  list(FILTER _httplib_defs INCLUDE REGEX "^-D")
  list(TRANSFORM _httplib_defs REPLACE "^-D" "")
  if(NOT _httplib_defs)
    set(_httplib_defs CPPHTTPLIB_OPENSSL_SUPPORT CPPHTTPLIB_ZLIB_SUPPORT CPPHTTPLIB_BROTLI_SUPPORT)
  endif()
  set_target_properties(httplib::httplib PROPERTIES INTERFACE_COMPILE_DEFINITIONS "${_httplib_defs}")
endif()
