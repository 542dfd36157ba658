// Counters of the allocators' slow paths, the intervals, and the trim. The counters are
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
    std::atomic<std::int64_t> peak{0};          ///< since the last trim
    std::atomic<std::int64_t> interval_peak{0}; ///< since the current interval began
    std::atomic<std::uint64_t> trims{0};
    std::atomic<bool> closing{false};      ///< a thread is in close_interval()
    std::atomic<ink_hrtime> last_close{0}; ///< when run_if_due() last closed an interval
    std::atomic<bool> ever_closed{false};
  };
  Counters g_counters;

  // When this thread's loop last released its unused free-list entries.
  thread_local std::optional<ink_hrtime> t_last_release;

  void raise_to(std::atomic<std::int64_t> &max, std::int64_t v)
  {
    // A racy maximum is enough: the peaks only decide whether a trim is worth its cost.
    if (v > max.load(std::memory_order_relaxed)) {
      max.store(v, std::memory_order_relaxed);
    }
  }

  /// Whether `now` is kInterval after `last` (or before it: another loop's clock, as tests drive
  /// several by hand on one thread).
  bool is_due(ink_hrtime now, ink_hrtime last)
  {
    return now < last || now - last >= MemoryReclaimer::kInterval;
  }

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
  auto n           = static_cast<std::int64_t>(bytes);
  std::int64_t now = g_counters.bytes.fetch_add(n, std::memory_order_relaxed) + n;
  raise_to(g_counters.interval_peak, now);
  raise_to(g_counters.peak, now);
}

void
MemoryReclaimer::note_released(std::size_t bytes)
{
  g_counters.bytes.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
}

void
MemoryReclaimer::run_if_due(ink_hrtime now)
{
  if (!t_last_release || is_due(now, *t_last_release)) {
    t_last_release = now;
    release_unused();
  }
  ink_hrtime last = g_counters.last_close.load(std::memory_order_relaxed);
  bool first      = !g_counters.ever_closed.load(std::memory_order_relaxed);
  if ((first || is_due(now, last)) && g_counters.last_close.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    g_counters.ever_closed.store(true, std::memory_order_relaxed);
    close_interval();
  }
}

std::size_t
MemoryReclaimer::release_unused()
{
  return ThreadFreeList::release_unused_on_this_thread();
}

bool
MemoryReclaimer::close_interval()
{
  if (g_counters.closing.exchange(true, std::memory_order_acquire)) {
    return false; // another thread is closing it (and may be trimming): that is enough
  }
  std::int64_t bytes         = g_counters.bytes.load(std::memory_order_relaxed);
  std::int64_t peak          = g_counters.peak.load(std::memory_order_relaxed);
  std::int64_t interval_peak = g_counters.interval_peak.exchange(bytes, std::memory_order_relaxed);
  std::int64_t drop          = peak - interval_peak;
  bool trim                  = drop >= kTrimMinDrop && drop >= peak / kTrimMinDropDivisor;
  if (trim) {
    trim_malloc();
    g_counters.peak.store(g_counters.bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
    g_counters.trims.fetch_add(1, std::memory_order_relaxed);
  }
  g_counters.closing.store(false, std::memory_order_release);
  return trim;
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

std::int64_t
MemoryReclaimer::interval_peak_bytes()
{
  return g_counters.interval_peak.load(std::memory_order_relaxed);
}

std::uint64_t
MemoryReclaimer::trim_count()
{
  return g_counters.trims.load(std::memory_order_relaxed);
}
} // namespace iocore
