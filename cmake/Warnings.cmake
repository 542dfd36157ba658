# Warning flags for the project's own targets (not for consumers of the installed library).
add_library(iocore_warnings INTERFACE)
target_compile_options(iocore_warnings INTERFACE -Wall -Wextra -Wpedantic -Wnon-virtual-dtor
                                                  $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>
                                                  $<$<CXX_COMPILER_ID:Clang>:-Wshadow-uncaptured-local>
                                                  $<$<BOOL:${IOCORE_WERROR}>:-Werror>)
