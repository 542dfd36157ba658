# Warning flags for the project's own targets (not for consumers of the installed library).
add_library(iocore_warnings INTERFACE)
target_compile_options(iocore_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor
                                                  $<$<BOOL:${IOCORE_WERROR}>:-Werror>)
