// The calling thread's free lists, linked through the lists themselves: registering never
// allocates, and a list can unregister from its destructor at thread exit.
#include "eventsystem/ThreadFreeList.h"

namespace iocore {
namespace {
  // A plain pointer (no destructor), so it is still valid while the lists' thread_local destructors
  // run at thread exit, in whatever order.
  thread_local ThreadFreeList *t_lists = nullptr;
} // namespace

ThreadFreeList::ThreadFreeList() : _next(t_lists)
{
  if (_next != nullptr) {
    _next->_prev = this;
  }
  t_lists = this;
}

ThreadFreeList::~ThreadFreeList()
{
  if (_prev != nullptr) {
    _prev->_next = _next;
  } else if (t_lists == this) {
    t_lists = _next;
  }
  if (_next != nullptr) {
    _next->_prev = _prev;
  }
}

std::size_t
ThreadFreeList::release_unused_on_this_thread()
{
  std::size_t bytes = 0;
  for (ThreadFreeList *l = t_lists; l != nullptr; l = l->_next) {
    bytes += l->release_unused();
  }
  return bytes;
}

std::size_t
ThreadFreeList::release_all_on_this_thread()
{
  std::size_t bytes = 0;
  for (ThreadFreeList *l = t_lists; l != nullptr; l = l->_next) {
    bytes += l->release_all();
  }
  return bytes;
}

std::size_t
ThreadFreeList::held_bytes_on_this_thread()
{
  std::size_t bytes = 0;
  for (const ThreadFreeList *l = t_lists; l != nullptr; l = l->_next) {
    bytes += l->held_bytes();
  }
  return bytes;
}
} // namespace iocore
