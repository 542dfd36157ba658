// Unit tests of ProxyMutex, MutexLock and MutexTryLock: recursion per thread, exclusion between
// threads, and the null-mutex and get_mutex() rules the net code relies on.
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
using iocore::test::EventWaiter;

namespace {
/// Runs fn on a fresh std::thread and returns its result: a caller that is not the lock holder.
template <class Fn>
auto
on_other_thread(Fn fn)
{
  decltype(fn()) result{};
  std::thread t([&] { result = fn(); });
  t.join();
  return result;
}
} // namespace

TEST(ProxyMutex, NewMutexIsFreeAndReferenceCounted)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->refcount(), 1);
  EXPECT_EQ(m->thread_holding.load(), nullptr);
  EXPECT_FALSE(m->is_held_by_current_thread());
}

TEST(ProxyMutex, AcquireIsRecursivePerThread)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  m->acquire(nullptr);
  m->acquire(nullptr);
  EXPECT_TRUE(m->try_acquire(nullptr));
  EXPECT_EQ(m->nthread_holding, 3);
  EXPECT_TRUE(m->is_held_by_current_thread());
  m->release();
  m->release();
  EXPECT_TRUE(m->is_held_by_current_thread());
  EXPECT_FALSE(on_other_thread([&] { return m->try_acquire(nullptr); }));
  m->release();
  EXPECT_FALSE(m->is_held_by_current_thread());
  EXPECT_EQ(m->thread_holding.load(), nullptr);
}

TEST(ProxyMutex, HolderIsTheGivenEThread)
{
  EThread t(REGULAR, 7);
  Ptr<ProxyMutex> m = new_ProxyMutex();
  m->acquire(&t);
  EXPECT_EQ(m->thread_holding.load(), &t);
  EXPECT_TRUE(m->try_acquire(&t)); // recursion is by EThread identity
  m->release();
  m->release();
  EXPECT_EQ(m->thread_holding.load(), nullptr);
}

TEST(ProxyMutex, HolderOnAnEventThreadIsThisEThread)
{
  EThread t(REGULAR, 0);
  t.set_current();
  Ptr<ProxyMutex> m = new_ProxyMutex();
  {
    MutexLock lock(m, nullptr);
    EXPECT_EQ(m->thread_holding.load(), &t);
    EXPECT_TRUE(m->is_held_by_current_thread());
  }
  EThread::clear_current();
}

TEST(ProxyMutex, TryAcquireFailsWhileAnotherThreadHoldsIt)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  m->acquire(nullptr);
  EXPECT_FALSE(on_other_thread([&] { return m->try_acquire(nullptr); }));
  m->release();
  EXPECT_TRUE(on_other_thread([&] {
    bool ok = m->try_acquire(nullptr);
    if (ok) {
      m->release();
    }
    return ok;
  }));
}

namespace {
/// The scheduler state of thread `tid` of this process ('R' running, 'S' sleeping, ...); 0 once
/// the thread is gone.
char
thread_state(pid_t tid)
{
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return 0;
  }
  // "tid (comm) S ...": the state follows the last ')' (comm may contain anything).
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : 0;
}
} // namespace

TEST(ProxyMutex, AcquireBlocksUntilTheHolderReleases)
{
  // The other thread reads `shared` as soon as its acquire() returns. This thread writes it only
  // once the other thread is asleep inside acquire() (or gone), and then releases: a blocking
  // acquire lets it see only the new value; one that did not block would read the old one (and
  // end, which also ends the wait below).
  Ptr<ProxyMutex> m = new_ProxyMutex();
  EventWaiter started;
  std::atomic<pid_t> tid{0};
  m->acquire(nullptr);
  int shared   = 0;
  int observed = -1;
  std::thread other([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    started.notify();
    m->acquire(nullptr);
    observed = shared;
    m->release();
  });
  ASSERT_TRUE(started.wait_for(1));
  const auto deadline = std::chrono::steady_clock::now() + iocore::test::kGenerousDeadline;
  char state          = 0;
  while ((state = thread_state(tid)) != 'S' && state != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  shared = 1;
  m->release();
  other.join();
  EXPECT_EQ(state, 'S') << "the other thread never went to sleep waiting for the lock";
  EXPECT_EQ(observed, 1) << "acquire() returned while this thread still held the lock";
}

TEST(ProxyMutex, ExcludesConcurrentWriters)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  long counter      = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 20000; ++j) {
        MutexLock lock(m, nullptr);
        ++counter;
      }
    });
  }
  for (auto &t : threads) {
    t.join();
  }
  EXPECT_EQ(counter, 80000);
}

TEST(ProxyMutexDeathTest, ReleasingAFreeMutexAborts)
{
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Ptr<ProxyMutex> m = new_ProxyMutex();
  EXPECT_DEATH(m->release(), "released more often than taken");
}

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
