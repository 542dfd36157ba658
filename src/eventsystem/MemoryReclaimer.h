// MemoryReclaimer: gives the memory a burst of connections needed back to the system once the
// burst is over, in two steps that both stay off the allocation fast path:
//   1. each event loop, at most once per kInterval, frees what its thread's free lists kept but did
//      not hand out during the last interval (ThreadFreeList::release_unused);
//   2. when the bytes the allocators hold from operator new have fallen well below their peak, one
//      thread asks malloc to return its free pages (glibc: malloc_trim). Without it a freed flood
//      stays resident: the allocator's heaps are fragmented by the few objects still live, so
//      freeing alone returns next to nothing.
// The allocators report only their slow paths (a free-list miss that calls operator new, a free
// past a list's cap): one relaxed atomic add there, none per cached allocation.
#pragma once

#include "iocore/eventsystem/Time.h"

#include <cstddef>
#include <cstdint>

namespace iocore {
class MemoryReclaimer
{
public:
  /// How often a loop frees its thread's unused free-list entries (and may trim).
  static constexpr ink_hrtime kInterval = HRTIME_SECONDS(1);
  /// malloc is trimmed only once the allocators' bytes are this far below their peak ...
  static constexpr std::int64_t kTrimMinDrop = std::int64_t{1} << 20;
  /// ... and at least this fraction (1/kTrimMinDropDivisor) of the peak below it, so a large busy
  /// process is not trimmed for a small dip.
  static constexpr std::int64_t kTrimMinDropDivisor = 4;

  /// An allocator took `bytes` from operator new / gave them back to operator delete.
  static void note_obtained(std::size_t bytes);
  static void note_released(std::size_t bytes);

  /// What every event loop calls once per iteration: run() on this thread when kInterval has passed
  /// since its last run (on the thread's own clock, so a manual clock drives it in tests).
  static void run_if_due(ink_hrtime now);
  /// Free this thread's unused free-list entries, then trim_if_worthwhile(). Returns whether
  /// malloc was trimmed.
  static bool run();
  /// Trim malloc if the allocators' bytes fell far enough below their peak (one thread at a time);
  /// the peak then restarts from the current value. Returns whether it trimmed.
  static bool trim_if_worthwhile();

  /// Bytes the allocators hold from operator new now (objects in use and in free lists), and the
  /// most since the last trim. Process-wide.
  static std::int64_t allocator_bytes();
  static std::int64_t allocator_peak_bytes();
  /// How many times malloc was trimmed (tests, diagnostics).
  static std::uint64_t trim_count();
};
} // namespace iocore
