// Micro benchmarks of the event system: cross-thread wake-up latency (ping-pong between two event
// threads), same-thread schedule+dispatch throughput, timer insert+fire with a large pending heap,
// and the two Event allocator strategies side by side. Figures go to bench/RESULTS.md.
#include "iocore/eventsystem/Clock.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/Event.h"
#include "iocore/eventsystem/EventProcessor.h"

#include "eventsystem/ClassAllocator.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>

using namespace iocore;

namespace {
/// A clock the benchmark moves by hand, so timers become due exactly when it says.
class BenchClock final : public Clock
{
public:
  ink_hrtime now() const override { return _now.load(std::memory_order_relaxed); }
  void advance(ink_hrtime d) { _now.fetch_add(d, std::memory_order_relaxed); }

private:
  std::atomic<ink_hrtime> _now{HRTIME_SECONDS(1000)};
};

/// Never blocks and makes no system call: the hand-driven benchmarks measure the queues, not poll().
class NoWaitTail final : public TailHandler
{
public:
  void wait_for_activity(ink_hrtime) override {}
};

/// The calling thread runs `t` for the lifetime of this object, as an EventProcessor thread would.
class HandDriven
{
public:
  HandDriven()
  {
    t.set_tail_handler(&_tail);
    t.set_current();
    t.mutex->acquire(&t);
  }
  ~HandDriven()
  {
    t.mutex->release();
    EThread::clear_current();
  }
  HandDriven(const HandDriven &)            = delete;
  HandDriven &operator=(const HandDriven &) = delete;

  BenchClock clock;

private:
  NoWaitTail _tail;

public:
  EThread t{REGULAR, 0, &clock};
};

class CountCalls : public Continuation
{
public:
  CountCalls() { set_handler(&CountCalls::handle); }
  int handle(int, void *)
  {
    ++calls;
    return EVENT_DONE;
  }
  std::int64_t calls = 0;
};

class ScopedStrategy
{
public:
  explicit ScopedStrategy(AllocatorStrategy s) : _old(allocator_strategy()) { set_allocator_strategy(s); }
  ~ScopedStrategy() { set_allocator_strategy(_old); }

private:
  AllocatorStrategy _old;
};

AllocatorStrategy
strategy_arg(const benchmark::State &state, int index)
{
  return state.range(index) == 0 ? AllocatorStrategy::kThreadCache : AllocatorStrategy::kSystem;
}

const char *
strategy_name(AllocatorStrategy s)
{
  return s == AllocatorStrategy::kThreadCache ? "kThreadCache" : "kSystem";
}

// --- (a) cross-thread ping-pong ------------------------------------------------------------------

/// Signals the benchmark thread that a batch of hops has finished.
class BatchDone
{
public:
  void reset()
  {
    std::lock_guard<std::mutex> lock(_m);
    _done = false;
  }
  void notify()
  {
    {
      std::lock_guard<std::mutex> lock(_m);
      _done = true;
    }
    _cv.notify_one();
  }
  void wait()
  {
    std::unique_lock<std::mutex> lock(_m);
    _cv.wait(lock, [&] { return _done; });
  }

private:
  std::mutex _m;
  std::condition_variable _cv;
  bool _done = false;
};

/// Each call hands the ball to the peer on the other event thread until the hop budget is spent.
class Player : public Continuation
{
public:
  Player() : Continuation(new_ProxyMutex()) { set_handler(&Player::handle); }
  int handle(int, void *)
  {
    if (hops_left->fetch_sub(1, std::memory_order_relaxed) > 1) {
      peer_thread->schedule_imm(peer);
    } else {
      done->notify();
    }
    return EVENT_DONE;
  }
  Player *peer                         = nullptr;
  EThread *peer_thread                 = nullptr;
  std::atomic<std::int64_t> *hops_left = nullptr;
  BatchDone *done                      = nullptr;
};

void
BM_CrossThreadPingPong(benchmark::State &state)
{
  constexpr std::int64_t kRoundTrips = 1000;
  ScopedStrategy strategy(strategy_arg(state, 0));
  eventProcessor.start(2);
  EThread *t0 = eventProcessor.thread(ET_CALL, 0);
  EThread *t1 = eventProcessor.thread(ET_CALL, 1);
  std::atomic<std::int64_t> hops_left{0};
  BatchDone done;
  Player ping, pong;
  ping.peer        = &pong;
  ping.peer_thread = t1;
  pong.peer        = &ping;
  pong.peer_thread = t0;
  for (Player *p : {&ping, &pong}) {
    p->hops_left = &hops_left;
    p->done      = &done;
  }
  double seconds = 0;
  for (auto _ : state) {
    done.reset();
    hops_left.store(2 * kRoundTrips, std::memory_order_relaxed);
    auto start = std::chrono::steady_clock::now();
    t0->schedule_imm(&ping);
    done.wait();
    const double batch = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(batch);
    seconds += batch;
  }
  eventProcessor.shutdown();
  const double round_trips            = static_cast<double>(state.iterations() * kRoundTrips);
  state.counters["us_per_round_trip"] = seconds * 1e6 / round_trips;
  state.counters["events_per_s"]      = 2 * round_trips / seconds;
  state.SetLabel(strategy_name(strategy_arg(state, 0)));
}
BENCHMARK(BM_CrossThreadPingPong)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);

// --- (b) same-thread schedule_imm_local + dispatch -----------------------------------------------

void
BM_LocalScheduleImmAndDispatch(benchmark::State &state)
{
  const std::int64_t batch = state.range(0);
  HandDriven h;
  CountCalls c;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < batch; ++i) {
      h.t.schedule_imm_local(&c);
    }
    h.t.run_one_iteration(0);
  }
  if (c.calls != state.iterations() * batch) {
    state.SkipWithError("events lost");
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_LocalScheduleImmAndDispatch)->Arg(1)->Arg(64)->Arg(1024);

// --- (c) timers: insert + fire with many pending -------------------------------------------------

void
BM_TimerInsertAndFire(benchmark::State &state)
{
  const std::int64_t pending = state.range(0);
  constexpr int kBatch       = 1000;
  HandDriven h;
  CountCalls far, near;
  for (std::int64_t i = 0; i < pending; ++i) {
    h.t.schedule_at_local(&far, h.clock.now() + HRTIME_SECONDS(3600) + i);
  }
  std::mt19937 rng(1);
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      h.t.schedule_in_local(&near, 1 + static_cast<ink_hrtime>(rng() % HRTIME_MSECONDS(1)));
    }
    h.clock.advance(HRTIME_MSECONDS(1));
    h.t.run_one_iteration(0);
  }
  if (near.calls != state.iterations() * kBatch || far.calls != 0) {
    state.SkipWithError("timers fired wrongly");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["pending"] = static_cast<double>(h.t.pending_events());
}
BENCHMARK(BM_TimerInsertAndFire)->Arg(0)->Arg(100000);

// --- (d) Event allocator strategies --------------------------------------------------------------

void
BM_EventChurnByAllocator(benchmark::State &state)
{
  constexpr int kBatch = 64;
  ScopedStrategy strategy(strategy_arg(state, 0));
  HandDriven h;
  CountCalls c;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      h.t.schedule_imm_local(&c);
    }
    h.t.run_one_iteration(0);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetLabel(strategy_name(strategy_arg(state, 0)));
}
BENCHMARK(BM_EventChurnByAllocator)->Arg(0)->Arg(1);

void
BM_TimerChurnByAllocator(benchmark::State &state)
{
  constexpr int kBatch = 64;
  ScopedStrategy strategy(strategy_arg(state, 0));
  HandDriven h;
  CountCalls c;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      h.t.schedule_in_local(&c, HRTIME_USECONDS(i));
    }
    h.clock.advance(HRTIME_MSECONDS(1));
    h.t.run_one_iteration(0);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetLabel(strategy_name(strategy_arg(state, 0)));
}
BENCHMARK(BM_TimerChurnByAllocator)->Arg(0)->Arg(1);
} // namespace
