# trainctl_warnings(target): the project's warning set; TRAINCTL_WERROR turns them into errors (CI).
option(TRAINCTL_WERROR "Treat warnings as errors" OFF)
function(trainctl_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Woverloaded-virtual
                                           -Wimplicit-fallthrough)
  # GCC 12 at -O3 reports impossible memcpy overlaps inside std::string's operator+ (GCC bug 105329);
  # the warning is noise there, so it is off for GCC before 13.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(TRAINCTL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
