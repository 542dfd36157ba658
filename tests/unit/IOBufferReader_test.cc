// Unit tests of IOBufferReader: what it sees (read_avail, size limits, blocks()), consuming, reading
// and searching, clones and resets, and when blocks every reader has passed are freed.
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
TEST(IOBufferReader, ReadAvailCountsFromItsPositionToTheWritersEnd)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), pattern(300));
  r->consume(130);
  EXPECT_EQ(r->read_avail(), 170);
  write(b.get(), "more");
  EXPECT_EQ(r->read_avail(), 174);
}

TEST(IOBufferReader, IsReadAvailMoreThanIsStrict)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  EXPECT_FALSE(r->is_read_avail_more_than(0));
  write(b.get(), pattern(200));
  EXPECT_TRUE(r->is_read_avail_more_than(199));
  EXPECT_FALSE(r->is_read_avail_more_than(200));
}

TEST(IOBufferReader, BlockReadAvailIsTheContiguousBytesAtStart)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  std::string d     = pattern(200);
  write(b.get(), d);
  r->consume(28);
  EXPECT_EQ(r->block_read_avail(), 100);
  EXPECT_EQ(std::string(r->start(), 100), d.substr(28, 100));
  EXPECT_EQ(r->end(), r->start() + 100);
  r->consume(100);
  EXPECT_EQ(r->block_read_avail(), 72) << "now the second block";
  EXPECT_EQ(std::string(r->start(), 72), d.substr(128));
}

TEST(IOBufferReader, ConsumeNeverMovesOntoAnEmptyTailBlock)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), pattern(128));
  IOBufferBlock *full = b->writer_block();
  r->consume(128);
  ASSERT_EQ(b->write_avail(), 128); // an empty spare after the full block
  EXPECT_EQ(r->block.get(), full);
  EXPECT_EQ(r->start_offset, 128);
  write(b.get(), "z");
  r->consume(0);
  EXPECT_EQ(read_all(r), "z");
  EXPECT_EQ(r->block.get(), b->writer_block());
}

TEST(IOBufferReader, ConsumePastReadAvailAborts)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), "abc");
  EXPECT_DEATH(r->consume(4), "consume past the available data");
}

TEST(IOBufferReader, ReadCopiesOutAndConsumes)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  std::string d     = pattern(300);
  write(b.get(), d);
  char out[200];
  EXPECT_EQ(r->read(out, 200), 200);
  EXPECT_EQ(std::string(out, 200), d.substr(0, 200));
  EXPECT_EQ(r->read(out, 200), 100) << "only what is there";
  EXPECT_EQ(std::string(out, 100), d.substr(200));
  EXPECT_EQ(r->read_avail(), 0);
}

TEST(IOBufferReader, MemcpyWithOffsetDoesNotConsume)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  std::string d     = pattern(300);
  write(b.get(), d);
  char out[50];
  EXPECT_EQ(r->memcpy(out, 50, 120), 50) << "across the block boundary at 128";
  EXPECT_EQ(std::string(out, 50), d.substr(120, 50));
  EXPECT_EQ(r->memcpy(out, 50, 280), 20);
  EXPECT_EQ(r->memcpy(out, 50, 300), 0);
  EXPECT_EQ(r->read_avail(), 300);
}

TEST(IOBufferReader, MemchrReturnsTheOffsetFromTheReadersStartOrMinusOne)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), pattern(300)); // 'c' at 2, 28, 54, ...
  EXPECT_EQ(r->memchr('c'), 2);
  EXPECT_EQ(r->memchr('c', INT64_MAX, 3), 28);
  EXPECT_EQ(r->memchr('c', 25, 3), -1) << "28 is outside [3, 28)";
  EXPECT_EQ(r->memchr('c', INT64_MAX, 130), 132) << "in the second block";
  EXPECT_EQ(r->memchr('!'), -1);
  r->consume(10);
  EXPECT_EQ(r->memchr('c'), 18);
}

TEST(IOBufferReader, CloneReadsIndependently)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), "abcdef");
  r->consume(2);
  IOBufferReader *c = r->clone();
  EXPECT_NE(c, r);
  EXPECT_EQ(read_all(c), "cdef");
  EXPECT_EQ(read_all(r), "cdef");
}

TEST(IOBufferReader, ResetGoesBackToTheStartOfTheWriterBlock)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  std::string d     = pattern(200);
  write(b.get(), d);
  r->consume(150);
  r->size_limit = 5;
  r->reset();
  EXPECT_EQ(r->size_limit, INT64_MAX);
  EXPECT_EQ(read_all(r), d.substr(128));
}

TEST(IOBufferReader, SizeLimitCapsWhatTheReaderSees)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), "0123456789");
  r->size_limit = 4;
  EXPECT_EQ(r->read_avail(), 4);
  EXPECT_FALSE(r->is_read_avail_more_than(4));
  EXPECT_EQ(r->block_read_avail(), 4);
  r->consume(3);
  EXPECT_EQ(r->size_limit, 1);
  EXPECT_EQ(read_all(r), "3");
}

std::vector<std::string>
pieces_of(const IOBufferReader *r)
{
  std::vector<std::string> out;
  for (std::string_view piece : r->blocks()) {
    out.emplace_back(piece);
  }
  return out;
}

TEST(IOBufferReader, BlocksWalksTheUnreadBytesOnePiecePerBlockWithoutConsuming)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  std::string data  = pattern(300);
  write(b.get(), data);
  r->consume(10);

  std::vector<std::string> pieces = pieces_of(r);
  ASSERT_EQ(pieces.size(), 3U);
  EXPECT_EQ(pieces[0], data.substr(10, 118)) << "the first piece starts at the reader's position";
  EXPECT_EQ(pieces[1], data.substr(128, 128));
  EXPECT_EQ(pieces[2], data.substr(256));
  EXPECT_EQ(r->read_avail(), 290) << "walking consumes nothing";
  EXPECT_EQ(pieces_of(r), pieces) << "and can be done again";
}

TEST(IOBufferReader, BlocksStartsPastTheBlockAReaderHasConsumed)
{
  // A reader that consumed a whole block stays on it (at its end) until the next block exists.
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), pattern(128));
  r->consume(128);
  write(b.get(), "next");
  ASSERT_EQ(r->read_avail(), 4);
  EXPECT_EQ(pieces_of(r), std::vector<std::string>{"next"});
}

TEST(IOBufferReader, BlocksStopsAtTheSizeLimitAndIsEmptyForADrainedReader)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  EXPECT_TRUE(r->blocks().begin() == r->blocks().end()) << "no block yet";
  write(b.get(), pattern(200));
  r->size_limit = 130;
  EXPECT_EQ(pieces_of(r), (std::vector<std::string>{pattern(128), pattern(200).substr(128, 2)}));
  r->size_limit = INT64_MAX;
  r->consume(200);
  EXPECT_TRUE(r->blocks().begin() == r->blocks().end()) << "nothing left to see";
}

TEST(IOBufferReader, BlockIsFreedWhenEveryReaderConsumedPastIt)
{
  Buffer b           = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r1 = b->alloc_reader();
  IOBufferReader *r2 = b->alloc_reader();
  write(b.get(), pattern(200));
  Ptr<IOBufferData> first = r1->block->data; // the first block's memory: held by it and by us
  ASSERT_EQ(first->refcount(), 2);
  r1->consume(150);
  EXPECT_EQ(first->refcount(), 2) << "r2 still holds the first block";
  r2->consume(150);
  EXPECT_EQ(first->refcount(), 1) << "both readers and the writer moved on: the block is freed";
}

TEST(IOBufferReader, WriterBlockIsKeptWhileTheWriterIsOnIt)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), "abc");
  Ptr<IOBufferData> d = r->block->data;
  r->consume(3);
  EXPECT_EQ(d->refcount(), 2);
  b.reset();
  EXPECT_EQ(d->refcount(), 1) << "free_MIOBuffer releases the chain";
}
} // namespace
