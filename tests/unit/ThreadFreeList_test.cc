// Unit tests of the per-thread free lists (ClassAllocator's, the IO buffer cache): at most a cap per
// thread, and what the thread did not use for a whole interval is freed.
#include "iocore/eventsystem/EThread.h"
#include "support/AllocatorBatches.h"
#include "iocore/eventsystem/IOBuffer.h"

#include "eventsystem/ClassAllocator.h"
#include "eventsystem/MemoryReclaimer.h"
#include "eventsystem/ThreadFreeList.h"

#include "support/ManualClock.h"

#include <gtest/gtest.h>

#include <vector>

using namespace iocore;
using namespace iocore::test;

namespace {
TEST(ThreadFreeList, ClassAllocatorKeepsAtMostItsCapPerThread)
{
  start_empty();
  ClassAllocator<Small> a;
  auto v = alloc_n(a, ClassAllocator<Small>::kThreadCacheHigh + 100);
  free_all(a, v);
  EXPECT_EQ(ClassAllocator<Small>::thread_cached_count(), ClassAllocator<Small>::kThreadCacheHigh);
}

TEST(ThreadFreeList, EntriesUnusedForAWholeIntervalAreFreed)
{
  start_empty();
  ClassAllocator<Small> a;
  auto v = alloc_n(a, 300);
  free_all(a, v);
  // The interval in which they were freed is not one in which they stayed unused.
  ThreadFreeList::release_unused_on_this_thread();
  EXPECT_EQ(ClassAllocator<Small>::thread_cached_count(), 300);
  std::size_t freed = ThreadFreeList::release_unused_on_this_thread();
  EXPECT_EQ(ClassAllocator<Small>::thread_cached_count(), 0);
  EXPECT_GE(freed, 300 * sizeof(Small));
}

TEST(ThreadFreeList, EntriesTheThreadUsedDuringTheIntervalStay)
{
  start_empty();
  ClassAllocator<Small> a;
  auto v = alloc_n(a, 100);
  free_all(a, v);
  ThreadFreeList::release_unused_on_this_thread();
  // 40 taken and given back: the list went down to 60, so only 60 were surplus.
  v = alloc_n(a, 40);
  free_all(a, v);
  ThreadFreeList::release_unused_on_this_thread();
  EXPECT_EQ(ClassAllocator<Small>::thread_cached_count(), 40);
}

TEST(ThreadFreeList, BufferMemoryCacheGivesBackWhatItDidNotUse)
{
  start_empty();
  {
    std::vector<Ptr<IOBufferBlock>> blocks;
    for (int i = 0; i < 8; ++i) {
      blocks.emplace_back(new IOBufferBlock);
      blocks.back()->alloc(BUFFER_SIZE_INDEX_32K);
    }
  }
  if (ThreadFreeList::held_bytes_on_this_thread() == 0) {
    GTEST_SKIP() << "buffer memory is not cached in sanitizer builds";
  }
  EXPECT_GE(ThreadFreeList::held_bytes_on_this_thread(), std::size_t{8} * 32768);
  ThreadFreeList::release_unused_on_this_thread();
  ThreadFreeList::release_unused_on_this_thread();
  EXPECT_EQ(ThreadFreeList::held_bytes_on_this_thread(), 0u);
}
} // namespace
