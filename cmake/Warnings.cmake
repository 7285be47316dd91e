# trainctl_warnings(target): the project's warning set; TRAINCTL_WERROR turns them into errors (CI).
option(TRAINCTL_WERROR "Treat warnings as errors" OFF)
function(trainctl_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Woverloaded-virtual
                                           -Wimplicit-fallthrough)
  if(TRAINCTL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
