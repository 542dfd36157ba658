// Unit tests of Continuation: handler dispatch, set_handler, and the rule that handleEvent runs with the
// continuation's mutex held (a death test in debug builds, ContinuationDeathTest, kept here).
#include "iocore/eventsystem/Action.h"
#include "support/TwoStates.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EventCodes.h"

#include <gtest/gtest.h>

#include <string>

using namespace iocore;
using namespace iocore::test;

namespace {
TEST(Continuation, HasNoMutexUnlessGivenOne)
{
  TwoStates none;
  EXPECT_FALSE(none.mutex);
  Ptr<ProxyMutex> m = new_ProxyMutex();
  TwoStates with(m);
  EXPECT_EQ(with.mutex.get(), m.get());
  EXPECT_EQ(m->refcount(), 2);
}

TEST(Continuation, HandleEventCallsTheCurrentHandlerAndReturnsItsValue)
{
  TwoStates c;
  int payload = 0;
  EXPECT_EQ(c.handleEvent(EVENT_INTERVAL, &payload), 42);
  EXPECT_EQ(c.first_calls, 1);
  EXPECT_EQ(c.last_event, EVENT_INTERVAL);
  EXPECT_EQ(c.last_data, &payload);
}

TEST(Continuation, SetHandlerSwitchesWhereTheNextEventGoes)
{
  TwoStates c;
  c.handleEvent(EVENT_IMMEDIATE);
  EXPECT_EQ(c.handleEvent(EVENT_IMMEDIATE), EVENT_DONE);
  EXPECT_EQ(c.first_calls, 1);
  EXPECT_EQ(c.second_calls, 1);
}

TEST(Continuation, HandleEventDefaultsToEventNoneAndNoData)
{
  TwoStates c;
  int payload = 0;
  c.last_data = &payload;
  c.handleEvent();
  EXPECT_EQ(c.last_event, EVENT_NONE);
  EXPECT_EQ(c.last_data, nullptr);
}

TEST(Continuation, HandleEventWithItsMutexHeldRuns)
{
  TwoStates c(new_ProxyMutex());
  MutexLock lock(c.mutex, nullptr);
  EXPECT_EQ(c.handleEvent(EVENT_IMMEDIATE), 42);
}

TEST(ContinuationDeathTest, HandleEventWithoutHoldingItsMutexAbortsInDebugBuilds)
{
#ifdef NDEBUG
  GTEST_SKIP() << "the lock rule is asserted in debug builds only";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TwoStates c(new_ProxyMutex());
  EXPECT_DEATH(c.handleEvent(EVENT_IMMEDIATE), "without holding the continuation's mutex");
#endif
}
} // namespace
