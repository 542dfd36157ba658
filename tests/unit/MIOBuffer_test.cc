// Unit tests of MIOBuffer, the writer: writing and growing, the water-mark rules (write_avail() in
// IOBuffer.h), high and low water, fill and append_block, and where new readers start.
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
// --- MIOBuffer: construction and the writer ------------------------------------------------------------

TEST(MIOBuffer, FreshFourKBufferHasOneEmptyBlock)
{
  Buffer b = make(BUFFER_SIZE_INDEX_4K);
  EXPECT_EQ(b->block_size(), 4096);
  EXPECT_EQ(b->block_write_avail(), 4096);
  EXPECT_EQ(b->current_write_avail(), 4096);
  EXPECT_EQ(b->write_avail(), 4096);
  EXPECT_EQ(b->max_read_avail(), 0);
  EXPECT_EQ(b->first_write_block(), b->writer_block());
}

TEST(MIOBuffer, WritingPastABlockAddsBlocksAndMovesTheWriter)
{
  Buffer b             = make(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *r    = b->alloc_reader();
  IOBufferBlock *first = b->first_write_block();
  std::string d        = pattern(5120);
  write(b.get(), d);
  EXPECT_NE(b->first_write_block(), first);
  EXPECT_EQ(b->write_avail(), 3072);
  EXPECT_EQ(b->max_read_avail(), 5120);
  EXPECT_EQ(read_all(r), d);
}

TEST(MIOBuffer, EmptyBufferHasNoBlockUntilTheFirstWrite)
{
  Buffer b(new_empty_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  IOBufferReader *r = b->alloc_reader();
  EXPECT_EQ(b->first_write_block(), nullptr);
  EXPECT_EQ(b->end(), nullptr);
  EXPECT_EQ(b->buf_end(), nullptr);
  EXPECT_EQ(b->block_write_avail(), 0);
  EXPECT_EQ(b->current_write_avail(), 0);
  EXPECT_EQ(r->read_avail(), 0);
  EXPECT_EQ(r->start(), nullptr);
  write(b.get(), "first");
  EXPECT_EQ(read_all(r), "first") << "a reader allocated before the first block sees the first write";
}

TEST(MIOBuffer, WriteAvailOnAnEmptyBufferAddsItsFirstBlock)
{
  Buffer b(new_empty_MIOBuffer(BUFFER_SIZE_INDEX_1K));
  EXPECT_EQ(b->write_avail(), 1024);
  EXPECT_NE(b->first_write_block(), nullptr);
}

TEST(MIOBuffer, WriteCopiesAndReturnsTheLengthIgnoringTheWaterMark)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), pattern(128));
  ASSERT_EQ(b->write_avail(), 0);
  std::string more = pattern(300);
  EXPECT_EQ(b->write(more.data(), 300), 300) << "write() grows the chain even under backpressure";
  EXPECT_EQ(r->read_avail(), 428);
}

TEST(MIOBuffer, WriteAvailDoesNotGrowWhileUnreadDataExceedsWaterMark)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), pattern(128));
  EXPECT_EQ(b->write_avail(), 0) << "full block with unread data: backpressure";
  EXPECT_EQ(b->writer_block()->next, nullptr) << "and no block was added";
  r->consume(100);
  EXPECT_EQ(b->write_avail(), 0) << "28 unread bytes are still above the water mark 0";
}

TEST(MIOBuffer, WriteAvailAddsABlockOnceEveryReaderHasConsumedEverything)
{
  Buffer b           = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r1 = b->alloc_reader();
  IOBufferReader *r2 = b->alloc_reader();
  write(b.get(), pattern(128));
  r1->consume(128);
  EXPECT_EQ(b->write_avail(), 0) << "r2 has not consumed yet";
  r2->consume(128);
  EXPECT_EQ(b->write_avail(), 128) << "all consumed: a fresh block is added";
  EXPECT_EQ(b->block_write_avail(), 128);
}

TEST(MIOBuffer, WaterMarkLetsTheBufferGrowUntilUnreadDataExceedsIt)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  b->set_water_mark(300);
  b->alloc_reader();
  std::string d = pattern(128);
  for (int i = 0; i < 3; ++i) {
    ASSERT_GT(b->write_avail(), 0) << "unread " << i * 128 << " <= 300";
    write(b.get(), d);
  }
  EXPECT_EQ(b->write_avail(), 0) << "384 unread > 300";
  EXPECT_TRUE(b->high_water());
}

TEST(MIOBuffer, CurrentWriteAvailNeverAddsABlock)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), pattern(128));
  r->consume(128);
  EXPECT_EQ(b->current_write_avail(), 0);
  EXPECT_EQ(b->writer_block()->next, nullptr);
  EXPECT_TRUE(b->current_low_water());
}

TEST(MIOBuffer, HighWaterIsUnreadDataStrictlyAboveTheWaterMark)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_1K);
  IOBufferReader *r = b->alloc_reader();
  b->set_water_mark(10);
  write(b.get(), pattern(10));
  EXPECT_FALSE(b->high_water());
  write(b.get(), "x");
  EXPECT_TRUE(b->high_water());
  r->consume(1);
  EXPECT_FALSE(b->high_water());
}

TEST(MIOBuffer, HighWaterWithoutReadersLooksAtTheWriterBlock)
{
  Buffer b = make(BUFFER_SIZE_INDEX_1K);
  EXPECT_FALSE(b->high_water());
  write(b.get(), "x");
  EXPECT_EQ(b->max_read_avail(), 1);
  EXPECT_TRUE(b->high_water());
}

TEST(MIOBuffer, LowWaterIsFreeSpaceAtOrBelowTheWaterMark)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  b->set_water_mark(28);
  write(b.get(), pattern(99));
  EXPECT_FALSE(b->current_low_water()) << "29 free > 28";
  write(b.get(), "x");
  EXPECT_TRUE(b->current_low_water()) << "28 free <= 28";
  EXPECT_TRUE(b->low_water()) << "100 unread > 28: write_avail() adds nothing";
  r->consume(100);
  EXPECT_FALSE(b->low_water()) << "drained: write_avail() adds a block";
  EXPECT_EQ(b->current_write_avail(), 28 + 128);
}

TEST(MIOBuffer, FirstWriteBlockSkipsAFullWriterBlock)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), pattern(128));
  IOBufferBlock *full = b->writer_block();
  EXPECT_EQ(b->first_write_block(), full) << "no spare yet";
  r->consume(128);
  ASSERT_EQ(b->write_avail(), 128);
  EXPECT_EQ(b->writer_block(), full) << "the writer stays on the full block";
  EXPECT_EQ(b->first_write_block(), full->next.get());
  EXPECT_EQ(b->end(), full->next->buf());
}

TEST(MIOBuffer, FillSpillsIntoNextBlock)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  b->set_water_mark(200); // lets write_avail() add a spare block: room for 256 bytes
  ASSERT_EQ(b->write_avail(), 256);
  std::string d = pattern(200);
  int64_t left  = 200;
  std::size_t o = 0;
  for (IOBufferBlock *blk = b->first_write_block(); blk && left > 0; blk = blk->next.get()) {
    int64_t a = std::min(blk->write_avail(), left);
    std::memcpy(blk->end(), d.data() + o, static_cast<std::size_t>(a));
    o += static_cast<std::size_t>(a);
    left -= a;
  }
  b->fill(200);
  EXPECT_EQ(b->current_write_avail(), 56);
  EXPECT_EQ(read_all(r), d);
}

TEST(MIOBuffer, FillPastTheEndOfTheChainAborts)
{
  EXPECT_DEATH(
      {
        Buffer b = make(BUFFER_SIZE_INDEX_128);
        b->fill(129);
      },
      "fill past the end");
}

TEST(MIOBuffer, AppendBlockHandsTheBlockToTheBufferAsItsWriter)
{
  Buffer b             = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r    = b->alloc_reader();
  Ptr<IOBufferBlock> x = new_block(BUFFER_SIZE_INDEX_128);
  std::memcpy(x->end(), "abc", 3);
  x->fill(3);
  b->append_block(x.get());
  EXPECT_EQ(b->writer_block(), x.get());
  write(b.get(), "def");
  EXPECT_EQ(x->read_avail(), 6) << "later writes go into the appended block's free space";
  EXPECT_EQ(read_all(r), "abcdef");
}

TEST(MIOBuffer, AppendBlockOfASizeClassAddsRoom)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  b->append_block(BUFFER_SIZE_INDEX_1K);
  EXPECT_EQ(b->current_write_avail(), 128 + 1024);
}

TEST(MIOBuffer, AppendingAnEmptyBlockAborts)
{
  EXPECT_DEATH(
      {
        Buffer b             = make(BUFFER_SIZE_INDEX_128);
        Ptr<IOBufferBlock> x = new_block(BUFFER_SIZE_INDEX_128);
        b->append_block(x.get());
      },
      "without data");
}

TEST(MIOBuffer, AddBlockDoesNothingWhenASpareExists)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  b->add_block();
  b->add_block();
  EXPECT_EQ(b->current_write_avail(), 256);
}

TEST(MIOBuffer, MaxReadAvailIsTheLargestAmongReaders)
{
  Buffer b           = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r1 = b->alloc_reader();
  IOBufferReader *r2 = b->alloc_reader();
  write(b.get(), pattern(300));
  r1->consume(250);
  r2->consume(10);
  EXPECT_EQ(b->max_read_avail(), 290);
  EXPECT_TRUE(b->is_max_read_avail_more_than(289));
  EXPECT_FALSE(b->is_max_read_avail_more_than(290));
}

TEST(MIOBuffer, MaxBlockCountIsTheLongestChainAReaderHolds)
{
  Buffer b           = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r1 = b->alloc_reader();
  b->alloc_reader();
  write(b.get(), pattern(300)); // three blocks
  EXPECT_EQ(b->max_block_count(), 3);
  r1->consume(300);
  EXPECT_EQ(b->max_block_count(), 3) << "the second reader still holds all three";
}

// --- readers ------------------------------------------------------------------------------------------

TEST(MIOBuffer, NewReaderStartsAtCurrentWriterBlock)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  b->alloc_reader();
  std::string d = pattern(200);
  write(b.get(), d); // first block full, 72 bytes in the second
  IOBufferReader *late = b->alloc_reader();
  EXPECT_EQ(late->read_avail(), 72) << "sees the writer block's data, not earlier full blocks";
  EXPECT_EQ(read_all(late), d.substr(128));
}

TEST(MIOBuffer, NewReaderSeesTheWholeWriterBlockEvenWhatOthersConsumed)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  write(b.get(), "0123456789");
  r->consume(10);
  IOBufferReader *late = b->alloc_reader();
  EXPECT_EQ(read_all(late), "0123456789") << "offset 0 of the writer block, as in ATS";
}

TEST(MIOBuffer, SixthReaderIsRejected)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  for (int i = 0; i < MAX_MIOBUFFER_READERS; ++i) {
    EXPECT_NE(b->alloc_reader(), nullptr);
  }
  EXPECT_DEATH(b->alloc_reader(), "more than MAX_MIOBUFFER_READERS \\(5\\) readers");
}

TEST(MIOBuffer, DeallocatedReaderSlotIsReused)
{
  Buffer b = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *rs[MAX_MIOBUFFER_READERS];
  for (auto &r : rs) {
    r = b->alloc_reader();
  }
  rs[2]->dealloc();
  EXPECT_FALSE(rs[2]->is_allocated());
  EXPECT_EQ(b->alloc_reader(), rs[2]);
}

TEST(MIOBuffer, ReadersKeepTheirPlaceWhenMoreSlotsAreAdded)
{
  // The first reader lives in the buffer, the others in slots added with the second: a reader
  // taken before that must go on reading the same bytes, and every slot must be usable.
  Buffer b            = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *one = b->alloc_reader();
  b->write("abcdef", 6);
  one->consume(2);
  IOBufferReader *rest[MAX_MIOBUFFER_READERS - 1];
  for (auto &r : rest) {
    r = b->alloc_reader();
    ASSERT_NE(r, one);
  }
  EXPECT_EQ(read_all(one), "cdef");
  b->write("gh", 2);
  EXPECT_EQ(read_all(rest[3]), "abcdefgh");
  one->dealloc();
  EXPECT_EQ(b->alloc_reader(), one) << "the first slot is reused before the fatal limit";
  for (auto *r : rest) {
    r->dealloc();
  }
  EXPECT_EQ(b->max_read_avail(), 8) << "only `one` is left, at the writer block's start";
}

TEST(MIOBuffer, DeallocAllReadersFreesEverySlot)
{
  Buffer b          = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *r = b->alloc_reader();
  b->alloc_reader();
  b->dealloc_all_readers();
  EXPECT_FALSE(r->is_allocated());
  EXPECT_FALSE(r->block);
  EXPECT_EQ(b->max_read_avail(), 0);
}

// --- moving data between buffers ------------------------------------------------------------------------

TEST(MIOBuffer, WriteFromReaderSharesBlocksWithoutCopying)
{
  Buffer src         = make(BUFFER_SIZE_INDEX_4K);
  Buffer dst         = make(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *sr = src->alloc_reader();
  IOBufferReader *dr = dst->alloc_reader();
  write(src.get(), "hello world");
  EXPECT_EQ(dst->write(sr, 5, 6), 5);
  EXPECT_EQ(dr->block_read_avail(), 5);
  EXPECT_EQ(dr->start(), sr->start() + 6) << "same memory, no copy";
  EXPECT_EQ(dr->block->data.get(), sr->block->data.get());
  EXPECT_EQ(read_all(dr), "world");
}

TEST(MIOBuffer, WriteFromReaderDoesNotConsumeTheSource)
{
  Buffer src         = make(BUFFER_SIZE_INDEX_4K);
  Buffer dst         = make(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *sr = src->alloc_reader();
  write(src.get(), "hello world");
  dst->write(sr);
  EXPECT_EQ(sr->read_avail(), 11);
}

TEST(MIOBuffer, WriteFromReaderTrimsToOffsetAndLengthAcrossBlocks)
{
  Buffer src         = make(BUFFER_SIZE_INDEX_128);
  Buffer dst         = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *sr = src->alloc_reader();
  IOBufferReader *dr = dst->alloc_reader();
  std::string d      = pattern(400);
  write(src.get(), d);
  sr->consume(10);
  EXPECT_EQ(dst->write(sr, 250, 100), 250); // source bytes [110, 360) span blocks 0..2
  EXPECT_EQ(read_all(dr), d.substr(110, 250));
  EXPECT_EQ(dst->write(sr, INT64_MAX, 380), 10) << "clamped to what the reader sees";
  EXPECT_EQ(dst->write(sr, 10, 500), 0) << "offset past the end";
}

TEST(MIOBuffer, WriteFromReaderHonoursTheSourceSizeLimit)
{
  Buffer src         = make(BUFFER_SIZE_INDEX_128);
  Buffer dst         = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *sr = src->alloc_reader();
  IOBufferReader *dr = dst->alloc_reader();
  write(src.get(), "0123456789");
  sr->size_limit = 6;
  EXPECT_EQ(dst->write(sr), 6);
  EXPECT_EQ(read_all(dr), "012345");
}

TEST(MIOBuffer, WriteBlockAppendsTrimmedClonesOfTheChain)
{
  Buffer dst           = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *dr   = dst->alloc_reader();
  Ptr<IOBufferBlock> a = new_block(BUFFER_SIZE_INDEX_128);
  Ptr<IOBufferBlock> c = new_block(BUFFER_SIZE_INDEX_128);
  std::memcpy(a->end(), "abcde", 5);
  a->fill(5);
  std::memcpy(c->end(), "fghij", 5);
  c->fill(5);
  a->next = c;
  EXPECT_EQ(dst->write(a.get(), 6, 2), 6);
  EXPECT_EQ(dst->writer_block()->data.get(), c->data.get()) << "the last appended block is a clone of c";
  EXPECT_EQ(dst->writer_block()->write_avail(), 0);
  EXPECT_EQ(read_all(dr), "cdefgh");
  EXPECT_EQ(a->read_avail(), 5) << "the source blocks are untouched";
  EXPECT_EQ(c->read_avail(), 5);
}

TEST(MIOBuffer, SharedBlockIsNeverWrittenByTheBufferItWasAppendedTo)
{
  Buffer src         = make(BUFFER_SIZE_INDEX_128);
  Buffer dst         = make(BUFFER_SIZE_INDEX_128);
  IOBufferReader *sr = src->alloc_reader();
  IOBufferReader *dr = dst->alloc_reader();
  write(src.get(), "abc");
  dst->write(sr);
  write(dst.get(), "XYZ"); // must not land in src's memory after "abc"
  write(src.get(), "def"); // the owner may still append there
  EXPECT_EQ(read_all(sr), "abcdef");
  EXPECT_EQ(read_all(dr), "abcXYZ");
}

TEST(MIOBuffer, ReleaseBlocksIfDrainedDropsTheChainOnlyWhenEveryReaderIsDrained)
{
  Buffer b(new_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  IOBufferReader *r1 = b->alloc_reader();
  IOBufferReader *r2 = b->alloc_reader();
  b->write("hello", 5);
  r1->consume(5);
  EXPECT_FALSE(b->release_blocks_if_drained()) << "r2 has not read yet";
  EXPECT_NE(b->writer_block(), nullptr);
  r2->size_limit = 0; // a limit hides the bytes from read_avail() but they are still unread
  EXPECT_FALSE(b->release_blocks_if_drained());
  r2->size_limit = INT64_MAX;
  r2->consume(5);
  EXPECT_TRUE(b->release_blocks_if_drained());
  EXPECT_EQ(b->writer_block(), nullptr);
  EXPECT_EQ(r1->block.get(), nullptr);
  EXPECT_EQ(r2->block.get(), nullptr);
  EXPECT_FALSE(b->release_blocks_if_drained()) << "nothing left to drop";
}

TEST(MIOBuffer, ReadersOfAReleasedBufferSeeTheNextDataWritten)
{
  Buffer b(new_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  IOBufferReader *r1 = b->alloc_reader();
  IOBufferReader *r2 = b->alloc_reader();
  b->write("old", 3);
  r1->consume(3);
  r2->consume(3);
  ASSERT_TRUE(b->release_blocks_if_drained());
  EXPECT_EQ(r1->read_avail(), 0);
  EXPECT_EQ(b->write("new!", 4), 4);
  char out[8] = {};
  EXPECT_EQ(r1->read(out, sizeof(out)), 4);
  EXPECT_EQ(std::string(out, 4), "new!");
  EXPECT_EQ(r2->read_avail(), 4);
  EXPECT_GT(b->write_avail(), 0);
}

TEST(MIOBuffer, ReleasingDropsOnlyThisBuffersHoldOnSharedBlocks)
{
  Buffer src(new_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  IOBufferReader *sr = src->alloc_reader();
  src->write("shared", 6);
  Buffer dst(new_empty_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  IOBufferReader *dr = dst->alloc_reader();
  dst->write(sr);
  dr->consume(6);
  ASSERT_TRUE(dst->release_blocks_if_drained());
  char out[8] = {};
  EXPECT_EQ(sr->read(out, sizeof(out)), 6) << "the source still owns its data";
  EXPECT_EQ(std::string(out, 6), "shared");
}

TEST(MIOBuffer, ShrinkSparseBlockMovesASmallMessageIntoASmallBlock)
{
  Buffer b(new_MIOBuffer(BUFFER_SIZE_INDEX_32K));
  IOBufferReader *r1 = b->alloc_reader();
  IOBufferReader *r2 = b->alloc_reader();
  b->write("GET / HTTP/1.1\r\n\r\n", 18);
  r2->consume(4);
  ASSERT_TRUE(b->shrink_sparse_block());
  EXPECT_EQ(b->writer_block()->block_size(), 128);
  EXPECT_EQ(read_all(r1), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_all(r2), "/ HTTP/1.1\r\n\r\n");
  b->write("more", 4); // the next write goes on in the small block, then into a new big one
  EXPECT_EQ(r1->read_avail(), 4);
}

TEST(MIOBuffer, ShrinkSparseBlockLeavesFullSharedOrOffsetBlocksAlone)
{
  Buffer full(new_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  full->alloc_reader();
  std::string quarter_plus(1025, 'q');
  full->write(quarter_plus.data(), static_cast<int64_t>(quarter_plus.size()));
  EXPECT_FALSE(full->shrink_sparse_block()) << "more than a quarter of the block";

  Buffer shared(new_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  IOBufferReader *sr = shared->alloc_reader();
  shared->write("abc", 3);
  Buffer other(new_empty_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  other->alloc_reader();
  other->write(sr);
  EXPECT_FALSE(shared->shrink_sparse_block()) << "its data is shared with another buffer";

  Buffer empty(new_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  EXPECT_FALSE(empty->shrink_sparse_block()) << "nothing to move";
}

TEST(MIOBuffer, ReleaseKeepsDataThatNoReaderHasSeenYet)
{
  Buffer b(new_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  b->write("ping", 4);
  EXPECT_FALSE(b->release_blocks_if_drained()) << "no reader: nobody has consumed the bytes";
  IOBufferReader *late = b->alloc_reader();
  EXPECT_EQ(late->read_avail(), 4);
}

TEST(MIOBuffer, RestoreBlockSizeAppendsAFullBlockAfterAShrunkOne)
{
  Buffer b(new_MIOBuffer(BUFFER_SIZE_INDEX_4K));
  IOBufferReader *r = b->alloc_reader();
  b->write("hello", 5);
  ASSERT_TRUE(b->shrink_sparse_block());
  EXPECT_TRUE(b->restore_block_size());
  EXPECT_GE(b->current_write_avail(), 4096);
  EXPECT_FALSE(b->restore_block_size()) << "a block already follows";
  EXPECT_EQ(read_all(r), "hello");
}
} // namespace
