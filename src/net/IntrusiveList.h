// Intrusive doubly linked lists (the NetHandler's ready lists, open list, cop list and the
// keep-alive and active queues) and the lock-free stack behind the enable lists. A VC carries one
// link per list, so membership changes never allocate.
#pragma once

#include <atomic>
#include <cstddef>

namespace iocore {
/// A member is linked when it has a predecessor or is its list's head (IntrusiveList::in), so a
/// link is two pointers: a VC carries six.
template <class T> struct ListLink {
  T *prev = nullptr;
  T *next = nullptr;
};

/// LinkOf::get(T*) returns the ListLink<T>& this list uses.
template <class T, class LinkOf> class IntrusiveList
{
public:
  bool empty() const { return _head == nullptr; }
  std::size_t size() const { return _size; }
  T *head() const { return _head; }
  static T *next(T *e) { return LinkOf::get(e).next; }
  bool in(T *e) const { return LinkOf::get(e).prev != nullptr || _head == e; }

  void enqueue(T *e)
  {
    ListLink<T> &l = LinkOf::get(e);
    l.prev         = _tail;
    l.next         = nullptr;
    if (_tail) {
      LinkOf::get(_tail).next = e;
    } else {
      _head = e;
    }
    _tail = e;
    ++_size;
  }

  /// ATS's in_or_enqueue: append unless already a member.
  void in_or_enqueue(T *e)
  {
    if (!in(e)) {
      enqueue(e);
    }
  }

  void remove(T *e)
  {
    if (!in(e)) {
      return;
    }
    ListLink<T> &l = LinkOf::get(e);
    if (l.prev) {
      LinkOf::get(l.prev).next = l.next;
    } else {
      _head = l.next;
    }
    if (l.next) {
      LinkOf::get(l.next).prev = l.prev;
    } else {
      _tail = l.prev;
    }
    l = {};
    --_size;
  }

  T *dequeue()
  {
    T *e = _head;
    if (e) {
      remove(e);
    }
    return e;
  }

private:
  T *_head          = nullptr;
  T *_tail          = nullptr;
  std::size_t _size = 0;
};

/// Multi-producer push, single-consumer pop-all stack. NextOf::get(T*) returns the T*& link.
template <class T, class NextOf> class AtomicStack
{
public:
  /// Any thread. Returns true if the stack was empty before.
  bool push(T *e)
  {
    T *h = _head.load(std::memory_order_relaxed);
    do {
      NextOf::get(e) = h;
    } while (!_head.compare_exchange_weak(h, e, std::memory_order_release, std::memory_order_relaxed));
    return h == nullptr;
  }
  /// Take everything, in push order reversed (most recent first).
  T *pop_all() { return _head.exchange(nullptr, std::memory_order_acquire); }
  bool empty() const { return _head.load(std::memory_order_relaxed) == nullptr; }

private:
  std::atomic<T *> _head{nullptr};
};
} // namespace iocore
