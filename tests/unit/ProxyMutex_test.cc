// Unit tests of ProxyMutex: reference counting, recursion per thread, the holder, and exclusion between
// threads (a death test, ProxyMutexDeathTest, kept here: releasing a free mutex aborts).
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
using iocore::test::EventWaiter;
using iocore::test::on_other_thread;

namespace {
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
  return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : '\0';
}

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
  threads.reserve(4);
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
} // namespace
