// Unit tests of the IO buffer layer: sizes, blocks, readers, water marks, sharing, and release.
#include "iocore/eventsystem/IOBuffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

using namespace iocore;

namespace {
std::string
read_all(IOBufferReader *r)
{
  std::string s(static_cast<std::size_t>(r->read_avail()), '\0');
  r->read(s.data(), static_cast<int64_t>(s.size()));
  return s;
}

struct BufferDeleter {
  void operator()(MIOBuffer *b) const { free_MIOBuffer(b); }
};
using Buffer = std::unique_ptr<MIOBuffer, BufferDeleter>;

Buffer
make(int64_t index)
{
  return Buffer(new_MIOBuffer(index));
}
} // namespace

TEST(IOBufferSizes, IndexToSizeDoublesFrom128)
{
  EXPECT_EQ(index_to_buffer_size(BUFFER_SIZE_INDEX_128), 128);
  EXPECT_EQ(index_to_buffer_size(BUFFER_SIZE_INDEX_4K), 4096);
  EXPECT_EQ(index_to_buffer_size(BUFFER_SIZE_INDEX_32K), 32768);
  EXPECT_EQ(index_to_buffer_size(BUFFER_SIZE_INDEX_2M), 2 * 1024 * 1024);
}

TEST(IOBufferSizes, SizeToIndexPicksTheSmallestFittingClassCappedAtMax)
{
  EXPECT_EQ(buffer_size_to_index(1), BUFFER_SIZE_INDEX_128);
  EXPECT_EQ(buffer_size_to_index(128), BUFFER_SIZE_INDEX_128);
  EXPECT_EQ(buffer_size_to_index(129), BUFFER_SIZE_INDEX_256);
  EXPECT_EQ(buffer_size_to_index(4096), BUFFER_SIZE_INDEX_4K);
  EXPECT_EQ(buffer_size_to_index(1 << 30), BUFFER_SIZE_INDEX_2M);
  EXPECT_EQ(buffer_size_to_index(1 << 30, BUFFER_SIZE_INDEX_32K), BUFFER_SIZE_INDEX_32K);
}

TEST(MIOBuffer, FreshFourKBufferHasOneEmptyBlock)
{
  Buffer b = make(BUFFER_SIZE_INDEX_4K);
  EXPECT_EQ(b->block_size(), 4096);
  EXPECT_EQ(b->block_write_avail(), 4096);
  EXPECT_EQ(b->current_write_avail(), 4096);
  EXPECT_EQ(b->write_avail(), 4096);
  EXPECT_EQ(b->max_read_avail(), 0);
}

TEST(MIOBuffer, WritingPastABlockAddsBlocksAndMovesTheWriter)
{
  Buffer b             = make(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *r    = b->alloc_reader();
  IOBufferBlock *first = b->first_write_block();
  std::string d(5120, 'x');
  EXPECT_EQ(b->write(d.data(), 5120), 5120);
  EXPECT_NE(b->first_write_block(), first);
  EXPECT_EQ(b->write_avail(), 3072);
  EXPECT_EQ(r->read_avail(), 5120);
  EXPECT_EQ(read_all(r), d);
}

TEST(MIOBuffer, WriteAvailDoesNotGrowWhileUnreadDataExceedsWaterMark)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  std::string d(128, 'a');
  b->write(d.data(), 128);
  EXPECT_EQ(b->write_avail(), 0) << "full block with unread data: backpressure";
  r->consume(100);
  EXPECT_EQ(b->write_avail(), 0) << "still unread data above the water mark 0";
  r->consume(28);
  EXPECT_EQ(b->write_avail(), 128) << "all consumed: a fresh block is added";
}

TEST(MIOBuffer, WaterMarkLetsTheBufferGrowUntilUnreadDataExceedsIt)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  b->set_water_mark(300);
  b->alloc_reader();
  std::string d(128, 'a');
  for (int i = 0; i < 3; ++i) {
    ASSERT_GT(b->write_avail(), 0) << "unread " << i * 128 << " <= 300";
    b->write(d.data(), 128);
  }
  EXPECT_EQ(b->write_avail(), 0) << "384 unread > 300";
  EXPECT_TRUE(b->high_water());
}

TEST(MIOBuffer, NewReaderStartsAtCurrentWriterBlock)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  b->alloc_reader();
  std::string d(200, 'a');
  b->write(d.data(), 200); // first block full, 72 bytes in the second
  IOBufferReader *late = b->alloc_reader();
  EXPECT_EQ(late->read_avail(), 72) << "sees the writer block's data, not earlier full blocks";
}

TEST(MIOBuffer, SixthReaderIsRejected)
{
  EXPECT_DEATH(
      {
        Buffer b = make(BUFFER_SIZE_INDEX_128);
        for (int i = 0; i < 6; ++i) {
          b->alloc_reader();
        }
      },
      "readers");
}

TEST(MIOBuffer, WriteFromReaderSharesBlocksWithoutCopying)
{
  Buffer src         = make(BUFFER_SIZE_INDEX_4K);
  Buffer dst         = make(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *sr = src->alloc_reader();
  IOBufferReader *dr = dst->alloc_reader();
  src->write("hello world", 11);
  EXPECT_EQ(dst->write(sr, 5, 6), 5);
  EXPECT_EQ(dr->block_read_avail(), 5);
  EXPECT_EQ(dr->start(), sr->start() + 6) << "same memory, no copy";
  EXPECT_EQ(read_all(dr), "world");
  EXPECT_EQ(sr->read_avail(), 11) << "the source reader is not consumed";
}

TEST(MIOBuffer, FillSpillsIntoNextBlock)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  b->add_block(); // spare block after the writer: room for 256 bytes
  ASSERT_EQ(b->current_write_avail(), 256);
  std::string d(200, 'f');
  int64_t left  = 200;
  std::size_t o = 0;
  for (IOBufferBlock *blk = b->first_write_block(); blk && left > 0; blk = blk->next.get()) {
    int64_t a = std::min(blk->write_avail(), left);
    std::memcpy(blk->end(), d.data() + o, static_cast<std::size_t>(a));
    o += static_cast<std::size_t>(a);
    left -= a;
  }
  b->fill(200);
  EXPECT_EQ(read_all(r), d);
}

TEST(IOBufferReader, MemcpyWithOffsetDoesNotConsume)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  std::string d;
  for (int i = 0; i < 300; ++i) {
    d.push_back(static_cast<char>('a' + i % 26));
  }
  b->write(d.data(), 300);
  char out[50];
  EXPECT_EQ(r->memcpy(out, 50, 120), 50);
  EXPECT_EQ(std::string(out, 50), d.substr(120, 50));
  EXPECT_EQ(r->read_avail(), 300);
  EXPECT_EQ(r->memchr('c', INT64_MAX, 3), 28);
}

TEST(IOBufferReader, CloneReadsIndependently)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  b->write("abcdef", 6);
  r->consume(2);
  IOBufferReader *c = r->clone();
  EXPECT_EQ(read_all(c), "cdef");
  EXPECT_EQ(read_all(r), "cdef");
}

TEST(IOBufferBlock, CloneIsNeverWritable)
{
  auto *b = new IOBufferBlock;
  b->refcount_inc();
  b->alloc(BUFFER_SIZE_INDEX_128);
  b->fill(10);
  IOBufferBlock *c = b->clone();
  EXPECT_EQ(c->write_avail(), 0);
  EXPECT_EQ(c->read_avail(), 10);
  EXPECT_EQ(c->start(), b->start());
  delete c;
  if (b->refcount_dec() == 0) {
    b->free();
  }
}

TEST(IOBufferBlock, BlockIsReleasedWhenEveryReaderConsumedPastIt)
{
  Buffer b           = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r1 = b->alloc_reader();
  IOBufferReader *r2 = b->alloc_reader();
  Ptr<IOBufferBlock> first(b->first_write_block());
  std::string d(200, 'x');
  b->write(d.data(), 200);
  int held_by_two_readers = first->refcount();
  r1->consume(150);
  EXPECT_EQ(first->refcount(), held_by_two_readers - 1) << "r1 moved on";
  r2->consume(150);
  EXPECT_EQ(first->refcount(), 1) << "only this test still holds the first block";
}

TEST(IOBufferBlock, LongChainIsFreedWithoutRecursion)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  std::string d(128, 'x');
  for (int i = 0; i < 200000; ++i) { // a reader that lags behind 200,000 blocks
    b->write(d.data(), 128);
  }
  EXPECT_EQ(r->read_avail(), int64_t{200000} * 128);
  b.reset(); // must not overflow the stack
}

TEST(MIOBufferAccessor, ReaderForTakesTheReadersBuffer)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  MIOBufferAccessor a;
  a.reader_for(r);
  EXPECT_EQ(a.reader(), r);
  EXPECT_EQ(a.writer(), b.get());
  a.writer_for(b.get());
  EXPECT_EQ(a.reader(), nullptr);
  a.clear();
  EXPECT_EQ(a.writer(), nullptr);
}
