// Randomized model test of the IO buffers: thousands of random operation sequences across three
// buffers and several readers, each checked byte for byte against a std::string per reader.
#include "unit/IOBufferOps.h"

#include <gtest/gtest.h>

#include <random>

using namespace iocore;

TEST(IOBufferModel, RandomProgramsMatchAStringModelByteForByte)
{
  for (uint32_t seed = 1; seed <= 2000; ++seed) {
    std::mt19937 rng(seed);
    std::string why;
    bool ok = test::run_iobuffer_program([&] { return static_cast<int>(rng() & 0xff); }, 60, why);
    ASSERT_TRUE(ok) << "seed " << seed << ": " << why;
  }
}
