// ProxyMutex: a std::mutex plus the identity of the holding thread, so that locks are recursive per
// EThread and "do I hold it?" is a cheap question.
#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/Lock.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>

namespace iocore {
namespace {
  // The identity under which the calling OS thread holds locks: its EThread or, on a thread that
  // runs no event loop (main, a test), the address of a thread_local byte, which is unique per live
  // thread and never dereferenced.
  EThread *lock_owner()
  {
    if (EThread *t = this_ethread()) {
      return t;
    }
    thread_local char token;
    return reinterpret_cast<EThread *>(&token);
  }

  EThread *owner_or_current(EThread *t)
  {
    return t ? t : lock_owner();
  }
} // namespace

void
ProxyMutex::acquire(EThread *t)
{
  t = owner_or_current(t);
  if (thread_holding.load(std::memory_order_relaxed) == t) {
    ++nthread_holding;
    return;
  }
  _mutex.lock();
  thread_holding.store(t, std::memory_order_relaxed);
  nthread_holding = 1;
}

bool
ProxyMutex::try_acquire(EThread *t)
{
  t = owner_or_current(t);
  // Only the holder itself can observe its own identity here, so a relaxed read is enough.
  if (thread_holding.load(std::memory_order_relaxed) == t) {
    ++nthread_holding;
    return true;
  }
  if (!_mutex.try_lock()) {
    return false;
  }
  thread_holding.store(t, std::memory_order_relaxed);
  nthread_holding = 1;
  return true;
}

void
ProxyMutex::release()
{
  if (nthread_holding <= 0) {
    std::fprintf(stderr, "iocore: ProxyMutex released more often than taken\n");
    std::abort();
  }
  if (--nthread_holding == 0) {
    thread_holding.store(nullptr, std::memory_order_relaxed);
    _mutex.unlock();
  }
}

bool
ProxyMutex::is_held_by_current_thread() const
{
  return thread_holding.load(std::memory_order_relaxed) == lock_owner();
}

Ptr<ProxyMutex>
new_ProxyMutex()
{
  return Ptr<ProxyMutex>(new ProxyMutex);
}

MutexLock::MutexLock(const Ptr<ProxyMutex> &m, EThread *t) : _m(m)
{
  if (_m) {
    _m->acquire(t);
    _locked = true;
  }
}

MutexLock::~MutexLock()
{
  release();
}

void
MutexLock::release()
{
  if (_locked) {
    _locked = false;
    _m->release();
  }
}

MutexTryLock::MutexTryLock(const Ptr<ProxyMutex> &m, EThread *t) : _m(m)
{
  _locked = !_m || _m->try_acquire(t);
}

MutexTryLock::~MutexTryLock()
{
  release();
}

void
MutexTryLock::release()
{
  if (_locked && _m) {
    _m->release();
  }
  _locked = false;
}
} // namespace iocore
