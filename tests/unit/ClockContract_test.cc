// The Clock contract, run against ManualClock and the production steady_clock(), so the test clock
// stays honest: now() never decreases, and an EThread timer fires only once its deadline passed.
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
using iocore::test::ManualClock;

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
} // namespace
