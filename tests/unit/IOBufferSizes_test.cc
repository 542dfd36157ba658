// The IO buffer size classes: index to size (128 bytes shifted by the index) and size to index
// (the smallest class that fits, capped at the largest).
#include "iocore/eventsystem/IOBuffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace iocore;

namespace {
static_assert(MAX_BUFFER_SIZE_INDEX == 14 && DEFAULT_BUFFER_SIZES == 15);
static_assert(MAX_MIOBUFFER_READERS == 5);

TEST(IOBufferSizes, IndexToBufferSizeIs128ShiftedByIndex)
{
  EXPECT_EQ(index_to_buffer_size(BUFFER_SIZE_INDEX_128), 128);
  EXPECT_EQ(index_to_buffer_size(BUFFER_SIZE_INDEX_1K), 1024);
  EXPECT_EQ(index_to_buffer_size(BUFFER_SIZE_INDEX_4K), 4096);
  EXPECT_EQ(index_to_buffer_size(BUFFER_SIZE_INDEX_32K), 32768);
  EXPECT_EQ(index_to_buffer_size(BUFFER_SIZE_INDEX_2M), 2 * 1024 * 1024);
}

TEST(IOBufferSizes, BufferSizeToIndexPicksTheSmallestFittingClassCappedAtMax)
{
  EXPECT_EQ(buffer_size_to_index(0), BUFFER_SIZE_INDEX_128);
  EXPECT_EQ(buffer_size_to_index(1), BUFFER_SIZE_INDEX_128);
  EXPECT_EQ(buffer_size_to_index(128), BUFFER_SIZE_INDEX_128);
  EXPECT_EQ(buffer_size_to_index(129), BUFFER_SIZE_INDEX_256);
  EXPECT_EQ(buffer_size_to_index(4096), BUFFER_SIZE_INDEX_4K);
  EXPECT_EQ(buffer_size_to_index(4097), BUFFER_SIZE_INDEX_8K);
  EXPECT_EQ(buffer_size_to_index(int64_t{2} * 1024 * 1024), BUFFER_SIZE_INDEX_2M);
  EXPECT_EQ(buffer_size_to_index(int64_t{1} << 30), BUFFER_SIZE_INDEX_2M);
  EXPECT_EQ(buffer_size_to_index(int64_t{1} << 30, BUFFER_SIZE_INDEX_32K), BUFFER_SIZE_INDEX_32K);
  for (int64_t i = 0; i <= MAX_BUFFER_SIZE_INDEX; ++i) {
    EXPECT_EQ(buffer_size_to_index(index_to_buffer_size(i)), i);
  }
}
} // namespace
