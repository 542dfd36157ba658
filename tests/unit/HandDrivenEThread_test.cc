// Unit tests of one EThread driven by hand: the test thread becomes the event thread, a ManualClock
// supplies "now", and run_one_iteration(0) turns the loop once. Timer order, periodic and every-loop
// events, cancellation, re-scheduling from a handler and lock-miss retries are checked at exact instants.
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
/// Holds a mutex on its own std::thread until release(): "another thread owns this continuation's lock".
class LockHolder
{
public:
  explicit LockHolder(const Ptr<ProxyMutex> &m)
      : _thread([this, m] {
          MutexLock lock(m, nullptr);
          _held.notify();
          (void)_release.wait_for(1);
        })
  {
    EXPECT_TRUE(_held.wait_for(1));
  }
  ~LockHolder() { release(); }
  LockHolder(const LockHolder &)            = delete;
  LockHolder &operator=(const LockHolder &) = delete;

  void release()
  {
    if (_thread.joinable()) {
      _release.notify();
      _thread.join();
    }
  }

private:
  EventWaiter _held;
  EventWaiter _release;
  std::thread _thread;
};

/// The test thread is the event thread: it holds the thread's mutex (as EventProcessor's threads do)
/// and turns the loop with run().
class HandDrivenEThread : public ::testing::Test
{
protected:
  void SetUp() override
  {
    t.set_current();
    t.mutex->acquire(&t);
  }
  void TearDown() override
  {
    t.mutex->release();
    EThread::clear_current();
  }

  void run(int iterations = 1)
  {
    for (int i = 0; i < iterations; ++i) {
      t.run_one_iteration(0);
    }
  }
  void advance(ink_hrtime d)
  {
    manual_clock.advance(d);
    run();
  }
  ink_hrtime now() const { return manual_clock.now(); }

  ManualClock manual_clock;
  EThread t{REGULAR, 0, &manual_clock};
};

constexpr ink_hrtime kMs = HRTIME_MSECONDS(1);

// --- immediate events ----------------------------------------------------------------------------

TEST_F(HandDrivenEThread, ImmediateEventRunsOnTheNextIteration)
{
  CallRecorder r;
  t.schedule_imm(&r);
  EXPECT_EQ(r.count(), 0u);
  run();
  ASSERT_EQ(r.count(), 1u);
  EXPECT_EQ(r.calls[0].thread, &t);
}

TEST_F(HandDrivenEThread, ImmediateEventsRunInScheduleOrder)
{
  std::vector<int> order;
  std::vector<std::unique_ptr<CallRecorder>> rs;
  for (int i = 0; i < 5; ++i) {
    rs.push_back(std::make_unique<CallRecorder>());
    rs.back()->on_call = [&order, i](CallRecorder &, Event *) {
      order.push_back(i);
      return EVENT_DONE;
    };
    t.schedule_imm_local(rs.back().get());
  }
  run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_F(HandDrivenEThread, ImmediateEventScheduledByAHandlerWaitsForTheNextIteration)
{
  CallRecorder second;
  CallRecorder first;
  first.on_call = [&](CallRecorder &, Event *) {
    t.schedule_imm_local(&second);
    return EVENT_DONE;
  };
  t.schedule_imm(&first);
  run();
  EXPECT_EQ(first.count(), 1u);
  EXPECT_EQ(second.count(), 0u);
  run();
  EXPECT_EQ(second.count(), 1u);
}

TEST_F(HandDrivenEThread, OneShotEventRunsOnlyOnce)
{
  CallRecorder r;
  t.schedule_imm(&r);
  t.schedule_in(&r, 5 * kMs);
  run();
  advance(5 * kMs);
  run(3);
  advance(100 * kMs);
  EXPECT_EQ(r.count(), 2u);
  EXPECT_EQ(t.pending_events(), 0u);
}

// --- timed events --------------------------------------------------------------------------------

TEST_F(HandDrivenEThread, TimedEventNeverFiresBeforeItsDeadline)
{
  CallRecorder r;
  const ink_hrtime deadline = now() + 10 * kMs;
  t.schedule_at(&r, deadline);
  for (int step = 1; step < 10; ++step) {
    advance(kMs);
    ASSERT_EQ(r.count(), 0u) << "fired " << (deadline - now()) << " ns early";
  }
  advance(kMs - 1);
  EXPECT_EQ(r.count(), 0u) << "fired 1 ns early";
  advance(1);
  ASSERT_EQ(r.count(), 1u);
  EXPECT_EQ(r.calls[0].loop_time, deadline);
  EXPECT_EQ(r.calls[0].deadline, deadline);
}

TEST_F(HandDrivenEThread, TimedEventsFireInDeadlineOrderNotScheduleOrder)
{
  std::vector<ink_hrtime> fired;
  CallRecorder r;
  r.on_call = [&](CallRecorder &, Event *e) {
    fired.push_back(e->timeout_at);
    return EVENT_DONE;
  };
  const ink_hrtime base = now();
  for (int ms : {7, 3, 9, 1, 5}) {
    t.schedule_at(&r, base + ms * kMs);
  }
  for (int step = 0; step < 10; ++step) {
    advance(kMs);
  }
  EXPECT_EQ(fired, (std::vector<ink_hrtime>{base + 1 * kMs, base + 3 * kMs, base + 5 * kMs, base + 7 * kMs, base + 9 * kMs}));
}

TEST_F(HandDrivenEThread, TimedEventsDueTogetherStillFireInDeadlineOrder)
{
  std::vector<ink_hrtime> fired;
  CallRecorder r;
  r.on_call = [&](CallRecorder &, Event *e) {
    fired.push_back(e->timeout_at);
    return EVENT_DONE;
  };
  const ink_hrtime base = now();
  for (int ms : {4, 2, 3, 1}) {
    t.schedule_at(&r, base + ms * kMs);
  }
  advance(10 * kMs); // one iteration with all four overdue
  EXPECT_EQ(fired, (std::vector<ink_hrtime>{base + kMs, base + 2 * kMs, base + 3 * kMs, base + 4 * kMs}));
}

TEST_F(HandDrivenEThread, EqualDeadlinesFireInScheduleOrder)
{
  std::vector<int> order;
  std::vector<std::unique_ptr<CallRecorder>> rs;
  const ink_hrtime at = now() + 2 * kMs;
  for (int i = 0; i < 8; ++i) {
    rs.push_back(std::make_unique<CallRecorder>());
    rs.back()->on_call = [&order, i](CallRecorder &, Event *) {
      order.push_back(i);
      return EVENT_DONE;
    };
    t.schedule_at(rs.back().get(), at);
  }
  advance(2 * kMs);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST_F(HandDrivenEThread, ScheduleInIsRelativeToTheThreadClock)
{
  CallRecorder r;
  manual_clock.advance(HRTIME_SECONDS(5));
  const ink_hrtime expected = now() + 3 * kMs;
  Event *e                  = t.schedule_in(&r, 3 * kMs);
  EXPECT_EQ(e->timeout_at, expected);
  advance(3 * kMs);
  EXPECT_EQ(r.count(), 1u);
}

TEST_F(HandDrivenEThread, DeadlineInThePastFiresOnTheNextIteration)
{
  CallRecorder r;
  t.schedule_at(&r, now() - HRTIME_SECONDS(1));
  t.schedule_in(&r, 0);
  run();
  EXPECT_EQ(r.count(), 2u);
}

TEST_F(HandDrivenEThread, HundredThousandPendingTimersAllFireOnceInDeadlineOrderAndNeverEarly)
{
  constexpr int kTimers      = 100000;
  constexpr ink_hrtime kSpan = HRTIME_SECONDS(10);
  constexpr ink_hrtime kStep = 50 * kMs;
  std::mt19937_64 rng(12345);
  std::uniform_int_distribution<ink_hrtime> offset(1, kSpan);

  ink_hrtime last_deadline = 0;
  int fired = 0, out_of_order = 0, early = 0, late = 0;
  CallRecorder r;
  r.on_call = [&](CallRecorder &, Event *e) {
    ++fired;
    out_of_order += e->timeout_at < last_deadline;
    early += EThread::get_hrtime() < e->timeout_at;
    late += EThread::get_hrtime() - e->timeout_at >= kStep;
    last_deadline = e->timeout_at;
    return EVENT_DONE;
  };
  r.calls.reserve(kTimers);
  const ink_hrtime base = now();
  std::vector<Event *> to_cancel;
  for (int i = 0; i < kTimers; ++i) {
    Event *e = t.schedule_at(&r, base + offset(rng));
    if (i % 10 == 0) {
      to_cancel.push_back(e);
    }
  }
  EXPECT_EQ(t.pending_events(), static_cast<std::size_t>(kTimers));
  for (Event *e : to_cancel) {
    e->cancel();
  }
  EXPECT_EQ(t.pending_events(), static_cast<std::size_t>(kTimers) - to_cancel.size());
  for (ink_hrtime elapsed = 0; elapsed <= kSpan; elapsed += kStep) {
    advance(kStep);
  }
  EXPECT_EQ(fired, kTimers - static_cast<int>(to_cancel.size()));
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(early, 0);
  EXPECT_EQ(late, 0);
  EXPECT_EQ(t.pending_events(), 0u);
}

// --- periodic and every-loop events --------------------------------------------------------------

TEST_F(HandDrivenEThread, SchedulePositivePeriodFiresOncePerPeriod)
{
  CallRecorder r;
  const ink_hrtime start = now();
  t.schedule_every(&r, 10 * kMs);
  for (int ms = 1; ms <= 50; ++ms) {
    advance(kMs);
    EXPECT_EQ(r.count(), static_cast<std::size_t>(ms / 10)) << "at +" << ms << " ms";
  }
  ASSERT_EQ(r.count(), 5u);
  for (std::size_t i = 0; i < r.count(); ++i) {
    EXPECT_EQ(r.calls[i].loop_time, start + static_cast<ink_hrtime>(i + 1) * 10 * kMs);
    EXPECT_EQ(r.calls[i].event, EVENT_INTERVAL);
    EXPECT_EQ(r.calls[i].e, r.calls[0].e) << "a periodic event re-uses its Event";
  }
}

TEST_F(HandDrivenEThread, PeriodicEventFiresOnlyOnceAfterALongStall)
{
  CallRecorder r;
  t.schedule_every(&r, 10 * kMs);
  advance(100 * kMs); // ten periods pass in one iteration: no burst of catch-up calls
  EXPECT_EQ(r.count(), 1u);
  run(5);
  EXPECT_EQ(r.count(), 1u);
  advance(10 * kMs);
  EXPECT_EQ(r.count(), 2u);
}

TEST_F(HandDrivenEThread, PeriodicEventKeepsRunningWhateverTheHandlerReturns)
{
  CallRecorder r;
  r.on_call = [](CallRecorder &, Event *) { return EVENT_DONE; };
  t.schedule_every(&r, kMs);
  for (int i = 0; i < 5; ++i) {
    advance(kMs);
  }
  EXPECT_EQ(r.count(), 5u);
}

TEST_F(HandDrivenEThread, NegativePeriodFiresOnEveryIteration)
{
  CallRecorder r;
  Event *e = t.schedule_every(&r, -1);
  EXPECT_LT(e->timeout_at, 0);
  run(7); // the clock does not move: these are every-loop events, not timers
  ASSERT_EQ(r.count(), 7u);
  for (auto &c : r.calls) {
    EXPECT_EQ(c.e, e);
  }
  EXPECT_EQ(t.pending_events(), 1u);
}

// --- cancellation --------------------------------------------------------------------------------

TEST_F(HandDrivenEThread, CancelBeforeTheDeadlineMeansTheHandlerIsNeverCalled)
{
  CallRecorder r;
  Event *e = t.schedule_in(&r, 5 * kMs);
  advance(4 * kMs);
  e->cancel();
  advance(HRTIME_SECONDS(1));
  EXPECT_EQ(r.count(), 0u);
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, CancelOfATimerOnItsOwnThreadReleasesItAtOnce)
{
  CallRecorder r;
  Event *e = t.schedule_in(&r, HRTIME_SECONDS(3600));
  EXPECT_EQ(t.pending_events(), 1u);
  e->cancel();
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, CancelOfAnImmediateEventBeforeItRunsMeansTheHandlerIsNeverCalled)
{
  CallRecorder r;
  Event *e = t.schedule_imm(&r);
  e->cancel();
  run(2);
  EXPECT_EQ(r.count(), 0u);
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, CancelOfAPeriodicEventBetweenFiringsStopsIt)
{
  CallRecorder r;
  Event *e = t.schedule_every(&r, 10 * kMs);
  advance(10 * kMs);
  ASSERT_EQ(r.count(), 1u);
  e->cancel();
  for (int i = 0; i < 5; ++i) {
    advance(10 * kMs);
  }
  EXPECT_EQ(r.count(), 1u);
}

TEST_F(HandDrivenEThread, CancelInsideItsOwnHandlerStopsAPeriodicEvent)
{
  CallRecorder r;
  r.on_call = [](CallRecorder &self, Event *e) {
    if (self.count() == 3) {
      e->cancel();
    }
    return EVENT_DONE;
  };
  t.schedule_every(&r, 10 * kMs);
  for (int i = 0; i < 10; ++i) {
    advance(10 * kMs);
  }
  EXPECT_EQ(r.count(), 3u);
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, CancelInsideItsOwnHandlerStopsAnEveryLoopEvent)
{
  CallRecorder r;
  r.on_call = [](CallRecorder &self, Event *e) {
    if (self.count() == 2) {
      e->cancel();
    }
    return EVENT_DONE;
  };
  t.schedule_every(&r, -1);
  run(6);
  EXPECT_EQ(r.count(), 2u);
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, CancelInsideAOneShotHandlerIsHarmless)
{
  CallRecorder r;
  r.on_call = [](CallRecorder &, Event *e) {
    e->cancel();
    return EVENT_DONE;
  };
  t.schedule_in(&r, kMs);
  advance(kMs);
  run(2);
  EXPECT_EQ(r.count(), 1u);
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, AHandlerMayCancelAnotherPendingTimer)
{
  CallRecorder victim;
  CallRecorder killer;
  Event *victim_event = t.schedule_in(&victim, 2 * kMs);
  killer.on_call      = [&](CallRecorder &, Event *) {
    victim_event->cancel();
    return EVENT_DONE;
  };
  t.schedule_in(&killer, kMs);
  advance(kMs);
  advance(kMs);
  EXPECT_EQ(killer.count(), 1u);
  EXPECT_EQ(victim.count(), 0u);
}

TEST_F(HandDrivenEThread, CancelOfAnEventDueInTheSameIterationPreventsTheCall)
{
  CallRecorder victim;
  CallRecorder killer;
  Event *victim_event = nullptr;
  killer.on_call      = [&](CallRecorder &, Event *) {
    victim_event->cancel();
    return EVENT_DONE;
  };
  const ink_hrtime at = now() + kMs;
  t.schedule_at(&killer, at);
  victim_event = t.schedule_at(&victim, at);
  advance(kMs); // both are due; the first cancels the second before it runs
  EXPECT_EQ(killer.count(), 1u);
  EXPECT_EQ(victim.count(), 0u);
}

// --- what the handler receives -------------------------------------------------------------------

TEST_F(HandDrivenEThread, HandlerReceivesTheEventAsDataAndTheDefaultCallbackEvent)
{
  CallRecorder r;
  Event *imm   = t.schedule_imm(&r);
  Event *timed = t.schedule_in(&r, kMs);
  run();
  advance(kMs);
  ASSERT_EQ(r.count(), 2u);
  EXPECT_EQ(r.calls[0].e, imm);
  EXPECT_EQ(r.calls[0].event, EVENT_IMMEDIATE);
  EXPECT_EQ(r.calls[1].e, timed);
  EXPECT_EQ(r.calls[1].event, EVENT_INTERVAL);
}

TEST_F(HandDrivenEThread, HandlerReceivesTheGivenCallbackEvent)
{
  CallRecorder r;
  t.schedule_imm(&r, VC_EVENT_READ_READY);
  t.schedule_in(&r, kMs, EVENT_CALL);
  t.schedule_every(&r, 2 * kMs, VC_EVENT_INACTIVITY_TIMEOUT);
  run();
  advance(kMs);
  advance(kMs);
  ASSERT_EQ(r.count(), 3u);
  EXPECT_EQ(r.calls[0].event, VC_EVENT_READ_READY);
  EXPECT_EQ(r.calls[1].event, EVENT_CALL);
  EXPECT_EQ(r.calls[2].event, VC_EVENT_INACTIVITY_TIMEOUT);
  EXPECT_EQ(r.calls[2].e->callback_event, VC_EVENT_INACTIVITY_TIMEOUT);
}

TEST_F(HandDrivenEThread, CookieIsPassedToTheHandler)
{
  CallRecorder r;
  int a = 0, b = 0;
  t.schedule_imm(&r, EVENT_IMMEDIATE, &a);
  t.schedule_in(&r, kMs, EVENT_INTERVAL, &b);
  t.schedule_imm_local(&r, EVENT_IMMEDIATE, nullptr);
  run();
  advance(kMs);
  ASSERT_EQ(r.count(), 3u);
  EXPECT_EQ(r.calls[0].cookie, &a);
  EXPECT_EQ(r.calls[1].cookie, nullptr);
  EXPECT_EQ(r.calls[2].cookie, &b);
}

TEST_F(HandDrivenEThread, EventFieldsDescribeTheSchedule)
{
  CallRecorder r;
  Event *e = t.schedule_every(&r, 7 * kMs, EVENT_CALL);
  EXPECT_EQ(e->ethread, &t);
  EXPECT_EQ(e->continuation, &r);
  EXPECT_EQ(e->period, 7 * kMs);
  EXPECT_EQ(e->timeout_at, now() + 7 * kMs);
  EXPECT_EQ(e->callback_event, EVENT_CALL);
  EXPECT_FALSE(e->cancelled);
  Event *imm = t.schedule_imm(&r);
  EXPECT_EQ(imm->timeout_at, 0);
  EXPECT_EQ(imm->period, 0);
}

// --- re-scheduling the same Event from its handler -----------------------------------------------

TEST_F(HandDrivenEThread, ScheduleInFromInsideTheHandlerReschedulesTheSameEvent)
{
  CallRecorder r;
  r.on_call = [](CallRecorder &self, Event *e) {
    if (self.count() < 3) {
      e->schedule_in(5 * kMs);
    }
    return EVENT_DONE;
  };
  Event *e = t.schedule_imm(&r);
  run();
  ASSERT_EQ(r.count(), 1u);
  advance(5 * kMs - 1);
  EXPECT_EQ(r.count(), 1u);
  advance(1);
  ASSERT_EQ(r.count(), 2u);
  advance(5 * kMs);
  ASSERT_EQ(r.count(), 3u);
  advance(HRTIME_SECONDS(1));
  EXPECT_EQ(r.count(), 3u);
  for (auto &c : r.calls) {
    EXPECT_EQ(c.e, e);
  }
  EXPECT_EQ(r.calls[0].event, EVENT_IMMEDIATE);
  EXPECT_EQ(r.calls[1].event, EVENT_INTERVAL);
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, ScheduleImmFromInsideTheHandlerRunsTheSameEventNextIteration)
{
  CallRecorder r;
  r.on_call = [](CallRecorder &self, Event *e) {
    if (self.count() < 4) {
      e->schedule_imm(EVENT_CALL);
    }
    return EVENT_DONE;
  };
  Event *e = t.schedule_in(&r, kMs);
  advance(kMs);
  EXPECT_EQ(r.count(), 1u);
  run();
  EXPECT_EQ(r.count(), 2u);
  run(5);
  ASSERT_EQ(r.count(), 4u);
  EXPECT_EQ(r.calls[3].e, e);
  EXPECT_EQ(r.calls[3].event, EVENT_CALL);
}

TEST_F(HandDrivenEThread, ScheduleAtFromInsideTheHandlerMovesTheDeadline)
{
  CallRecorder r;
  const ink_hrtime later = now() + 20 * kMs;
  r.on_call              = [&](CallRecorder &self, Event *e) {
    if (self.count() == 1) {
      e->schedule_at(later);
    }
    return EVENT_DONE;
  };
  t.schedule_in(&r, kMs);
  advance(kMs);
  advance(18 * kMs);
  EXPECT_EQ(r.count(), 1u);
  advance(kMs);
  ASSERT_EQ(r.count(), 2u);
  EXPECT_EQ(r.calls[1].loop_time, later);
}

TEST_F(HandDrivenEThread, ScheduleEveryFromInsideTheHandlerMakesItPeriodic)
{
  CallRecorder r;
  r.on_call = [](CallRecorder &self, Event *e) {
    if (self.count() == 1) {
      e->schedule_every(3 * kMs);
    }
    return EVENT_DONE;
  };
  t.schedule_imm(&r);
  run();
  for (int i = 0; i < 4; ++i) {
    advance(3 * kMs);
  }
  EXPECT_EQ(r.count(), 5u);
}

TEST_F(HandDrivenEThread, ScheduleInFromAPeriodicHandlerEndsThePeriod)
{
  CallRecorder r;
  r.on_call = [](CallRecorder &self, Event *e) {
    if (self.count() == 2) {
      e->schedule_in(kMs); // one more call, then done: re-scheduling sets period 0
    }
    return EVENT_DONE;
  };
  t.schedule_every(&r, 10 * kMs);
  for (int i = 0; i < 6; ++i) {
    advance(10 * kMs);
  }
  EXPECT_EQ(r.count(), 3u);
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, OneShotHandlerMayDeleteItsContinuation)
{
  int deleted = 0;
  auto *r     = new CallRecorder(new_ProxyMutex());
  r->on_call  = [&deleted](CallRecorder &self, Event *) {
    ++deleted;
    delete &self;
    return EVENT_DONE;
  };
  t.schedule_imm(r);
  run(2);
  EXPECT_EQ(deleted, 1);
}

// --- locks ---------------------------------------------------------------------------------------

TEST_F(HandDrivenEThread, ScheduleOnAContinuationWithoutMutexGivesItTheThreadMutex)
{
  using Schedule             = std::function<Event *(Continuation *)>;
  std::vector<Schedule> ways = {
      [&](Continuation *c) { return t.schedule_imm(c); },
      [&](Continuation *c) { return t.schedule_at(c, now() + kMs); },
      [&](Continuation *c) { return t.schedule_in(c, kMs); },
      [&](Continuation *c) { return t.schedule_every(c, kMs); },
      [&](Continuation *c) { return t.schedule_imm_local(c); },
      [&](Continuation *c) { return t.schedule_at_local(c, now() + kMs); },
      [&](Continuation *c) { return t.schedule_in_local(c, kMs); },
      [&](Continuation *c) { return t.schedule_every_local(c, -1); },
  };
  for (std::size_t i = 0; i < ways.size(); ++i) {
    CallRecorder r;
    ASSERT_FALSE(r.mutex);
    Event *e = ways[i](&r);
    EXPECT_EQ(r.mutex.get(), t.mutex.get()) << "schedule variant " << i;
    EXPECT_EQ(e->mutex.get(), t.mutex.get()) << "schedule variant " << i;
    e->cancel();
  }
  run();
}

TEST_F(HandDrivenEThread, ScheduleKeepsAContinuationsOwnMutex)
{
  Ptr<ProxyMutex> m = new_ProxyMutex();
  CallRecorder r(m);
  Event *e = t.schedule_imm(&r);
  EXPECT_EQ(r.mutex.get(), m.get());
  EXPECT_EQ(e->mutex.get(), m.get());
  run();
}

TEST_F(HandDrivenEThread, HandlerIsCalledWithItsMutexHeldByThisThread)
{
  CallRecorder own(new_ProxyMutex());
  CallRecorder borrowed;
  t.schedule_imm(&own);
  t.schedule_in(&own, kMs);
  t.schedule_every(&own, -1);
  t.schedule_imm(&borrowed);
  run();
  advance(kMs);
  ASSERT_GE(own.count(), 3u);
  ASSERT_EQ(borrowed.count(), 1u);
  for (auto &c : own.calls) {
    EXPECT_TRUE(c.mutex_held);
  }
  EXPECT_TRUE(borrowed.calls[0].mutex_held);
  EXPECT_FALSE(own.mutex->is_held_by_current_thread()) << "released after the call";
}

TEST_F(HandDrivenEThread, BusyMutexIsRetriedAfterLockRetryDelayAndNotLost)
{
  CallRecorder r(new_ProxyMutex());
  int cookie = 0;
  LockHolder holder(r.mutex);
  t.schedule_imm_local(&r, VC_EVENT_WRITE_READY, &cookie);
  run();
  EXPECT_EQ(r.count(), 0u);
  EXPECT_EQ(t.pending_events(), 1u) << "a lock miss keeps the event";
  advance(kLockRetryDelay - 1);
  EXPECT_EQ(r.count(), 0u) << "retried before kLockRetryDelay";
  advance(1);
  EXPECT_EQ(r.count(), 0u) << "ran while another thread held the lock";
  EXPECT_EQ(t.pending_events(), 1u);

  holder.release();
  run();
  EXPECT_EQ(r.count(), 0u) << "the second retry is again kLockRetryDelay after the miss";
  advance(kLockRetryDelay);
  ASSERT_EQ(r.count(), 1u);
  EXPECT_TRUE(r.calls[0].mutex_held);
  EXPECT_EQ(r.calls[0].event, VC_EVENT_WRITE_READY) << "a retried event keeps its callback_event";
  EXPECT_EQ(r.calls[0].cookie, &cookie);
  advance(HRTIME_SECONDS(1));
  EXPECT_EQ(r.count(), 1u);
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, BusyMutexDoesNotDelayOtherEvents)
{
  CallRecorder blocked(new_ProxyMutex());
  CallRecorder free_to_run;
  LockHolder holder(blocked.mutex);
  t.schedule_imm(&blocked);
  t.schedule_imm(&free_to_run);
  run();
  EXPECT_EQ(blocked.count(), 0u);
  EXPECT_EQ(free_to_run.count(), 1u);
  holder.release();
  advance(kLockRetryDelay);
  EXPECT_EQ(blocked.count(), 1u);
}

TEST_F(HandDrivenEThread, CancelWhileWaitingForABusyMutexMeansTheHandlerIsNeverCalled)
{
  CallRecorder r(new_ProxyMutex());
  Event *e;
  {
    LockHolder holder(r.mutex);
    e = t.schedule_imm(&r);
    run();
    ASSERT_EQ(r.count(), 0u);
  }
  {
    MutexLock lock(r.mutex, nullptr); // cancel under the continuation's lock, as the contract asks
    e->cancel();
  }
  advance(kLockRetryDelay);
  advance(kLockRetryDelay);
  EXPECT_EQ(r.count(), 0u);
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, PeriodicEventWithABusyMutexResumesItsPeriodAfterTheRetry)
{
  CallRecorder r(new_ProxyMutex());
  t.schedule_every(&r, 20 * kMs);
  {
    LockHolder holder(r.mutex);
    advance(20 * kMs);
    EXPECT_EQ(r.count(), 0u);
  }
  advance(kLockRetryDelay);
  ASSERT_EQ(r.count(), 1u);
  advance(20 * kMs);
  EXPECT_EQ(r.count(), 2u);
}

TEST_F(HandDrivenEThread, ContinuationWhoseMutexChangedBeforeDispatchRunsUnderTheNewMutex)
{
  Ptr<ProxyMutex> old_mutex = new_ProxyMutex();
  Ptr<ProxyMutex> new_mutex = new_ProxyMutex();
  CallRecorder r(old_mutex);
  bool under_new = false;
  r.on_call      = [&](CallRecorder &self, Event *) {
    under_new = self.mutex.get() == new_mutex.get() && new_mutex->thread_holding.load() == &t;
    return EVENT_DONE;
  };
  t.schedule_imm(&r);
  r.mutex = new_mutex; // e.g. a VC moved to another lock while the event waited
  run(2);
  ASSERT_EQ(r.count(), 1u);
  EXPECT_TRUE(under_new);
}

// --- bookkeeping, time and identity --------------------------------------------------------------

TEST_F(HandDrivenEThread, PendingEventsCountsEveryQueue)
{
  CallRecorder r;
  EXPECT_EQ(t.pending_events(), 0u);
  t.schedule_imm(&r);
  EXPECT_EQ(t.pending_events(), 1u);
  t.schedule_in(&r, 5 * kMs);
  EXPECT_EQ(t.pending_events(), 2u);
  Event *loop = t.schedule_every(&r, -1);
  EXPECT_EQ(t.pending_events(), 3u);
  std::thread other([&] { t.schedule_imm(&r); }); // the external queue
  other.join();
  EXPECT_EQ(t.pending_events(), 4u);
  run(); // both immediates and the every-loop event ran; the last stays
  EXPECT_EQ(t.pending_events(), 2u);
  advance(5 * kMs);
  EXPECT_EQ(t.pending_events(), 1u);
  loop->cancel();
  run();
  EXPECT_EQ(t.pending_events(), 0u);
}

TEST_F(HandDrivenEThread, ScheduleFromAnotherThreadRunsOnThisThreadInOrder)
{
  std::vector<int> order;
  CallRecorder r;
  r.on_call = [&](CallRecorder &self, Event *) {
    order.push_back(static_cast<int>(self.count()));
    return EVENT_DONE;
  };
  std::thread other([&] {
    EXPECT_EQ(this_ethread(), nullptr);
    for (int i = 0; i < 100; ++i) {
      t.schedule_imm(&r);
    }
  });
  other.join();
  run();
  ASSERT_EQ(r.count(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(order[i], i + 1);
    EXPECT_EQ(r.calls[i].thread, &t);
  }
}

TEST_F(HandDrivenEThread, GetHrtimeIsCachedForTheWholeHandler)
{
  CallRecorder r;
  ink_hrtime before = 0, after = 0;
  r.on_call = [&](CallRecorder &, Event *) {
    before = EThread::get_hrtime();
    manual_clock.advance(HRTIME_SECONDS(1));
    after = EThread::get_hrtime();
    return EVENT_DONE;
  };
  const ink_hrtime start = now();
  t.schedule_imm(&r);
  run();
  EXPECT_EQ(before, start);
  EXPECT_EQ(after, start) << "get_hrtime() must not re-read the clock inside a handler";
  EXPECT_EQ(t.now(), start + HRTIME_SECONDS(1)) << "now() reads the clock afresh";
  EXPECT_EQ(EThread::get_hrtime(), start + HRTIME_SECONDS(1)) << "refreshed by the next loop";
}

TEST_F(HandDrivenEThread, GetHrtimeUpdatedRefreshesTheCacheForWhatFollows)
{
  CallRecorder r;
  ink_hrtime updated = 0, cached_after = 0;
  r.on_call = [&](CallRecorder &, Event *) {
    manual_clock.advance(HRTIME_MSECONDS(7));
    updated      = EThread::get_hrtime_updated();
    cached_after = EThread::get_hrtime();
    return EVENT_DONE;
  };
  const ink_hrtime start = now();
  t.schedule_imm(&r);
  run();
  EXPECT_EQ(updated, start + HRTIME_MSECONDS(7));
  EXPECT_EQ(cached_after, updated) << "the cache holds the refreshed time";
}

TEST_F(HandDrivenEThread, ThisEthreadIsTheThreadInsideHandlers)
{
  CallRecorder r;
  t.schedule_imm(&r);
  run();
  ASSERT_EQ(r.count(), 1u);
  EXPECT_EQ(r.calls[0].thread, &t);
  EXPECT_EQ(this_ethread(), &t);
}

TEST_F(HandDrivenEThread, TailHandlerIsAskedToWaitUntilTheNextDeadlineAtMost)
{
  struct RecordingTail : TailHandler {
    std::vector<ink_hrtime> waits;
    void wait_for_activity(ink_hrtime timeout) override { waits.push_back(timeout); }
  } tail;
  t.set_tail_handler(&tail);
  EXPECT_EQ(t.tail_handler(), &tail);
  CallRecorder r;
  t.run_one_iteration(HRTIME_SECONDS(1));
  t.schedule_in(&r, 5 * kMs);
  t.run_one_iteration(HRTIME_SECONDS(1));
  t.run_one_iteration(2 * kMs);
  t.schedule_imm(&r);
  t.run_one_iteration(HRTIME_SECONDS(1)); // an immediate event queued by a handler would be next
  r.on_call = [&](CallRecorder &, Event *) {
    t.schedule_imm(&r);
    return EVENT_DONE;
  };
  t.schedule_imm(&r);
  t.run_one_iteration(HRTIME_SECONDS(1));
  EXPECT_EQ(tail.waits, (std::vector<ink_hrtime>{HRTIME_SECONDS(1), 5 * kMs, 2 * kMs, 5 * kMs, 0}));
  t.set_tail_handler(nullptr);
  EXPECT_NE(t.tail_handler(), &tail);
  EXPECT_NE(t.tail_handler(), nullptr);
  run(2);
}

TEST_F(HandDrivenEThread, LocalDataIsStoredPerKeyAndDestroyedWithTheThread)
{
  const int key = EThread::register_local_data_key();
  EXPECT_EQ(t.local_data(key), nullptr);
  int destroyed = 0;
  {
    EThread other(REGULAR, 1, &manual_clock);
    other.set_local_data(key, &destroyed, [](void *p) { ++*static_cast<int *>(p); });
    EXPECT_EQ(other.local_data(key), &destroyed);
    EXPECT_EQ(t.local_data(key), nullptr);
  }
  EXPECT_EQ(destroyed, 1);
}

TEST_F(HandDrivenEThread, StopIsSeenByIsStopping)
{
  EXPECT_FALSE(t.is_stopping());
  t.stop();
  EXPECT_TRUE(t.is_stopping());
}

TEST_F(HandDrivenEThread, NewThreadHasItsOwnMutexTypeAndId)
{
  EXPECT_TRUE(t.mutex);
  EXPECT_EQ(t.tt, REGULAR);
  EXPECT_EQ(t.id, 0);
  EXPECT_EQ(&t.clock(), &manual_clock);
  EXPECT_GE(t.signal_fd(), 0);
  EXPECT_EQ(t.mutex->thread_holding.load(), &t) << "the fixture holds it, as a running loop does";
}

TEST_F(HandDrivenEThread, ScheduleLocalFromAThreadThatIsNotTheOwnerAborts)
{
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  CallRecorder r;
  EXPECT_DEATH(
      {
        EThread::clear_current();
        t.schedule_imm_local(&r);
      },
      "does not own the event");
}
} // namespace
