// Batches of ClassAllocator objects for the free-list and reclaimer tests: allocate n, free them all,
// and empty the calling thread's lists so that a test starts with nothing cached.
#pragma once

#include "eventsystem/ClassAllocator.h"
#include "eventsystem/ThreadFreeList.h"

#include <vector>

namespace iocore::test {
struct Small {
  char bytes[256];
};

template <class T>
std::vector<T *>
alloc_n(ClassAllocator<T> &a, int n)
{
  std::vector<T *> v;
  v.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    v.push_back(a.alloc());
  }
  return v;
}

template <class T>
void
free_all(ClassAllocator<T> &a, std::vector<T *> &v)
{
  for (T *p : v) {
    a.free(p);
  }
  v.clear();
}

/// Empties the calling thread's lists, so that a test starts from nothing cached.
inline void
start_empty()
{
  ThreadFreeList::release_all_on_this_thread();
}
} // namespace iocore::test
