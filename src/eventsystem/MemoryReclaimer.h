// MemoryReclaimer: gives the memory a burst of connections needed back to the system once the
// burst is over, in two steps that both stay off the allocation fast path:
//   1. each event loop, at most once per kInterval, frees what its thread's free lists kept but did
//      not hand out during the last interval (ThreadFreeList::release_unused);
//   2. once per kInterval process-wide, when the bytes the allocators held stayed well below their
//      peak for the whole interval, one thread asks malloc to return its free pages (glibc:
//      malloc_trim). Without it a freed flood stays resident: the heaps are fragmented by the few
//      objects still live, so freeing alone returns next to nothing. Waiting for a whole interval
//      below the peak keeps a busy process, whose use swings up and down, from trimming pages it
//      is about to fault in again.
// The allocators report only their slow paths (a free-list miss that calls operator new, a free
// past a list's cap): relaxed atomics there, none per cached allocation.
#pragma once

#include "iocore/eventsystem/Time.h"

#include <cstddef>
#include <cstdint>

namespace iocore {
class MemoryReclaimer
{
public:
  /// How often a loop frees its thread's unused free-list entries, and how long the allocators'
  /// bytes must stay below their peak before malloc is trimmed.
  static constexpr ink_hrtime kInterval = HRTIME_SECONDS(1);
  /// malloc is trimmed only when the most the allocators held during an interval was this far below
  /// their peak ...
  static constexpr std::int64_t kTrimMinDrop = std::int64_t{1} << 20;
  /// ... and at least this fraction (1/kTrimMinDropDivisor) of the peak below it, so a large process
  /// is not trimmed for a small dip.
  static constexpr std::int64_t kTrimMinDropDivisor = 4;

  /// An allocator took `bytes` from operator new / gave them back to operator delete.
  static void note_obtained(std::size_t bytes);
  static void note_released(std::size_t bytes);

  /// What every event loop calls once per iteration, with its clock's time: when kInterval has
  /// passed since this thread last did, release_unused(); when kInterval has passed since any
  /// thread last did, close_interval() (one thread at a time).
  static void run_if_due(ink_hrtime now);
  /// Free the calling thread's unused free-list entries (ThreadFreeList::release_unused). Returns the
  /// bytes freed.
  static std::size_t release_unused();
  /// End the current interval: trim malloc if the most the allocators held during it was far
  /// enough below their peak since the last trim (the peak then restarts from the current value),
  /// and start the next interval. Returns whether malloc was trimmed.
  static bool close_interval();

  /// Bytes the allocators hold from operator new now (objects in use and in free lists), the most
  /// since the last trim, and the most in the current interval. Process-wide.
  static std::int64_t allocator_bytes();
  static std::int64_t allocator_peak_bytes();
  static std::int64_t interval_peak_bytes();
  /// How many times malloc was trimmed (tests, diagnostics).
  static std::uint64_t trim_count();
};
} // namespace iocore
