// timers: the event system on its own, no sockets. A periodic event that stops itself, a timer
// cancelled before it fires, events passed between continuations on different threads, and work
// handed to a group of threads of its own with the answer posted back. It checks what happened and
// exits 0 if every step behaved (the test suite runs it; --self-test is accepted and changes nothing).
#include <iocore/iocore.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>

using namespace iocore;

namespace {
// Our own event codes, in the range the library reserves for users.
constexpr int kPing     = EVENT_USER_BASE + 1;
constexpr int kPong     = EVENT_USER_BASE + 2;
constexpr int kWork     = EVENT_USER_BASE + 3;
constexpr int kWorkDone = EVENT_USER_BASE + 4;

bool g_ok = true;

void
check(bool condition, const char *what)
{
  std::printf("%s %s\n", condition ? "ok  " : "FAIL", what);
  g_ok = g_ok && condition;
}

// 1. A periodic event that cancels itself after five ticks. The Event* arrives as `data`; calling
// cancel() on it from its own handler (we hold our mutex) guarantees no sixth call.
class Ticker : public Continuation
{
public:
  Ticker() : Continuation(new_ProxyMutex()) { set_handler(&Ticker::tick); }
  std::promise<int> done;

private:
  int tick(int event, void *data)
  {
    auto *e = static_cast<Event *>(data);
    if (event == EVENT_INTERVAL && ++_ticks == 5) {
      e->cancel();
      done.set_value(_ticks);
    }
    return EVENT_DONE;
  }
  int _ticks = 0;
};

// 2. A one-shot timer and a cancelled one: only the first may fire.
class Alarm : public Continuation
{
public:
  Alarm() : Continuation(new_ProxyMutex()) { set_handler(&Alarm::ring); }
  std::atomic<int> rings{0};
  std::promise<void> rang;

private:
  int ring(int, void *)
  {
    if (++rings == 1) {
      rang.set_value();
    }
    return EVENT_DONE;
  }
};

// 3. Ping-pong between two continuations pinned to two different event threads: each answers the
// other with schedule_imm on the other's thread. `cookie` carries the round number.
class Player : public Continuation
{
public:
  Player(const char *name, EThread *home) : Continuation(new_ProxyMutex()), name(name), home(home) { set_handler(&Player::play); }
  Player *partner = nullptr;
  const char *name;
  EThread *home;
  std::atomic<int> wrong_thread{0};
  std::promise<intptr_t> finished;

private:
  int play(int event, void *data)
  {
    auto *e     = static_cast<Event *>(data);
    auto rounds = reinterpret_cast<intptr_t>(e->cookie);
    if (this_ethread() != home) {
      ++wrong_thread; // never: an event runs on the thread it was scheduled on
    }
    if (rounds == 100) {
      finished.set_value(rounds);
      return EVENT_DONE;
    }
    int answer = event == kPing ? kPong : kPing;
    partner->home->schedule_imm(partner, answer, reinterpret_cast<void *>(rounds + 1));
    return EVENT_DONE;
  }
};

// 4. Work handed to a separate group of threads, the answer posted back to the asking thread.
class Worker : public Continuation
{
public:
  Worker() : Continuation(new_ProxyMutex()) { set_handler(&Worker::work); }

private:
  int work(int, void *data);
};

class Asker : public Continuation
{
public:
  Asker() : Continuation(new_ProxyMutex()) { set_handler(&Asker::handle); }
  EventType workers = -1;
  Worker *worker    = nullptr;
  std::promise<bool> answer;
  EThread *asked_from = nullptr;

private:
  int handle(int event, void *data)
  {
    auto *e = static_cast<Event *>(data);
    if (event == EVENT_IMMEDIATE) { // started: ask a worker to add up 1..1000
      asked_from = this_ethread();
      eventProcessor.schedule_imm(worker, workers, kWork, this);
    } else if (event == kWorkDone) { // the worker's answer, back on our own thread
      answer.set_value(reinterpret_cast<intptr_t>(e->cookie) == 500500 && this_ethread() == asked_from);
    }
    return EVENT_DONE;
  }
};

int
Worker::work(int, void *data)
{
  auto *e      = static_cast<Event *>(data);
  auto *asker  = static_cast<Asker *>(e->cookie);
  intptr_t sum = 0;
  for (intptr_t i = 1; i <= 1000; ++i) {
    sum += i;
  }
  // Post the answer to the thread the question came from, so the asker needs no second lock.
  asker->asked_from->schedule_imm(asker, kWorkDone, reinterpret_cast<void *>(sum));
  return EVENT_DONE;
}

template <class T>
bool
ready(std::future<T> &f)
{
  return f.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
}
} // namespace

int
main()
{
  eventProcessor.start(2); // group ET_CALL (= ET_NET): two threads
  EventType workers = eventProcessor.spawn_event_threads("ET_WORKER", 1);

  Ticker ticker;
  auto ticks = ticker.done.get_future();
  eventProcessor.schedule_every(&ticker, HRTIME_MSECONDS(5));
  check(ready(ticks) && ticks.get() == 5, "a periodic event cancelled from its own handler ran exactly 5 times");

  // Both timers on the same thread: it runs due timers in deadline order, so once the later one
  // has fired, the earlier one would have fired before it had it not been cancelled.
  Alarm alarm, never;
  auto rang     = alarm.rang.get_future();
  EThread *t0   = eventProcessor.thread(ET_CALL, 0);
  Event *doomed = t0->schedule_in(&never, HRTIME_MSECONDS(20));
  {
    // Cancel holding the continuation's mutex: once cancel() returns, it will not be called.
    MutexLock lock(never.mutex, nullptr);
    doomed->cancel();
  }
  t0->schedule_in(&alarm, HRTIME_MSECONDS(40));
  check(ready(rang), "a one-shot timer fired");
  check(alarm.rings == 1 && never.rings == 0, "it fired once; the timer cancelled before it never did");

  Player ping("ping", eventProcessor.thread(ET_CALL, 0));
  Player pong("pong", eventProcessor.thread(ET_CALL, 1));
  ping.partner   = &pong;
  pong.partner   = &ping;
  auto ping_done = ping.finished.get_future();
  auto pong_done = pong.finished.get_future();
  ping.home->schedule_imm(&ping, kPing, reinterpret_cast<void *>(intptr_t{0}));
  // Round 100 lands on ping (even rounds are ping's): pong's promise stays unset.
  check(ready(ping_done) && ping_done.get() == 100 && pong_done.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready,
        "100 events passed between two threads, in order");
  check(ping.wrong_thread == 0 && pong.wrong_thread == 0, "each handler ran on its own thread");

  Worker worker;
  Asker asker;
  asker.workers = workers;
  asker.worker  = &worker;
  auto answer   = asker.answer.get_future();
  eventProcessor.schedule_imm(&asker);
  check(workers > 0 && ready(answer) && answer.get(), "work done on ET_WORKER came back to the asking thread");

  // Stops and joins every thread; events still queued (none here) are freed.
  eventProcessor.shutdown();
  std::printf("timers: %s\n", g_ok ? "ok" : "FAILED");
  return g_ok ? 0 : 1;
}
