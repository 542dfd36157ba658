// Tests of EventWaiter (tests/support), which the tests wait on instead of sleeping: counts, predicates
// and deadlines.
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

namespace {
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
} // namespace
