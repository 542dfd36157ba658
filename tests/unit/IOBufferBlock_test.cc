// Unit tests of IOBufferBlock: allocation and alignment, the fill/consume window, clones sharing data,
// and when the data and long chains are freed.
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
TEST(IOBufferBlock, AllocGivesAnEmptyBlockOfTheSizeClass)
{
  Ptr<IOBufferBlock> b = new_block(BUFFER_SIZE_INDEX_1K);
  EXPECT_EQ(b->block_size(), 1024);
  EXPECT_EQ(b->data->size_index, BUFFER_SIZE_INDEX_1K);
  EXPECT_EQ(b->buf(), b->data->data());
  EXPECT_EQ(b->start(), b->buf());
  EXPECT_EQ(b->end(), b->buf());
  EXPECT_EQ(b->buf_end(), b->buf() + 1024);
  EXPECT_EQ(b->read_avail(), 0);
  EXPECT_EQ(b->write_avail(), 1024);
}

TEST(IOBufferBlock, BufferMemoryOfAPageOrMoreIsPageAlignedSmallerKeepsNewsAlignment)
{
  for (int64_t i = 0; i <= BUFFER_SIZE_INDEX_64K; ++i) {
    Ptr<IOBufferBlock> b = new_block(i);
    auto align           = static_cast<uintptr_t>(index_to_buffer_size(i) >= 4096 ? 4096 : __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b->buf()) % align, 0u) << "index " << i;
  }
}

TEST(IOBufferBlock, FillMovesEndAndConsumeMovesStart)
{
  Ptr<IOBufferBlock> b = new_block(BUFFER_SIZE_INDEX_128);
  b->fill(100);
  EXPECT_EQ(b->read_avail(), 100);
  EXPECT_EQ(b->size(), 100);
  EXPECT_EQ(b->write_avail(), 28);
  b->consume(40);
  EXPECT_EQ(b->start(), b->buf() + 40);
  EXPECT_EQ(b->read_avail(), 60);
  EXPECT_EQ(b->write_avail(), 28);
}

TEST(IOBufferBlock, ResetEmptiesTheWindowOverTheWholeBlock)
{
  Ptr<IOBufferBlock> b = new_block(BUFFER_SIZE_INDEX_128);
  b->fill(100);
  b->consume(40);
  b->reset();
  EXPECT_EQ(b->start(), b->buf());
  EXPECT_EQ(b->end(), b->buf());
  EXPECT_EQ(b->write_avail(), 128);
}

TEST(IOBufferBlock, CloneIsNeverWritable)
{
  Ptr<IOBufferBlock> b = new_block(BUFFER_SIZE_INDEX_128);
  b->fill(10);
  Ptr<IOBufferBlock> c(b->clone());
  EXPECT_EQ(c->write_avail(), 0);
  EXPECT_EQ(c->buf_end(), c->end());
  EXPECT_EQ(c->read_avail(), 10);
  EXPECT_EQ(b->write_avail(), 118) << "the original keeps its room";
}

TEST(IOBufferBlock, CloneSharesTheDataOfItsOriginal)
{
  Ptr<IOBufferBlock> b = new_block(BUFFER_SIZE_INDEX_128);
  b->fill(10);
  b->consume(3);
  Ptr<IOBufferBlock> c(b->clone());
  EXPECT_EQ(c->data.get(), b->data.get());
  EXPECT_EQ(c->start(), b->start());
  EXPECT_EQ(c->end(), b->end());
  EXPECT_EQ(b->data->refcount(), 2);
  EXPECT_FALSE(c->next) << "a clone is one block, not the chain";
}

TEST(IOBufferBlock, DataIsFreedWithTheLastBlockSharingIt)
{
  Ptr<IOBufferBlock> b = new_block(BUFFER_SIZE_INDEX_128);
  Ptr<IOBufferData> d  = b->data;
  Ptr<IOBufferBlock> c(b->clone());
  EXPECT_EQ(d->refcount(), 3);
  b.clear();
  EXPECT_EQ(d->refcount(), 2);
  c.clear();
  EXPECT_EQ(d->refcount(), 1) << "only this test holds the memory now";
}

TEST(IOBufferBlock, ClearDropsTheDataAndTheChain)
{
  Ptr<IOBufferBlock> b  = new_block(BUFFER_SIZE_INDEX_128);
  Ptr<IOBufferBlock> nx = new_block(BUFFER_SIZE_INDEX_128);
  b->next               = nx;
  b->clear();
  EXPECT_FALSE(b->data);
  EXPECT_FALSE(b->next);
  EXPECT_EQ(nx->refcount(), 1);
  EXPECT_EQ(b->block_size(), 0);
  EXPECT_EQ(b->read_avail(), 0);
}

TEST(IOBufferBlock, LongChainIsFreedWithoutRecursion)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  std::string d(128, 'x');
  for (int i = 0; i < 200000; ++i) { // a reader lagging 200,000 blocks behind the writer
    write(b.get(), d);
  }
  EXPECT_EQ(r->read_avail(), int64_t{200000} * 128);
  b.reset(); // must not overflow the stack
}
} // namespace
