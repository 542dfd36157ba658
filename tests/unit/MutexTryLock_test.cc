// Unit tests of MutexTryLock: success and failure across threads, recursion, the null mutex, and the
// get_mutex() rule the net code relies on.
#include "iocore/eventsystem/EThread.h"
#include "support/OnOtherThread.h"
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
using iocore::test::on_other_thread;

namespace {
TEST(MutexTryLock, SucceedsOnAFreeMutexAndReleasesInTheDestructor)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  {
    MutexTryLock lock(m, nullptr);
    EXPECT_TRUE(lock.is_locked());
    EXPECT_TRUE(m->is_held_by_current_thread());
  }
  EXPECT_EQ(m->thread_holding.load(), nullptr);
}

TEST(MutexTryLock, FailsFromAnotherThreadWhileHeld)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  MutexLock hold(m, nullptr);
  EXPECT_FALSE(on_other_thread([&] {
    MutexTryLock lock(m, nullptr);
    return lock.is_locked();
  }));
  EXPECT_EQ(m->nthread_holding, 1); // the failed attempt left the holder's count alone
}

TEST(MutexTryLock, SucceedsRecursivelyOnTheHoldingThread)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  MutexLock hold(m, nullptr);
  {
    MutexTryLock lock(m, nullptr);
    EXPECT_TRUE(lock.is_locked());
    EXPECT_EQ(m->nthread_holding, 2);
  }
  EXPECT_EQ(m->nthread_holding, 1);
}

TEST(MutexTryLock, NullMutexCountsAsLocked)
{
  Ptr<ProxyMutex> none;
  MutexTryLock lock(none, nullptr);
  EXPECT_TRUE(lock.is_locked());
  EXPECT_EQ(lock.get_mutex(), nullptr);
}

TEST(MutexTryLock, GetMutexReturnsTheTriedMutexEvenAfterTheSourceChanges)
{
  Ptr<ProxyMutex> first  = new_ProxyMutex();
  Ptr<ProxyMutex> source = first;
  MutexTryLock lock(source, nullptr);
  ASSERT_TRUE(lock.is_locked());
  source = new_ProxyMutex(); // e.g. a VIO's mutex swapped during a call-back
  EXPECT_EQ(lock.get_mutex(), first.get());
  EXPECT_NE(lock.get_mutex(), source.get());
}

TEST(MutexTryLock, GetMutexIsSetEvenWhenTheAttemptFailed)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  MutexLock hold(m, nullptr);
  ProxyMutex *tried = on_other_thread([&] {
    MutexTryLock lock(m, nullptr);
    return lock.is_locked() ? nullptr : lock.get_mutex();
  });
  EXPECT_EQ(tried, m.get());
}

TEST(MutexTryLock, ReleaseUnlocksEarlyAndClearsIsLocked)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  MutexTryLock lock(m, nullptr);
  ASSERT_TRUE(lock.is_locked());
  lock.release();
  EXPECT_FALSE(lock.is_locked());
  EXPECT_EQ(m->thread_holding.load(), nullptr);
  EXPECT_TRUE(on_other_thread([&] {
    MutexTryLock other(m, nullptr);
    return other.is_locked();
  }));
}
} // namespace
