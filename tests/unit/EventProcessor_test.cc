// Threaded tests of EventProcessor and the EThreads it runs: cross-thread scheduling and wake-up,
// no event lost or duplicated under load, cancel and lock-contention races, thread groups, DEDICATED
// threads and shutdown. Each test starts eventProcessor with two threads and shuts it down again, so
// the tests pass one per process (ctest) and all in one process alike.
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/Event.h"
#include "iocore/eventsystem/EventProcessor.h"

#include "eventsystem/ClassAllocator.h"
#include "support/EventWaiter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace iocore;
using iocore::test::EventWaiter;

namespace {
/// Counts its calls and checks the lock rule on each. Its fields are written under its mutex: read
/// them from the test thread under MutexLock, or after waiter says the calls you wait for are done.
class Counter : public Continuation
{
public:
  explicit Counter(Ptr<ProxyMutex> m = new_ProxyMutex()) : Continuation(std::move(m)) { set_handler(&Counter::handle); }

  int handle(int event, void *data)
  {
    auto *e = static_cast<Event *>(data);
    ++calls;
    last_event     = event;
    last_event_ptr = e;
    last_cookie    = e ? e->cookie : nullptr;
    last_thread    = this_ethread();
    last_time      = ink_get_hrtime();
    if (!mutex || mutex->thread_holding.load() != this_ethread()) {
      ++lock_violations;
    }
    int r = on_call ? on_call(*this, e) : EVENT_DONE;
    waiter.notify();
    return r;
  }

  int calls             = 0;
  int lock_violations   = 0;
  int last_event        = -1;
  Event *last_event_ptr = nullptr;
  void *last_cookie     = nullptr;
  EThread *last_thread  = nullptr;
  ink_hrtime last_time  = 0;
  std::function<int(Counter &, Event *)> on_call;
  EventWaiter waiter;
};

/// Switches the event allocator for one test. kSystem hands freed Events straight back to the heap,
/// so ASan and TSan see any access to an Event after the loop freed it.
class ScopedAllocatorStrategy
{
public:
  explicit ScopedAllocatorStrategy(AllocatorStrategy s) : _old(allocator_strategy()) { set_allocator_strategy(s); }
  ~ScopedAllocatorStrategy() { set_allocator_strategy(_old); }

private:
  AllocatorStrategy _old;
};

class EventProcessorTest : public ::testing::Test
{
protected:
  static constexpr int kThreads = 2;

  void SetUp() override
  {
    ASSERT_EQ(this_ethread(), nullptr);
    ASSERT_EQ(eventProcessor.start(kThreads), 0);
  }
  void TearDown() override
  {
    eventProcessor.shutdown();
    // Continuations die after the threads: a late event can never reach a destroyed one.
    _keep.clear();
  }

  /// A continuation that lives until after shutdown().
  template <class T = Counter, class... Args> T *make(Args &&...args)
  {
    auto p = std::make_unique<T>(std::forward<Args>(args)...);
    T *raw = p.get();
    _keep.push_back(std::move(p));
    return raw;
  }

  static EThread *net_thread(int i) { return eventProcessor.thread(ET_CALL, i); }

  /// Wait until every event that `t` had to handle before `at` has been handled: a fence event due at
  /// `at` runs only after all earlier deadlines (and after everything queued before it).
  void fence(EThread *t, ink_hrtime at)
  {
    Counter *f = make();
    t->schedule_at(f, at);
    ASSERT_TRUE(f->waiter.wait_for(1));
  }
  /// Fence on every ET_CALL thread, past any lock-miss retry that may still be waiting.
  void fence_all_past_retries()
  {
    const ink_hrtime at = ink_get_hrtime() + kLockRetryDelay + HRTIME_MSECONDS(5);
    for (int i = 0; i < eventProcessor.n_threads_for_type(ET_CALL); ++i) {
      fence(net_thread(i), at);
    }
  }

private:
  std::vector<std::unique_ptr<Continuation>> _keep;
};

bool
is_in_group(EThread *t, EventType et)
{
  for (int i = 0; i < eventProcessor.n_threads_for_type(et); ++i) {
    if (eventProcessor.thread(et, i) == t) {
      return true;
    }
  }
  return false;
}
} // namespace

// --- start, groups, shutdown ---------------------------------------------------------------------

TEST_F(EventProcessorTest, StartCreatesTheRequestedRegularThreads)
{
  EXPECT_TRUE(eventProcessor.is_started());
  ASSERT_EQ(eventProcessor.n_threads_for_type(ET_CALL), kThreads);
  EXPECT_EQ(eventProcessor.n_threads_for_type(ET_NET), kThreads);
  EThread *a = net_thread(0), *b = net_thread(1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(a->tt, REGULAR);
  EXPECT_EQ(b->tt, REGULAR);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(net_thread(2), nullptr);
  EXPECT_EQ(net_thread(-1), nullptr);
}

TEST_F(EventProcessorTest, StartWhileStartedFails)
{
  EXPECT_EQ(eventProcessor.start(1), -1);
  EXPECT_EQ(eventProcessor.n_threads_for_type(ET_CALL), kThreads);
}

TEST_F(EventProcessorTest, StartWithoutThreadsFails)
{
  eventProcessor.shutdown();
  EXPECT_EQ(eventProcessor.start(0), -1);
  EXPECT_FALSE(eventProcessor.is_started());
}

TEST_F(EventProcessorTest, ShutdownJoinsEveryThreadAndAllowsStartAgain)
{
  Counter *c = make();
  eventProcessor.schedule_imm(c);
  ASSERT_TRUE(c->waiter.wait_for(1));
  eventProcessor.shutdown();
  EXPECT_FALSE(eventProcessor.is_started());
  EXPECT_EQ(eventProcessor.n_threads_for_type(ET_CALL), 0);
  EXPECT_EQ(eventProcessor.assign_thread(ET_CALL), nullptr);

  ASSERT_EQ(eventProcessor.start(1), 0);
  EXPECT_EQ(eventProcessor.n_threads_for_type(ET_CALL), 1);
  eventProcessor.schedule_imm(c);
  ASSERT_TRUE(c->waiter.wait_for(2));
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(c->last_thread, net_thread(0));
}

TEST_F(EventProcessorTest, ShutdownFreesPendingEventsWithoutCallingThem)
{
  Counter *c = make();
  eventProcessor.schedule_in(c, HRTIME_SECONDS(3600));
  eventProcessor.schedule_at(c, ink_get_hrtime() + HRTIME_SECONDS(3600));
  eventProcessor.schedule_every(c, HRTIME_SECONDS(3600));
  eventProcessor.shutdown();
  EXPECT_EQ(c->calls, 0);
  EXPECT_EQ(c->mutex->refcount(), 1) << "the freed events dropped their references to the mutex";
}

TEST_F(EventProcessorTest, ShutdownRunsHooksFirstInReverseOrderOnce)
{
  std::vector<int> order;
  eventProcessor.add_shutdown_hook([&] {
    EXPECT_TRUE(eventProcessor.is_started()) << "hooks run before the threads stop";
    order.push_back(1);
  });
  eventProcessor.add_shutdown_hook([&] { order.push_back(2); });
  eventProcessor.shutdown();
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
  ASSERT_EQ(eventProcessor.start(1), 0);
  eventProcessor.shutdown();
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
}

TEST_F(EventProcessorTest, AssignThreadIsRoundRobin)
{
  std::vector<EThread *> seen;
  seen.reserve(6);
  for (int i = 0; i < 6; ++i) {
    seen.push_back(eventProcessor.assign_thread(ET_CALL));
  }
  for (int i = 0; i < 6; ++i) {
    ASSERT_NE(seen[i], nullptr);
    EXPECT_EQ(seen[i], seen[i % kThreads]) << "call " << i;
  }
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_TRUE(is_in_group(seen[0], ET_CALL));
  EXPECT_TRUE(is_in_group(seen[1], ET_CALL));
}

TEST_F(EventProcessorTest, AssignThreadOfAnUnknownGroupIsNull)
{
  EXPECT_EQ(eventProcessor.assign_thread(-1), nullptr);
  EXPECT_EQ(eventProcessor.assign_thread(kMaxEventTypes - 1), nullptr);
  EXPECT_EQ(eventProcessor.assign_thread(kMaxEventTypes), nullptr);
}

TEST_F(EventProcessorTest, NThreadsForTypeCountsEachGroupAndZeroForUnknown)
{
  EXPECT_EQ(eventProcessor.n_threads_for_type(ET_CALL), kThreads);
  EXPECT_EQ(eventProcessor.n_threads_for_type(-1), 0);
  EXPECT_EQ(eventProcessor.n_threads_for_type(kMaxEventTypes - 1), 0);
  EventType task = eventProcessor.spawn_event_threads("ET_TASK", 3);
  EXPECT_EQ(eventProcessor.n_threads_for_type(task), 3);
  EXPECT_EQ(eventProcessor.n_threads_for_type(ET_CALL), kThreads);
}

TEST_F(EventProcessorTest, SpawnEventThreadsCreatesANewGroupWithADistinctType)
{
  EventType task  = eventProcessor.spawn_event_threads("ET_TASK", 2);
  EventType other = eventProcessor.spawn_event_threads("ET_OTHER", 1);
  ASSERT_GT(task, ET_CALL);
  ASSERT_GT(other, ET_CALL);
  EXPECT_NE(task, other);
  for (int i = 0; i < 2; ++i) {
    EThread *t = eventProcessor.thread(task, i);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->tt, REGULAR);
    EXPECT_FALSE(is_in_group(t, ET_CALL));
    EXPECT_FALSE(is_in_group(t, other));
  }
}

TEST_F(EventProcessorTest, EventsScheduledOnASpawnedGroupRunOnItsThreads)
{
  EventType task = eventProcessor.spawn_event_threads("ET_TASK", 2);
  ASSERT_GT(task, ET_CALL);
  Counter *c = make();
  std::set<EThread *> threads;
  c->on_call = [&](Counter &, Event *) {
    threads.insert(this_ethread());
    return EVENT_DONE;
  };
  for (int i = 0; i < 10; ++i) {
    eventProcessor.schedule_imm(c, task);
  }
  eventProcessor.schedule_in(c, HRTIME_MSECONDS(1), task);
  ASSERT_TRUE(c->waiter.wait_for(11));
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(threads.size(), 2u) << "round robin over the group";
  for (EThread *t : threads) {
    EXPECT_TRUE(is_in_group(t, task));
  }
  EXPECT_EQ(c->lock_violations, 0);
}

TEST_F(EventProcessorTest, SpawnEventThreadsRejectsBadArguments)
{
  EXPECT_EQ(eventProcessor.spawn_event_threads("ET_TASK", 0), -1);
  EXPECT_EQ(eventProcessor.spawn_event_threads(nullptr, 1), -1);
  EXPECT_EQ(eventProcessor.spawn_event_threads("ET_NET", 1), -1);
}

TEST_F(EventProcessorTest, SpawnThreadRunsADedicatedThreadOnceUnderTheMutex)
{
  Counter *c      = make();
  EThread *ran_on = nullptr;
  ThreadType type = REGULAR;
  c->on_call      = [&](Counter &, Event *) {
    ran_on = this_ethread();
    type   = ran_on ? ran_on->tt : REGULAR;
    return EVENT_DONE;
  };
  Event *e = eventProcessor.spawn_thread(c, "[TEST DEDICATED]");
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(c->waiter.wait_for(1));
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(c->calls, 1);
  EXPECT_EQ(c->lock_violations, 0);
  EXPECT_EQ(c->last_event, EVENT_IMMEDIATE);
  EXPECT_EQ(c->last_event_ptr, e);
  EXPECT_EQ(type, DEDICATED);
  EXPECT_FALSE(is_in_group(ran_on, ET_CALL));
}

TEST_F(EventProcessorTest, SpawnThreadGivesAContinuationWithoutMutexItsOwn)
{
  Counter *c = make(Ptr<ProxyMutex>());
  Event *e   = eventProcessor.spawn_thread(c, "[TEST DEDICATED]");
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(c->waiter.wait_for(1));
  ASSERT_TRUE(c->mutex);
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_NE(c->mutex.get(), net_thread(i)->mutex.get());
  }
  EXPECT_EQ(c->lock_violations, 0);
}

TEST_F(EventProcessorTest, ScheduleFromADedicatedThreadRunsOnTheDefaultGroup)
{
  Counter *target  = make();
  Counter *starter = make();
  starter->on_call = [&](Counter &, Event *) {
    this_ethread()->schedule_imm(target, EVENT_CALL);
    this_ethread()->schedule_in(target, HRTIME_MSECONDS(1), EVENT_CALL);
    return EVENT_DONE;
  };
  ASSERT_NE(eventProcessor.spawn_thread(starter, "[TEST DEDICATED]"), nullptr);
  ASSERT_TRUE(target->waiter.wait_for(2));
  MutexLock lock(target->mutex, nullptr);
  EXPECT_TRUE(is_in_group(target->last_thread, ET_CALL));
  EXPECT_EQ(target->last_event, EVENT_CALL);
  EXPECT_EQ(target->lock_violations, 0);
}

TEST_F(EventProcessorTest, RunOnEachThreadRunsOnEveryThreadOfTheGroupOnThatThreadAndWaits)
{
  EventType task = eventProcessor.spawn_event_threads("ET_TASK", 3);
  for (EventType et : {ET_CALL, task}) {
    std::mutex m;
    std::vector<std::pair<EThread *, EThread *>> runs; // (argument, this_ethread())
    eventProcessor.run_on_each_thread(et, [&](EThread *t) {
      std::lock_guard<std::mutex> guard(m);
      runs.emplace_back(t, this_ethread());
    });
    std::lock_guard<std::mutex> guard(m); // (it already returned: every call is done)
    ASSERT_EQ(runs.size(), static_cast<std::size_t>(eventProcessor.n_threads_for_type(et)));
    std::set<EThread *> distinct;
    for (auto &[arg, current] : runs) {
      EXPECT_EQ(arg, current);
      EXPECT_TRUE(is_in_group(arg, et));
      distinct.insert(arg);
    }
    EXPECT_EQ(distinct.size(), runs.size());
  }
}

TEST_F(EventProcessorTest, RunOnEachThreadOfAnEmptyGroupReturnsAtOnce)
{
  bool called = false;
  eventProcessor.run_on_each_thread(kMaxEventTypes - 1, [&](EThread *) { called = true; });
  EXPECT_FALSE(called);
}

TEST_F(EventProcessorTest, ScheduleOnAGroupWithoutThreadsAborts)
{
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Counter *c = make();
  EXPECT_DEATH(eventProcessor.schedule_imm(c, kMaxEventTypes - 1), "has no threads");
}

// --- scheduling and dispatch ---------------------------------------------------------------------

TEST_F(EventProcessorTest, ScheduleImmRunsOnAnEventThreadWithTheMutexHeld)
{
  Counter *c = make();
  int cookie = 0;
  Event *e   = eventProcessor.schedule_imm(c, ET_CALL, VC_EVENT_READ_READY, &cookie);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(c->waiter.wait_for(1));
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(c->calls, 1);
  EXPECT_EQ(c->lock_violations, 0);
  EXPECT_EQ(c->last_event, VC_EVENT_READ_READY);
  EXPECT_EQ(c->last_event_ptr, e);
  EXPECT_EQ(c->last_cookie, &cookie);
  EXPECT_TRUE(is_in_group(c->last_thread, ET_CALL));
}

TEST_F(EventProcessorTest, CrossThreadScheduleImmWakesASleepingThreadPromptly)
{
  // An idle thread also wakes on its own every kMaxHeartbeat (60 ms), which would run the event
  // just as well. So for this test each thread's waits are stretched to an hour: only the wake-up
  // signal can bring the event in before the generous bound below.
  struct HourLongWaits : TailHandler {
    TailHandler *inner = nullptr;
    void wait_for_activity(ink_hrtime timeout) override { inner->wait_for_activity(timeout > 0 ? HRTIME_SECONDS(3600) : 0); }
  };
  std::vector<HourLongWaits> tails(static_cast<std::size_t>(kThreads));
  auto tail_of = [&](EThread *t) -> HourLongWaits & {
    for (int i = 0; i < kThreads; ++i) {
      if (net_thread(i) == t) {
        return tails[static_cast<std::size_t>(i)];
      }
    }
    std::abort();
  };
  eventProcessor.run_on_each_thread(ET_CALL, [&](EThread *t) {
    tail_of(t).inner = t->tail_handler();
    t->set_tail_handler(&tail_of(t));
  });
  Counter *c       = make();
  ink_hrtime worst = 0;
  for (int i = 1; i <= 20; ++i) {
    const ink_hrtime sent = ink_get_hrtime();
    net_thread(i % kThreads)->schedule_imm(c);
    ASSERT_TRUE(c->waiter.wait_for(i));
    MutexLock lock(c->mutex, nullptr);
    worst = std::max(worst, c->last_time - sent);
  }
  eventProcessor.run_on_each_thread(ET_CALL, [&](EThread *t) { t->set_tail_handler(tail_of(t).inner); });
  RecordProperty("worst_wakeup_us", static_cast<int>(worst / HRTIME_USECONDS(1)));
  EXPECT_LT(worst, HRTIME_SECONDS(5));
}

TEST_F(EventProcessorTest, TimedEventsFireNoEarlierThanTheirDeadline)
{
  Counter *c = make();
  struct Timing {
    ink_hrtime deadline;
    ink_hrtime fired = 0;
  };
  std::vector<Timing> timings(20);
  c->on_call = [](Counter &self, Event *e) {
    static_cast<Timing *>(e->cookie)->fired = self.last_time;
    return EVENT_DONE;
  };
  for (std::size_t i = 0; i < timings.size(); ++i) {
    timings[i].deadline = ink_get_hrtime() + HRTIME_MSECONDS(static_cast<int64_t>(i % 7) * 2);
    if (i % 2) {
      eventProcessor.schedule_at(c, timings[i].deadline, ET_CALL, EVENT_INTERVAL, &timings[i]);
    } else {
      net_thread(static_cast<int>(i % kThreads))->schedule_at(c, timings[i].deadline, EVENT_INTERVAL, &timings[i]);
    }
  }
  ASSERT_TRUE(c->waiter.wait_for(static_cast<int>(timings.size())));
  MutexLock lock(c->mutex, nullptr);
  for (auto &t : timings) {
    EXPECT_GE(t.fired, t.deadline);
  }
}

TEST_F(EventProcessorTest, ScheduleEveryRepeatsUntilCancelledInItsHandler)
{
  Counter *c = make();
  c->on_call = [](Counter &self, Event *e) {
    if (self.calls == 3) {
      e->cancel();
    }
    return EVENT_DONE;
  };
  Event *e = eventProcessor.schedule_every(c, HRTIME_MSECONDS(2), ET_CALL, EVENT_CALL);
  ASSERT_TRUE(c->waiter.wait_for(3));
  EThread *t;
  {
    MutexLock lock(c->mutex, nullptr);
    EXPECT_EQ(c->last_event_ptr, e);
    EXPECT_EQ(c->last_event, EVENT_CALL);
    t = c->last_thread;
  }
  fence(t, ink_get_hrtime() + HRTIME_MSECONDS(10));
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(c->calls, 3);
}

TEST_F(EventProcessorTest, NegativePeriodRunsOnEveryLoopOfItsThread)
{
  Counter *c = make();
  c->on_call = [](Counter &self, Event *e) {
    if (self.calls == 3) {
      e->cancel();
    }
    return EVENT_DONE;
  };
  eventProcessor.schedule_every(c, -1);
  ASSERT_TRUE(c->waiter.wait_for(3));
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(c->lock_violations, 0);
}

TEST_F(EventProcessorTest, ScheduleFromAnEventThreadOntoItsOwnGroupStaysOnThatThread)
{
  Counter *child         = make(Ptr<ProxyMutex>());
  Counter *parent        = make();
  EThread *parent_thread = nullptr;
  parent->on_call        = [&](Counter &, Event *) {
    parent_thread = this_ethread();
    eventProcessor.schedule_imm(child);
    return EVENT_DONE;
  };
  net_thread(1)->schedule_imm(parent);
  ASSERT_TRUE(child->waiter.wait_for(1));
  EXPECT_EQ(parent_thread, net_thread(1));
  EXPECT_EQ(child->last_thread, net_thread(1));
  EXPECT_EQ(child->mutex.get(), net_thread(1)->mutex.get()) << "a lock-less continuation gets the thread's mutex";
  EXPECT_EQ(child->lock_violations, 0);
}

TEST_F(EventProcessorTest, ThisEthreadIsNullOutsideAndTheRunningThreadInside)
{
  EXPECT_EQ(this_ethread(), nullptr);
  for (int i = 0; i < kThreads; ++i) {
    Counter *c = make();
    net_thread(i)->schedule_imm(c);
    ASSERT_TRUE(c->waiter.wait_for(1));
    MutexLock lock(c->mutex, nullptr);
    EXPECT_EQ(c->last_thread, net_thread(i));
  }
  EXPECT_EQ(this_ethread(), nullptr);
}

TEST_F(EventProcessorTest, GetHrtimeIsCachedPerLoopIteration)
{
  Counter *c       = make();
  ink_hrtime first = 0, after_spin = 0, next_iteration = 0;
  c->on_call = [&](Counter &self, Event *e) {
    if (self.calls == 1) {
      first                  = EThread::get_hrtime();
      const ink_hrtime until = first + HRTIME_MSECONDS(2);
      while (ink_get_hrtime() < until) {
        // real time passes inside the handler; the loop's cached time must not move
      }
      after_spin = EThread::get_hrtime();
      e->schedule_imm();
    } else {
      next_iteration = EThread::get_hrtime();
    }
    return EVENT_DONE;
  };
  eventProcessor.schedule_imm(c);
  ASSERT_TRUE(c->waiter.wait_for(2));
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(after_spin, first);
  EXPECT_GE(next_iteration, first + HRTIME_MSECONDS(2));
}

TEST_F(EventProcessorTest, HandlerIsAlwaysCalledWithItsContinuationsMutexHeld)
{
  Counter *c        = make();
  Counter *lockless = make(Ptr<ProxyMutex>());
  c->on_call        = [](Counter &self, Event *e) {
    // Re-schedule one one-shot event from its handler (not the periodic one: schedule_in would
    // make it one-shot and the count below would depend on which event happened to be fifth).
    if (self.calls == 5 && e->period == 0) {
      e->schedule_in(HRTIME_MSECONDS(1));
    }
    return EVENT_DONE;
  };
  for (int i = 0; i < 50; ++i) {
    eventProcessor.schedule_imm(c);
    eventProcessor.schedule_in(c, HRTIME_USECONDS(int64_t{100} * i));
  }
  Event *periodic = nullptr;
  {
    MutexLock lock(c->mutex, nullptr); // also makes the first few events miss the lock and retry
    periodic = eventProcessor.schedule_every(c, HRTIME_MSECONDS(1));
  }
  net_thread(0)->schedule_imm(lockless);
  ASSERT_TRUE(c->waiter.wait_for(110));
  ASSERT_TRUE(lockless->waiter.wait_for(1));
  {
    MutexLock lock(c->mutex, nullptr);
    periodic->cancel();
    EXPECT_EQ(c->lock_violations, 0);
  }
  EXPECT_EQ(lockless->lock_violations, 0);
}

// --- many threads, no event lost or duplicated ---------------------------------------------------

TEST_F(EventProcessorTest, ManyThreadsSchedulingOntoEachOtherLoseAndDuplicateNothing)
{
  constexpr int kProducers   = 4;
  constexpr int kPerProducer = 2000;
  constexpr int kSinks       = 8;
  constexpr int kTotal       = kProducers * kPerProducer * 2; // every event is forwarded once
  EventWaiter received;
  std::vector<std::vector<std::uintptr_t>> ids(kSinks); // ids[s] under sink s's mutex
  std::vector<Counter *> sinks;
  sinks.reserve(kSinks);
  for (int s = 0; s < kSinks; ++s) {
    sinks.push_back(make());
  }
  for (int s = 0; s < kSinks; ++s) {
    sinks[s]->on_call = [&, s](Counter &, Event *e) {
      auto id = reinterpret_cast<std::uintptr_t>(e->cookie);
      ids[s].push_back(id);
      if ((id & 1) == 0) {
        // First hop: forward to the other event thread, to a different sink.
        EThread *other = this_ethread() == net_thread(0) ? net_thread(1) : net_thread(0);
        other->schedule_imm(sinks[(s + 1) % kSinks], EVENT_IMMEDIATE, reinterpret_cast<void *>(id | 1));
      }
      received.notify();
      return EVENT_DONE;
    };
  }
  std::vector<std::thread> producers;
  producers.reserve(kProducers);
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const std::uintptr_t id = (static_cast<std::uintptr_t>(p * kPerProducer + i) + 1) << 1;
        Counter *sink           = sinks[(p + i) % kSinks];
        void *cookie            = reinterpret_cast<void *>(id);
        switch (i % 3) {
        case 0:
          eventProcessor.schedule_imm(sink, ET_CALL, EVENT_IMMEDIATE, cookie);
          break;
        case 1:
          net_thread(i % kThreads)->schedule_imm(sink, EVENT_IMMEDIATE, cookie);
          break;
        default:
          eventProcessor.schedule_in(sink, HRTIME_USECONDS(i % 200), ET_CALL, EVENT_INTERVAL, cookie);
          break;
        }
      }
    });
  }
  for (auto &t : producers) {
    t.join();
  }
  ASSERT_TRUE(received.wait_for(kTotal, std::chrono::seconds(60))) << "received " << received.count() << " of " << kTotal;
  fence_all_past_retries();
  EXPECT_EQ(received.count(), kTotal) << "duplicates arrived late";

  std::vector<std::uintptr_t> all;
  for (int s = 0; s < kSinks; ++s) {
    MutexLock lock(sinks[s]->mutex, nullptr);
    all.insert(all.end(), ids[s].begin(), ids[s].end());
    EXPECT_EQ(sinks[s]->lock_violations, 0);
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kTotal));
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "an event was delivered twice";
  std::size_t k = 0;
  for (int n = 0; n < kProducers * kPerProducer; ++n) {
    const std::uintptr_t id = (static_cast<std::uintptr_t>(n) + 1) << 1;
    ASSERT_EQ(all[k++], id);
    ASSERT_EQ(all[k++], id | 1);
  }
}

// --- cancel and lock races -----------------------------------------------------------------------

TEST_F(EventProcessorTest, CancelFromANonEventThreadHoldingTheMutexPreventsAnyCall)
{
  ScopedAllocatorStrategy heap_events(AllocatorStrategy::kSystem);
  Counter *c = make();
  for (int i = 0; i < 2000; ++i) {
    MutexLock lock(c->mutex, nullptr);
    Event *e = i % 2 ? eventProcessor.schedule_imm(c) : eventProcessor.schedule_in(c, HRTIME_USECONDS(i % 50));
    e->cancel();
  }
  fence_all_past_retries();
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(c->calls, 0);
}

TEST_F(EventProcessorTest, CancelFromTheContinuationsEventThreadPreventsAnyCall)
{
  ScopedAllocatorStrategy heap_events(AllocatorStrategy::kSystem);
  constexpr int kRounds  = 1000;
  Ptr<ProxyMutex> shared = new_ProxyMutex();
  Counter *target        = make(shared);
  Counter *driver        = make(shared);
  driver->on_call        = [&](Counter &self, Event *e) {
    // On thread 0, under the shared mutex: schedule the target on thread 1 and cancel it at once.
    Event *victim =
        self.calls % 2 ? net_thread(1)->schedule_imm(target) : net_thread(1)->schedule_in(target, HRTIME_USECONDS(self.calls % 30));
    victim->cancel();
    if (self.calls < kRounds) {
      e->schedule_imm();
    }
    return EVENT_DONE;
  };
  net_thread(0)->schedule_imm(driver);
  ASSERT_TRUE(driver->waiter.wait_for(kRounds, std::chrono::seconds(60)));
  fence_all_past_retries();
  MutexLock lock(shared, nullptr);
  EXPECT_EQ(target->calls, 0);
  EXPECT_EQ(driver->lock_violations, 0);
}

TEST_F(EventProcessorTest, CancelOfAPeriodicEventFromAnotherThreadStopsItForGood)
{
  ScopedAllocatorStrategy heap_events(AllocatorStrategy::kSystem);
  for (int round = 0; round < 20; ++round) {
    Counter *c   = make();
    bool stopped = false; // under c->mutex
    int late     = 0;
    c->on_call   = [&](Counter &, Event *) {
      late += stopped;
      return EVENT_DONE;
    };
    Event *e = eventProcessor.schedule_every(c, HRTIME_USECONDS(200 + 100 * (round % 5)));
    ASSERT_TRUE(c->waiter.wait_for(3));
    {
      MutexLock lock(c->mutex, nullptr);
      e->cancel();
      stopped = true;
    }
    fence_all_past_retries();
    MutexLock lock(c->mutex, nullptr);
    EXPECT_EQ(late, 0) << "round " << round;
  }
}

TEST_F(EventProcessorTest, BusyMutexIsRetriedAndTheEventRunsAfterRelease)
{
  Counter *c     = make();
  Counter *probe = make();
  EThread *t     = net_thread(0);
  int cookie     = 0;
  {
    MutexLock lock(c->mutex, nullptr);
    t->schedule_imm(c, VC_EVENT_WRITE_READY, &cookie);
    t->schedule_imm(probe); // queued after c: once it ran, c's lock attempt has failed
    ASSERT_TRUE(probe->waiter.wait_for(1));
    EXPECT_EQ(c->calls, 0);
  }
  ASSERT_TRUE(c->waiter.wait_for(1));
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(c->calls, 1);
  EXPECT_EQ(c->lock_violations, 0);
  EXPECT_EQ(c->last_event, VC_EVENT_WRITE_READY);
  EXPECT_EQ(c->last_cookie, &cookie);
  EXPECT_EQ(c->last_thread, t);
}

TEST_F(EventProcessorTest, ContendedMutexAcrossThreadsNeverLosesEvents)
{
  // Two event threads and the test thread fight over one continuation's lock.
  constexpr int kEvents = 2000;
  Counter *c            = make();
  for (int i = 0; i < kEvents; ++i) {
    if (i % 100 == 0) {
      MutexLock lock(c->mutex, nullptr);
      net_thread(i % kThreads)->schedule_imm(c);
    } else {
      net_thread(i % kThreads)->schedule_imm(c);
    }
  }
  ASSERT_TRUE(c->waiter.wait_for(kEvents, std::chrono::seconds(60)));
  fence_all_past_retries();
  MutexLock lock(c->mutex, nullptr);
  EXPECT_EQ(c->calls, kEvents);
  EXPECT_EQ(c->lock_violations, 0);
}
