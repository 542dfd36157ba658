// Intrusive reference counting, as ATS's Ptr<> / RefCountObj: used where ownership is shared
// (ProxyMutex between continuations, VIOs and locks; IOBufferData and IOBufferBlock between buffers).
#pragma once

#include <atomic>
#include <cstddef>
#include <utility>

namespace iocore {
/// Base of every object held by Ptr<>. The count is atomic: a Ptr may be copied and dropped on any
/// thread. When the count reaches zero free() runs; the default deletes the object.
class RefCountObj
{
public:
  RefCountObj() = default;
  /// A copy starts with no references: the count belongs to the object, not its value.
  RefCountObj(const RefCountObj &) : _refcount(0) {}
  /// The count belongs to the object, not its value: assignment leaves it alone.
  RefCountObj &operator=(const RefCountObj &o)
  {
    (void)o;
    return *this;
  }
  virtual ~RefCountObj() = default;

  /// Add a reference; returns the new count.
  int refcount_inc() { return _refcount.fetch_add(1, std::memory_order_relaxed) + 1; }
  /// Drop a reference; returns the new count (the caller calls free() at 0, as Ptr does).
  int refcount_dec() { return _refcount.fetch_sub(1, std::memory_order_acq_rel) - 1; }
  /// The current count (a snapshot).
  int refcount() const { return _refcount.load(std::memory_order_relaxed); }

  /// Called when the last reference goes away.
  virtual void free() { delete this; }

private:
  std::atomic<int> _refcount{0};
};

/// Intrusive shared pointer to a RefCountObj. Not itself thread-safe for concurrent writes to the
/// same Ptr object (like std::shared_ptr); copies on different threads are fine.
template <class T> class Ptr
{
public:
  Ptr() = default;
  /// Empty.
  Ptr(std::nullptr_t) {}
  /// Take a reference on p (which may be nullptr).
  explicit Ptr(T *p) : m_ptr(p) { acquire(); }
  /// Another reference on o's object.
  Ptr(const Ptr &o) : m_ptr(o.m_ptr) { acquire(); }
  /// Take o's reference; o is left empty.
  Ptr(Ptr &&o) noexcept : m_ptr(std::exchange(o.m_ptr, nullptr)) {}
  /// A reference on o's object, converted to T* (U must derive from T).
  template <class U> Ptr(const Ptr<U> &o) : m_ptr(o.get()) { acquire(); }
  ~Ptr() { release(); }

  /// Refer to o's object instead (the old one loses a reference).
  Ptr &operator=(const Ptr &o)
  {
    if (this == &o) {
      return *this;
    }
    if (o.m_ptr != m_ptr) {
      T *old = m_ptr;
      m_ptr  = o.m_ptr;
      acquire();
      release_ptr(old);
    }
    return *this;
  }
  /// Take o's reference instead (the old object loses one); o is left empty.
  Ptr &operator=(Ptr &&o) noexcept
  {
    if (this != &o) {
      T *old = m_ptr;
      m_ptr  = std::exchange(o.m_ptr, nullptr);
      release_ptr(old);
    }
    return *this;
  }
  /// Refer to p instead (a new reference on p; the old object loses one).
  Ptr &operator=(T *p)
  {
    if (p != m_ptr) {
      T *old = m_ptr;
      m_ptr  = p;
      acquire();
      release_ptr(old);
    }
    return *this;
  }

  /// Drop the reference (ATS: Ptr::clear()).
  void clear() { release_ptr(std::exchange(m_ptr, nullptr)); }

  /// Give up ownership without decrementing; the caller takes over the reference.
  T *detach() { return std::exchange(m_ptr, nullptr); }

  /// The object, or nullptr.
  T *get() const { return m_ptr; }
  /// Member access to the object.
  T *operator->() const { return m_ptr; }
  /// The object.
  T &operator*() const { return *m_ptr; }
  /// Whether it refers to an object.
  explicit operator bool() const { return m_ptr != nullptr; }
  /// The raw pointer (as ATS's Ptr converts).
  operator T *() const { return m_ptr; }

  /// @name Comparison by the object referred to
  /// @{

  /// True when both refer to the same object (or both are empty).
  template <class U> bool operator==(const Ptr<U> &o) const { return m_ptr == o.get(); }
  bool operator==(const T *p) const { return m_ptr == p; }
  bool operator==(T *p) const { return m_ptr == p; }
  bool operator==(std::nullptr_t) const { return m_ptr == nullptr; }
  /// @}

  /// The raw pointer, under ATS's field name (code ported from ATS compares `x.m_ptr`).
  T *m_ptr = nullptr;

private:
  void acquire()
  {
    if (m_ptr) {
      m_ptr->refcount_inc();
    }
  }
  void release() { release_ptr(m_ptr); }
  static void release_ptr(T *p)
  {
    if (p && p->refcount_dec() == 0) {
      p->free();
    }
  }
};

/// A new T made from args, held by a Ptr (the count starts at 1).
template <class T, class... Args>
Ptr<T>
make_ptr(Args &&...args)
{
  return Ptr<T>(new T(std::forward<Args>(args)...));
}
} // namespace iocore
