// Unit tests of an EThread outside hand-driving: events pending at destruction, this_ethread() and the
// time off an event thread, and waking or stopping a loop from another thread.
#include "iocore/eventsystem/Continuation.h"
#include "support/CallRecorder.h"
#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/Event.h"

#include "support/EventWaiter.h"
#include "support/ManualClock.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>
#include <vector>

using namespace iocore;
using iocore::test::CallRecorder;
using iocore::test::EventWaiter;
using iocore::test::ManualClock;

namespace {
TEST(EThread, EventsStillPendingAtDestructionAreFreedWithoutBeingCalled)
{
  CallRecorder r(new_ProxyMutex());
  {
    ManualClock c;
    EThread t(REGULAR, 0, &c);
    t.set_current();
    t.schedule_imm(&r);
    t.schedule_in(&r, HRTIME_SECONDS(10));
    t.schedule_every(&r, -1);
    EThread::clear_current();
    std::thread other([&] { t.schedule_imm(&r); });
    other.join();
    EXPECT_EQ(t.pending_events(), 4u);
  }
  EXPECT_EQ(r.count(), 0u);
  EXPECT_EQ(r.mutex->refcount(), 1) << "the freed events dropped their references to the mutex";
}

TEST(EThread, ThisEthreadIsNullOnAThreadThatRunsNoLoop)
{
  EXPECT_EQ(this_ethread(), nullptr);
  std::thread other([] { EXPECT_EQ(this_ethread(), nullptr); });
  other.join();
}

TEST(EThread, GetHrtimeOutsideAnEventThreadIsTheFreshMonotonicTime)
{
  const ink_hrtime a = ink_get_hrtime();
  const ink_hrtime b = EThread::get_hrtime();
  const ink_hrtime c = ink_get_hrtime();
  EXPECT_LE(a, b);
  EXPECT_LE(b, c);
}

TEST(EThread, ScheduleFromAnotherThreadWakesALoopBlockedInALongWait)
{
  // Wraps the default tail handler to learn when the loop is about to block.
  struct ObservedTail : TailHandler {
    TailHandler *inner = nullptr;
    EventWaiter about_to_wait;
    void wait_for_activity(ink_hrtime timeout) override
    {
      about_to_wait.notify();
      inner->wait_for_activity(timeout);
    }
  } tail;

  EThread t(REGULAR, 0);
  tail.inner = t.tail_handler();
  t.set_tail_handler(&tail);
  EventWaiter ran;
  CallRecorder r(new_ProxyMutex());
  r.on_call = [&](CallRecorder &, Event *) {
    ran.notify();
    this_ethread()->stop();
    return EVENT_DONE;
  };
  std::thread loop([&] {
    t.set_current();
    t.mutex->acquire(&t);
    while (!t.is_stopping()) {
      t.run_one_iteration(HRTIME_SECONDS(3600)); // without a wake-up this blocks for an hour
    }
    t.mutex->release();
    EThread::clear_current();
  });
  ASSERT_TRUE(tail.about_to_wait.wait_for(1));
  t.schedule_imm(&r);
  const bool woke = ran.wait_for(1);
  t.stop();
  loop.join();
  EXPECT_TRUE(woke) << "the event was not run: the sleeping loop was not woken";
}

TEST(EThread, ExecuteRunsUntilStopFromAnotherThread)
{
  ManualClock c;
  EThread t(REGULAR, 0, &c);
  EventWaiter ran;
  CallRecorder r(new_ProxyMutex());
  r.on_call = [&](CallRecorder &, Event *) {
    ran.notify();
    return EVENT_DONE;
  };
  std::thread loop([&] {
    t.set_current();
    t.mutex->acquire(&t);
    t.execute();
    t.mutex->release();
    EThread::clear_current();
  });
  t.schedule_imm(&r);
  EXPECT_TRUE(ran.wait_for(1));
  t.stop();
  loop.join();
  EXPECT_TRUE(t.is_stopping());
}
} // namespace
