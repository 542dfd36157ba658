// libFuzzer target: the input bytes drive the same operation program as IOBufferModel_test, checked
// against the std::string model; a mismatch aborts.
#include "unit/IOBufferOps.h"

#include <cstdio>
#include <cstdlib>

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t pos = 0;
  auto next  = [&]() -> int { return pos < size ? data[pos++] : 0; };
  std::string why;
  if (!iocore::test::run_iobuffer_program(next, static_cast<int>(size / 3) + 1, why)) {
    std::fprintf(stderr, "iobuffer model mismatch: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
