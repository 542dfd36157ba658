// Unit tests of MutexLock, the scoped lock (ATS's SCOPED_MUTEX_LOCK): holds for its scope, early
// release, the null mutex, and keeping the mutex alive while held.
#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/Lock.h"

#include "support/EventWaiter.h"

#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

using namespace iocore;

namespace {
TEST(MutexLock, HoldsForItsScopeAndReleasesInTheDestructor)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  {
    MutexLock lock(m, nullptr);
    EXPECT_TRUE(m->is_held_by_current_thread());
  }
  EXPECT_EQ(m->thread_holding.load(), nullptr);
}

TEST(MutexLock, ReleaseUnlocksEarlyAndTheDestructorThenDoesNothing)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  m->acquire(nullptr); // an outer level the guard must not release
  {
    MutexLock lock(m, nullptr);
    EXPECT_EQ(m->nthread_holding, 2);
    lock.release();
    EXPECT_EQ(m->nthread_holding, 1);
    lock.release();
    EXPECT_EQ(m->nthread_holding, 1);
  }
  EXPECT_EQ(m->nthread_holding, 1);
  EXPECT_TRUE(m->is_held_by_current_thread());
  m->release();
}

TEST(MutexLock, NullMutexIsAccepted)
{
  Ptr<ProxyMutex> none;
  MutexLock lock(none, nullptr);
  lock.release();
}

TEST(MutexLock, KeepsTheMutexAliveWhileHeld)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  ProxyMutex *raw   = m.get();
  MutexLock lock(m, nullptr);
  m.clear();
  EXPECT_EQ(raw->refcount(), 1);
  EXPECT_TRUE(raw->is_held_by_current_thread());
}
} // namespace
