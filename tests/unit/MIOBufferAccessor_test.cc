// Unit tests of MIOBufferAccessor, the buffer handle a VIO holds: writer_for and reader_for, and
// freeing the buffer clears the accessors that point at it.
#include "iocore/eventsystem/IOBuffer.h"
#include "support/TestBuffers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace iocore;
using namespace iocore::test;

namespace {
TEST(MIOBufferAccessor, WriterForSetsTheBufferWithoutAReader)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  MIOBufferAccessor a;
  a.writer_for(b.get());
  EXPECT_EQ(a.writer(), b.get());
  EXPECT_EQ(a.reader(), nullptr);
}

TEST(MIOBufferAccessor, ReaderForTakesTheReadersBuffer)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  MIOBufferAccessor a;
  a.reader_for(r);
  EXPECT_EQ(a.reader(), r);
  EXPECT_EQ(a.writer(), b.get());
  a.clear();
  EXPECT_EQ(a.writer(), nullptr);
  EXPECT_EQ(a.reader(), nullptr);
}

TEST(MIOBufferAccessor, ReaderForABufferAllocatesAReaderThatDeallocClears)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  MIOBufferAccessor a;
  a.reader_for(b.get());
  ASSERT_NE(a.reader(), nullptr);
  EXPECT_EQ(a.reader()->accessor, &a);
  EXPECT_EQ(a.writer(), b.get());
  a.reader()->dealloc();
  EXPECT_EQ(a.reader(), nullptr);
  EXPECT_EQ(a.writer(), nullptr);
}

TEST(MIOBufferAccessor, FreeingTheBufferClearsItsAccessors)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  MIOBufferAccessor a;
  a.reader_for(b.get());
  b.reset();
  EXPECT_EQ(a.reader(), nullptr);
  EXPECT_EQ(a.writer(), nullptr);
}
} // namespace
