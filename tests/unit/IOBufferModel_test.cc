// Randomized model test of the IO buffers: thousands of seeded random operation sequences across
// three buffers and several readers each, checked byte for byte against a std::string per reader
// (the program is tests/unit/IOBufferOps.h, shared with fuzz/iobuffer_fuzz.cc).
#include "unit/IOBufferOps.h"

#include <gtest/gtest.h>

#include <random>

using namespace iocore;

TEST(IOBufferModel, RandomProgramsMatchAStringModelByteForByte)
{
  constexpr uint32_t kSeeds = 3000;
  constexpr int kSteps      = 80;
  for (uint32_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::string why;
    bool ok = test::run_iobuffer_program([&] { return static_cast<int>(rng() & 0xff); }, kSteps, why);
    ASSERT_TRUE(ok) << why;
  }
}
