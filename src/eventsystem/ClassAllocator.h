// ClassAllocator<T>: the one place where the library's hot objects (Event, UnixNetVConnection) get
// their memory, as ATS's ClassAllocator / THREAD_ALLOC do, so the strategy changes in one place.
// Two strategies: a per-thread free-list cache in front of operator new, or operator new/delete
// directly. bench/micro/eventsystem_bench.cc measures both; the faster is the default. The per-thread
// lists are ThreadFreeLists: the thread's event loop frees what they keep but do not use.
#pragma once

#include "eventsystem/MemoryReclaimer.h"
#include "eventsystem/ThreadFreeList.h"

#include <atomic>
#include <cstddef>
#include <new>
#include <utility>

namespace iocore {
enum class AllocatorStrategy { kThreadCache, kSystem };

namespace detail {
  inline std::atomic<AllocatorStrategy> &allocator_strategy_ref()
  {
    // The per-thread cache: 1.4-1.5x faster than plain operator new/delete for Event churn in
    // bench/micro/eventsystem_bench.cc (BM_EventChurnByAllocator, figures in bench/RESULTS.md).
    static std::atomic<AllocatorStrategy> strategy{AllocatorStrategy::kThreadCache};
    return strategy;
  }
} // namespace detail

inline AllocatorStrategy
allocator_strategy()
{
  return detail::allocator_strategy_ref().load(std::memory_order_relaxed);
}

/// Switch strategy (process-wide). Safe at any time: both strategies get their memory from
/// operator new, so an object may be freed under a different strategy than it was allocated.
inline void
set_allocator_strategy(AllocatorStrategy s)
{
  detail::allocator_strategy_ref().store(s, std::memory_order_relaxed);
}

template <class T> class ClassAllocator
{
public:
  /// Most objects kept per thread before freed memory goes back to operator delete (ATS:
  /// thread_freelist_size). What a thread keeps but does not use for a MemoryReclaimer interval
  /// goes back too, so the cap bounds a burst, not what stays after it.
  static constexpr int kThreadCacheHigh = 512;

  template <class... Args> T *alloc(Args &&...args) { return new (raw_alloc()) T(std::forward<Args>(args)...); }

  void free(T *p)
  {
    p->~T();
    raw_free(p);
  }

  /// Objects in the calling thread's free list (tests).
  static int thread_cached_count() { return cache().count; }

private:
  struct FreeNode {
    FreeNode *next;
  };
  static_assert(sizeof(T) >= sizeof(FreeNode));

  class Cache final : public ThreadFreeList
  {
  public:
    Cache() = default;
    ~Cache() override { release(count); }

    std::size_t release_unused() override
    {
      std::size_t bytes = release(low);
      low               = count;
      return bytes;
    }
    std::size_t release_all() override
    {
      std::size_t bytes = release(count);
      low               = 0;
      return bytes;
    }
    std::size_t held_bytes() const override { return static_cast<std::size_t>(count) * sizeof(T); }

    FreeNode *head = nullptr;
    int count      = 0;
    /// The fewest objects the list held since the last release_unused(): those were not needed.
    int low = 0;

  private:
    std::size_t release(int n)
    {
      std::size_t freed = 0;
      for (; freed < static_cast<std::size_t>(n) && head != nullptr; ++freed) {
        FreeNode *next = head->next;
        ::operator delete(head);
        head = next;
        --count;
      }
      std::size_t bytes = freed * sizeof(T);
      MemoryReclaimer::note_released(bytes);
      return bytes;
    }
  };

  static Cache &cache()
  {
    thread_local Cache c;
    return c;
  }

  static void *raw_alloc()
  {
    if (allocator_strategy() == AllocatorStrategy::kThreadCache) {
      Cache &c = cache();
      if (c.head) {
        FreeNode *n = c.head;
        c.head      = n->next;
        if (--c.count < c.low) {
          c.low = c.count;
        }
        return n;
      }
    }
    MemoryReclaimer::note_obtained(sizeof(T));
    return ::operator new(sizeof(T));
  }

  static void raw_free(void *p)
  {
    if (allocator_strategy() == AllocatorStrategy::kThreadCache) {
      Cache &c = cache();
      if (c.count < kThreadCacheHigh) {
        c.head = new (p) FreeNode{c.head};
        ++c.count;
        return;
      }
    }
    MemoryReclaimer::note_released(sizeof(T));
    ::operator delete(p);
  }
};
} // namespace iocore
