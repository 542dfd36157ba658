// ThreadFreeList: the base of every per-thread free list in the allocators (ClassAllocator's object
// caches, the IO buffer memory cache). Each list registers with the thread that owns it, so that
// the thread's event loop can give back what its lists keep but have not needed lately
// (MemoryReclaimer), instead of holding a flood's worth of objects for the life of the process.
#pragma once

#include <cstddef>

namespace iocore {
class ThreadFreeList
{
public:
  /// Registers the list with the calling thread: construct it on the thread that will use it (a
  /// thread_local does that).
  ThreadFreeList();
  /// Unregisters; a derived destructor frees what the list still holds.
  virtual ~ThreadFreeList();
  ThreadFreeList(const ThreadFreeList &)            = delete;
  ThreadFreeList &operator=(const ThreadFreeList &) = delete;

  /// Free the entries that stayed in the list since the previous call (its low-water mark: the
  /// thread did not need them in that time) and start a new period. Returns the bytes freed.
  virtual std::size_t release_unused() = 0;
  /// Free every entry. Returns the bytes freed.
  virtual std::size_t release_all() = 0;
  /// Bytes the list holds now.
  virtual std::size_t held_bytes() const = 0;

  /// release_unused() / release_all() on every list of the calling thread; the bytes freed.
  static std::size_t release_unused_on_this_thread();
  static std::size_t release_all_on_this_thread();
  /// What the calling thread's lists hold, in bytes.
  static std::size_t held_bytes_on_this_thread();

private:
  ThreadFreeList *_prev = nullptr;
  ThreadFreeList *_next = nullptr;
};
} // namespace iocore
