// Tests of ManualClock (tests/support), the clock the hand-driven tests set: start, advance, set, and
// concurrent advances.
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
  threads.reserve(4);
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
} // namespace
