// ProxyMutex and its RAII guards. A ProxyMutex is recursive per EThread and remembers which thread
// holds it, because the net layer asks "does this thread already hold the NetHandler's lock?" to
// choose between doing work inline and handing it over (see UnixNetVConnection::reenable).
#pragma once

#include "iocore/eventsystem/Ptr.h"

#include <atomic>
#include <mutex>

namespace iocore {
class EThread;

/// The lock of a Continuation (ATS's ProxyMutex): reference counted, recursive for the thread that
/// holds it, and aware of which thread that is. Share one between continuations that must never run
/// at the same time (a session and its VIOs).
class ProxyMutex : public RefCountObj
{
public:
  ProxyMutex()                              = default;
  ProxyMutex(const ProxyMutex &)            = delete;
  ProxyMutex &operator=(const ProxyMutex &) = delete;

  /// The thread holding the lock, nullptr when free. Reading it from another thread is allowed and
  /// only ever answers "is it me?" reliably.
  std::atomic<EThread *> thread_holding{nullptr};
  /// Recursion depth of the holder (only meaningful to the holder).
  int nthread_holding = 0;

  /// Take the lock for thread t (nullptr: the calling thread), recursively. Blocks.
  void acquire(EThread *t);
  /// Try to take the lock for thread t without blocking; true when held (possibly recursively).
  [[nodiscard]] bool try_acquire(EThread *t);
  /// Release one level of a lock taken by the calling thread.
  void release();
  /// Whether the calling thread holds this lock.
  [[nodiscard]] bool is_held_by_current_thread() const;

private:
  std::mutex _mutex;
};

/// A new, unlocked, reference-counted mutex (ATS: new_ProxyMutex()).
Ptr<ProxyMutex> new_ProxyMutex();

/// Blocking scoped lock. Replaces ATS's SCOPED_MUTEX_LOCK. A null mutex is treated as locked.
class MutexLock
{
public:
  /// Take m (blocking) for thread t; t = nullptr or this_ethread() for the calling thread.
  MutexLock(const Ptr<ProxyMutex> &m, EThread *t);
  ~MutexLock();
  MutexLock(const MutexLock &)            = delete;
  MutexLock &operator=(const MutexLock &) = delete;
  /// Release early; the destructor then does nothing.
  void release();

private:
  Ptr<ProxyMutex> _m;
  bool _locked = false;
};

/// Non-blocking scoped lock. Replaces ATS's MUTEX_TRY_LOCK (and, for a null mutex, which counts as
/// locked, WEAK_MUTEX_TRY_LOCK). get_mutex() returns the mutex that was tried, so callers can
/// detect that a VIO's mutex was swapped during a call-back ("change of lock").
class MutexTryLock
{
public:
  /// Try to take m for thread t (nullptr: the calling thread) without blocking.
  MutexTryLock(const Ptr<ProxyMutex> &m, EThread *t);
  ~MutexTryLock();
  MutexTryLock(const MutexTryLock &)            = delete;
  MutexTryLock &operator=(const MutexTryLock &) = delete;

  /// Whether the lock was taken.
  [[nodiscard]] bool is_locked() const { return _locked; }
  /// The mutex that was tried.
  ProxyMutex *get_mutex() const { return _m.get(); }
  /// Release early; the destructor then does nothing.
  void release();

private:
  Ptr<ProxyMutex> _m;
  bool _locked = false;
};
} // namespace iocore
