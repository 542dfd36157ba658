// Tests of the test helpers themselves (tests/support): ManualClock and EventWaiter. ManualClock is
// held honest by running the same Clock contract tests against it and the production steady_clock().
#include "iocore/eventsystem/Clock.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EThread.h"

#include "support/EventWaiter.h"
#include "support/ManualClock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace iocore;
using iocore::test::EventWaiter;
using iocore::test::ManualClock;

// --- ManualClock ---------------------------------------------------------------------------------

TEST(ManualClock, StartsAtTheGivenTimeAndDefaultsWellAboveZero)
{
  ManualClock a(HRTIME_SECONDS(5));
  EXPECT_EQ(a.now(), HRTIME_SECONDS(5));
  ManualClock b;
  EXPECT_EQ(b.now(), ManualClock::kDefaultStart);
  EXPECT_GT(b.now(), 0);
}

TEST(ManualClock, StandsStillUntilAdvanced)
{
  ManualClock c;
  const ink_hrtime t0 = c.now();
  EXPECT_EQ(c.now(), t0);
  EXPECT_EQ(c.advance(HRTIME_MSECONDS(3)), t0 + HRTIME_MSECONDS(3));
  EXPECT_EQ(c.now(), t0 + HRTIME_MSECONDS(3));
  c.advance(0);
  EXPECT_EQ(c.now(), t0 + HRTIME_MSECONDS(3));
}

TEST(ManualClock, SetJumpsToTheGivenTime)
{
  ManualClock c;
  c.set(HRTIME_SECONDS(42));
  EXPECT_EQ(c.now(), HRTIME_SECONDS(42));
  c.set(HRTIME_SECONDS(1));
  EXPECT_EQ(c.now(), HRTIME_SECONDS(1));
}

TEST(ManualClock, ConcurrentAdvancesAllCount)
{
  ManualClock c(0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10000; ++j) {
        c.advance(1);
        (void)c.now();
      }
    });
  }
  for (auto &t : threads) {
    t.join();
  }
  EXPECT_EQ(c.now(), 40000);
}

// --- the Clock contract, for the fake and the real clock -----------------------------------------

namespace {
struct ManualClockDriver {
  ManualClock clock;
  Clock &get() { return clock; }
  /// Let time pass while the loop is turned.
  void let_time_pass() { clock.advance(HRTIME_USECONDS(100)); }
};

struct SteadyClockDriver {
  Clock &get() { return steady_clock(); }
  void let_time_pass()
  {
    // Real time passes by itself: the loop's bounded wait in run_one_iteration() is enough.
  }
};

class FiredAt : public Continuation
{
public:
  explicit FiredAt(Clock &c) : _clock(c) { set_handler(&FiredAt::handle); }
  int handle(int, void *)
  {
    fired_at = _clock.now();
    return EVENT_DONE;
  }
  ink_hrtime fired_at = 0;

private:
  Clock &_clock;
};
} // namespace

template <class Driver> class ClockContract : public ::testing::Test
{
protected:
  Driver driver;
};

using ClockDrivers = ::testing::Types<ManualClockDriver, SteadyClockDriver>;
TYPED_TEST_SUITE(ClockContract, ClockDrivers);

TYPED_TEST(ClockContract, NowIsPositiveAndNeverDecreases)
{
  Clock &c        = this->driver.get();
  ink_hrtime prev = c.now();
  EXPECT_GT(prev, 0);
  for (int i = 0; i < 1000; ++i) {
    if (i % 100 == 0) {
      this->driver.let_time_pass();
    }
    ink_hrtime n = c.now();
    ASSERT_GE(n, prev);
    prev = n;
  }
}

TYPED_TEST(ClockContract, EThreadTimerOnThisClockFiresOnlyOnceItsDeadlineHasPassed)
{
  Clock &c = this->driver.get();
  EThread t(REGULAR, 0, &c);
  t.set_current();
  t.mutex->acquire(&t);
  FiredAt f(c);
  const ink_hrtime deadline = c.now() + HRTIME_MSECONDS(2);
  t.schedule_at(&f, deadline);
  const auto give_up = std::chrono::steady_clock::now() + iocore::test::kGenerousDeadline;
  while (f.fired_at == 0 && std::chrono::steady_clock::now() < give_up) {
    this->driver.let_time_pass();
    t.run_one_iteration(HRTIME_MSECONDS(1));
  }
  t.mutex->release();
  EThread::clear_current();
  ASSERT_NE(f.fired_at, 0) << "the timer never fired";
  EXPECT_GE(f.fired_at, deadline);
}

// --- EventWaiter ---------------------------------------------------------------------------------

TEST(EventWaiter, WaitForReturnsTrueOnceTheCountIsReached)
{
  EventWaiter w;
  std::thread notifier([&] {
    for (int i = 0; i < 5; ++i) {
      w.notify();
    }
  });
  EXPECT_TRUE(w.wait_for(5));
  notifier.join();
  EXPECT_EQ(w.count(), 5);
}

TEST(EventWaiter, WaitForAnAlreadyReachedCountReturnsAtOnce)
{
  EventWaiter w;
  w.notify(3);
  EXPECT_EQ(w.count(), 3);
  EXPECT_TRUE(w.wait_for(2, std::chrono::nanoseconds(0)));
  EXPECT_TRUE(w.wait_for(3, std::chrono::nanoseconds(0)));
}

TEST(EventWaiter, WaitForReturnsFalseWhenTheDeadlinePassesFirst)
{
  EventWaiter w;
  w.notify();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(w.wait_for(2, std::chrono::milliseconds(20)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
}

TEST(EventWaiter, WaitUntilReturnsWhenThePredicateBecomesTrueAfterANotify)
{
  EventWaiter w;
  std::atomic<int> value{0};
  std::thread setter([&] {
    for (int i = 1; i <= 10; ++i) {
      value.store(i);
      w.notify();
    }
  });
  EXPECT_TRUE(w.wait_until([&] { return value.load() == 10; }));
  setter.join();
}

TEST(EventWaiter, WaitUntilReturnsFalseWhenThePredicateStaysFalse)
{
  EventWaiter w;
  EXPECT_FALSE(w.wait_until([] { return false; }, std::chrono::milliseconds(10)));
}
