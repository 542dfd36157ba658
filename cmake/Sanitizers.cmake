# IOCORE_SANITIZE is a list: address;undefined | thread | fuzzer (clang only). Applied to every target.
if(IOCORE_SANITIZE)
  list(JOIN IOCORE_SANITIZE "," _iocore_san)
  add_compile_options(-fsanitize=${_iocore_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_iocore_san})
endif()
