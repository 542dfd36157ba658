// Unit tests of Continuation (handler dispatch, the lock rule), Action (adopting a continuation and
// its mutex, cancel) and the event-code names used in logs.
#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EventCodes.h"

#include <gtest/gtest.h>

#include <string>

using namespace iocore;

namespace {
class TwoStates : public Continuation
{
public:
  explicit TwoStates(Ptr<ProxyMutex> m = {}) : Continuation(std::move(m)) { set_handler(&TwoStates::first); }

  int first(int event, void *data)
  {
    last_event = event;
    last_data  = data;
    ++first_calls;
    set_handler(&TwoStates::second);
    return 42;
  }

  int second(int event, void *data)
  {
    last_event = event;
    last_data  = data;
    ++second_calls;
    return EVENT_DONE;
  }

  int first_calls  = 0;
  int second_calls = 0;
  int last_event   = -1;
  void *last_data  = nullptr;
};
} // namespace

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

TEST(Action, AssigningAContinuationAdoptsItsMutex)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  TwoStates c(m);
  Action a;
  a = &c;
  EXPECT_EQ(a.continuation, &c);
  EXPECT_EQ(a.mutex.get(), m.get());
  EXPECT_FALSE(a.cancelled);
}

TEST(Action, AssigningAContinuationWithoutMutexLeavesTheMutexEmpty)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  TwoStates with(m), without;
  Action a;
  a = &with;
  a = &without;
  EXPECT_EQ(a.continuation, &without);
  EXPECT_FALSE(a.mutex);
  EXPECT_EQ(m->refcount(), 2); // with.mutex and m
}

TEST(Action, AssigningNullptrClearsContinuationAndMutex)
{
  TwoStates c(new_ProxyMutex());
  Action a;
  a = &c;
  a = static_cast<Continuation *>(nullptr);
  EXPECT_EQ(a.continuation, nullptr);
  EXPECT_FALSE(a.mutex);
}

TEST(Action, CancelMarksItCancelled)
{
  TwoStates c;
  Action a;
  a = &c;
  a.cancel();
  EXPECT_TRUE(a.cancelled);
}

TEST(Action, CopyCarriesContinuationMutexAndCancelledFlag)
{
  TwoStates c(new_ProxyMutex());
  Action a;
  a = &c;
  a.cancel();
  Action b(a);
  EXPECT_EQ(b.continuation, &c);
  EXPECT_EQ(b.mutex.get(), c.mutex.get());
  EXPECT_TRUE(b.cancelled);
  Action d;
  d = a;
  EXPECT_TRUE(d.cancelled);
  EXPECT_EQ(d.mutex.get(), c.mutex.get());
}

TEST(Action, ResultSentinelsAreDistinctAndNotNull)
{
  EXPECT_NE(ACTION_RESULT_DONE, nullptr);
  EXPECT_NE(ACTION_IO_ERROR, nullptr);
  EXPECT_NE(ACTION_RESULT_DONE, ACTION_IO_ERROR);
}

TEST(EventCodes, NumericValuesMatchTheContract)
{
  EXPECT_EQ(EVENT_NONE, 0);
  EXPECT_EQ(EVENT_IMMEDIATE, 1);
  EXPECT_EQ(EVENT_INTERVAL, 2);
  EXPECT_EQ(EVENT_ERROR, 3);
  EXPECT_EQ(EVENT_CALL, 4);
  EXPECT_EQ(EVENT_POLL, 5);
  EXPECT_EQ(EVENT_DONE, 0);
  EXPECT_EQ(EVENT_CONT, 1);
  EXPECT_EQ(VC_EVENT_READ_READY, 100);
  EXPECT_EQ(VC_EVENT_WRITE_READY, 101);
  EXPECT_EQ(VC_EVENT_READ_COMPLETE, 102);
  EXPECT_EQ(VC_EVENT_WRITE_COMPLETE, 103);
  EXPECT_EQ(VC_EVENT_EOS, 104);
  EXPECT_EQ(VC_EVENT_ERROR, EVENT_ERROR);
  EXPECT_EQ(VC_EVENT_INACTIVITY_TIMEOUT, 105);
  EXPECT_EQ(VC_EVENT_ACTIVE_TIMEOUT, 106);
  EXPECT_EQ(VC_EVENT_OOB_COMPLETE, 107);
  EXPECT_EQ(NET_EVENT_OPEN, 200);
  EXPECT_EQ(NET_EVENT_OPEN_FAILED, 201);
  EXPECT_EQ(NET_EVENT_ACCEPT, 202);
  EXPECT_EQ(NET_EVENT_ACCEPT_SUCCEED, 203);
  EXPECT_EQ(NET_EVENT_ACCEPT_FAILED, 204);
}

TEST(EventCodes, EventNameNamesKnownCodesAndFlagsUnknownOnes)
{
  EXPECT_EQ(std::string(event_name(EVENT_IMMEDIATE)), "EVENT_IMMEDIATE");
  EXPECT_EQ(std::string(event_name(VC_EVENT_EOS)), "VC_EVENT_EOS");
  EXPECT_EQ(std::string(event_name(NET_EVENT_ACCEPT)), "NET_EVENT_ACCEPT");
  EXPECT_EQ(std::string(event_name(VC_EVENT_ERROR)), "VC_EVENT_ERROR");
  EXPECT_EQ(std::string(event_name(12345)), "EVENT_UNKNOWN");
}
