// Unit tests of the MemoryReclaimer: an event loop releases unused free-list entries once per interval
// of its clock, and malloc is trimmed only when the allocators' bytes fell well below their peak.
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
struct Page {
  char bytes[4096];
};

/// start_empty(), and close two intervals so that what earlier tests in this process allocated
/// and freed has been trimmed (or was too small to be): the peak is near the current bytes.
void
settle()
{
  start_empty();
  MemoryReclaimer::close_interval();
  MemoryReclaimer::close_interval();
}

TEST(MemoryReclaimer, EventLoopReleasesUnusedEntriesOncePerInterval)
{
  ManualClock clock;
  EThread t{REGULAR, 0, &clock};
  t.set_current();
  t.run_one_iteration(0);
  start_empty();
  ClassAllocator<Small> a;
  auto v = alloc_n(a, 50);
  free_all(a, v);
  clock.advance(MemoryReclaimer::kInterval);
  t.run_one_iteration(0); // starts the interval in which the 50 stay unused
  EXPECT_EQ(ClassAllocator<Small>::thread_cached_count(), 50);
  clock.advance(MemoryReclaimer::kInterval - 1);
  t.run_one_iteration(0);
  EXPECT_EQ(ClassAllocator<Small>::thread_cached_count(), 50) << "released before the interval was over";
  clock.advance(1);
  t.run_one_iteration(0);
  EXPECT_EQ(ClassAllocator<Small>::thread_cached_count(), 0);
  EThread::clear_current();
}

TEST(MemoryReclaimer, AllocatorBytesFollowOperatorNewAndDeleteOnly)
{
  start_empty();
  ClassAllocator<Page> a;
  std::int64_t before = MemoryReclaimer::allocator_bytes();
  auto v              = alloc_n(a, 10);
  EXPECT_EQ(MemoryReclaimer::allocator_bytes() - before, 10 * std::int64_t{sizeof(Page)});
  free_all(a, v); // cached: still held from operator new
  EXPECT_EQ(MemoryReclaimer::allocator_bytes() - before, 10 * std::int64_t{sizeof(Page)});
  v = alloc_n(a, 10); // from the cache: no new bytes
  EXPECT_EQ(MemoryReclaimer::allocator_bytes() - before, 10 * std::int64_t{sizeof(Page)});
  free_all(a, v);
  ThreadFreeList::release_all_on_this_thread();
  EXPECT_EQ(MemoryReclaimer::allocator_bytes(), before);
}

TEST(MemoryReclaimer, TrimsOnlyAfterAWholeIntervalWellBelowThePeak)
{
  settle();
  ClassAllocator<Page> a;
  auto v = alloc_n(a, ClassAllocator<Page>::kThreadCacheHigh + 88);
  free_all(a, v);
  ThreadFreeList::release_unused_on_this_thread();
  ThreadFreeList::release_unused_on_this_thread(); // all 600 back: 2.4 MB below the peak
  std::uint64_t trims = MemoryReclaimer::trim_count();
  EXPECT_FALSE(MemoryReclaimer::close_interval()) << "trimmed at the end of the interval that reached the peak";
  EXPECT_TRUE(MemoryReclaimer::close_interval());
  EXPECT_EQ(MemoryReclaimer::trim_count(), trims + 1);
  EXPECT_EQ(MemoryReclaimer::allocator_peak_bytes(), MemoryReclaimer::allocator_bytes());
  EXPECT_FALSE(MemoryReclaimer::close_interval()) << "trimmed again with nothing freed since";
}

TEST(MemoryReclaimer, UseThatSwingsBackToItsPeakIsNotTrimmed)
{
  settle();
  ClassAllocator<Page> a;
  for (int interval = 0; interval < 3; ++interval) {
    // Each interval takes 2.4 MB and gives it all back: a busy process, not a finished burst.
    auto v = alloc_n(a, ClassAllocator<Page>::kThreadCacheHigh + 88);
    free_all(a, v);
    ThreadFreeList::release_all_on_this_thread();
    EXPECT_FALSE(MemoryReclaimer::close_interval()) << "interval " << interval;
  }
}
} // namespace
