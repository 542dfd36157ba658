// Counters of the allocators' slow paths, the per-thread interval, and the trim. The counters are
// process-wide (an object may be freed on another thread than the one that allocated it), so they
// are atomics, touched only when operator new or delete is called anyway.
#include "eventsystem/MemoryReclaimer.h"

#include "eventsystem/ThreadFreeList.h"

#include <atomic>
#include <optional>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace iocore {
namespace {
  struct alignas(64) Counters {
    std::atomic<std::int64_t> bytes{0};
    std::atomic<std::int64_t> peak{0};
    std::atomic<std::uint64_t> trims{0};
    std::atomic<bool> trimming{false};
  };
  Counters g_counters;

  // When this thread's loop last ran the reclaimer.
  thread_local std::optional<ink_hrtime> t_last_run;

  void trim_malloc()
  {
#if defined(__GLIBC__)
    // 0: keep no padding at the top of the heap; glibc also returns whole free pages inside every
    // arena (madvise), which is what a fragmented heap needs.
    ::malloc_trim(0);
#endif
  }
} // namespace

void
MemoryReclaimer::note_obtained(std::size_t bytes)
{
  std::int64_t now =
      g_counters.bytes.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed) + static_cast<std::int64_t>(bytes);
  // A racy maximum is enough: the peak only decides whether a trim is worth its cost.
  if (now > g_counters.peak.load(std::memory_order_relaxed)) {
    g_counters.peak.store(now, std::memory_order_relaxed);
  }
}

void
MemoryReclaimer::note_released(std::size_t bytes)
{
  g_counters.bytes.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
}

void
MemoryReclaimer::run_if_due(ink_hrtime now)
{
  // A time before the last run comes from another loop's clock on this OS thread (tests drive
  // several by hand): run rather than wait for that clock to catch up.
  if (t_last_run && now >= *t_last_run && now - *t_last_run < kInterval) {
    return;
  }
  t_last_run = now;
  run();
}

bool
MemoryReclaimer::run()
{
  ThreadFreeList::release_unused_on_this_thread();
  return trim_if_worthwhile();
}

bool
MemoryReclaimer::trim_if_worthwhile()
{
  std::int64_t bytes = g_counters.bytes.load(std::memory_order_relaxed);
  std::int64_t peak  = g_counters.peak.load(std::memory_order_relaxed);
  std::int64_t drop  = peak - bytes;
  if (drop < kTrimMinDrop || drop < peak / kTrimMinDropDivisor) {
    return false;
  }
  // One trimmer at a time: malloc_trim walks every arena, so a second thread would only repeat it.
  if (g_counters.trimming.exchange(true, std::memory_order_acquire)) {
    return false;
  }
  trim_malloc();
  g_counters.peak.store(g_counters.bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
  g_counters.trims.fetch_add(1, std::memory_order_relaxed);
  g_counters.trimming.store(false, std::memory_order_release);
  return true;
}

std::int64_t
MemoryReclaimer::allocator_bytes()
{
  return g_counters.bytes.load(std::memory_order_relaxed);
}

std::int64_t
MemoryReclaimer::allocator_peak_bytes()
{
  return g_counters.peak.load(std::memory_order_relaxed);
}

std::uint64_t
MemoryReclaimer::trim_count()
{
  return g_counters.trims.load(std::memory_order_relaxed);
}
} // namespace iocore
