// Unit tests of Action, what schedule and connect calls return: adopting a continuation and its
// mutex, cancel, copies, and the result sentinels.
#include "iocore/eventsystem/Action.h"
#include "support/TwoStates.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EventCodes.h"

#include <gtest/gtest.h>

#include <string>

using namespace iocore;
using namespace iocore::test;

namespace {
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
} // namespace
