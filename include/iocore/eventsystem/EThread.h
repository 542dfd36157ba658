// EThread: one event loop on one OS thread. Each iteration it takes the events other threads pushed
// onto its atomic external queue, runs immediate and due timed events (each under its
// continuation's mutex, retried shortly if that lock is busy), runs the every-loop events, then
// calls its tail handler, which waits for the next deadline or a wake-up. For net threads the tail
// handler is the NetHandler, which waits in epoll.
#pragma once

#include "iocore/eventsystem/Clock.h"
#include "iocore/eventsystem/Event.h"
#include "iocore/eventsystem/Lock.h"
#include "iocore/eventsystem/Time.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace iocore {
class Continuation;

/// What an EThread runs: REGULAR an event loop, DEDICATED one continuation (blocking work such as
/// an accept loop) and nothing else.
enum ThreadType { REGULAR, DEDICATED };

/// What an EThread calls at the end of each loop iteration to wait for work. The default one waits
/// on the thread's eventfd; the NetHandler waits in epoll (where that eventfd is also registered).
class TailHandler
{
public:
  virtual ~TailHandler() = default;
  /// Wait at most `timeout` (0: do not block) for activity, and do whatever work arrived.
  virtual void wait_for_activity(ink_hrtime timeout) = 0;
};

/// One event loop on one OS thread (see the top of this file for what an iteration does).
/// Everything scheduled on an EThread runs on that OS thread, one handler at a time.
class EThread
{
public:
  /// An event thread object. REGULAR threads are normally created by EventProcessor::start(); a test
  /// may create one on its own stack and drive it with run_one_iteration() and a manual clock.
  explicit EThread(ThreadType type = REGULAR, int id = -1, Clock *clock = nullptr);
  ~EThread();
  EThread(const EThread &)            = delete;
  EThread &operator=(const EThread &) = delete;

  /// @name Scheduling, from any thread
  /// @{

  /// Queue a call of c->handleEvent(callback_event, event) on this thread: now (imm), at an absolute
  /// time of this thread's clock (at), after a delay (in), or repeatedly (every: period > 0 after
  /// each period, period < 0 once per loop iteration). The returned Event is owned by the thread;
  /// keep it only to cancel or re-schedule it. A continuation without a mutex is given this thread's
  /// mutex (as in ATS). Work scheduled on a DEDICATED thread goes to a thread of group ET_CALL.
  Event *schedule_imm(Continuation *c, int callback_event = EVENT_IMMEDIATE, void *cookie = nullptr);
  Event *schedule_at(Continuation *c, ink_hrtime at, int callback_event = EVENT_INTERVAL, void *cookie = nullptr);
  Event *schedule_in(Continuation *c, ink_hrtime in, int callback_event = EVENT_INTERVAL, void *cookie = nullptr);
  Event *schedule_every(Continuation *c, ink_hrtime period, int callback_event = EVENT_INTERVAL, void *cookie = nullptr);
  /// @}

  /// @name Scheduling from this thread itself
  /// @{

  /// As the schedule_* above, for a caller running on this thread (aborts otherwise): the event
  /// goes onto the thread's local queues without atomics or a wake-up.
  Event *schedule_imm_local(Continuation *c, int callback_event = EVENT_IMMEDIATE, void *cookie = nullptr);
  Event *schedule_at_local(Continuation *c, ink_hrtime at, int callback_event = EVENT_INTERVAL, void *cookie = nullptr);
  Event *schedule_in_local(Continuation *c, ink_hrtime in, int callback_event = EVENT_INTERVAL, void *cookie = nullptr);
  Event *schedule_every_local(Continuation *c, ink_hrtime period, int callback_event = EVENT_INTERVAL, void *cookie = nullptr);
  /// @}

  /// Queue an already-filled Event (ethread, continuation, timeout_at, period set). Any thread.
  Event *schedule(Event *e);

  /// The cached "now" of the calling thread's loop (refreshed every iteration); on a thread that is
  /// not an event thread, a fresh ink_get_hrtime().
  static ink_hrtime get_hrtime();
  /// Re-read the calling thread's clock into that cache and return it (a fresh ink_get_hrtime() off
  /// an event thread). A tail handler calls it when it wakes from its wait, so that call-backs it
  /// runs do not stamp times from before the sleep.
  static ink_hrtime get_hrtime_updated();
  /// This thread's clock, read fresh.
  ink_hrtime now() const { return _clock->now(); }
  /// The clock this thread's timers run on.
  Clock &clock() const { return *_clock; }

  /// The thread's own mutex, held by the thread for its whole life: continuations given it by
  /// schedule_* run serialised on this thread.
  Ptr<ProxyMutex> mutex;
  /// REGULAR (runs an event loop) or DEDICATED (runs one continuation, see EventProcessor::spawn_thread).
  ThreadType tt;
  /// A number unique among the threads EventProcessor started (-1 for a hand-made thread).
  int id;

  // --- Loop control (library and tests) ---------------------------------------------------------
  /// One loop iteration: external queue, immediate, due timed and every-loop events, then the tail
  /// handler with a wait of at most `max_wait` (0 = poll without blocking).
  void run_one_iteration(ink_hrtime max_wait);
  /// Run iterations until stop() is called. Used by EventProcessor's OS threads.
  void execute();
  /// Ask the loop to return from execute() after the current iteration. Any thread.
  void stop();
  /// Whether stop() was called.
  bool is_stopping() const { return _stop.load(std::memory_order_acquire); }

  /// Wake the loop if it is waiting (writes the thread's eventfd). Any thread.
  void signal_activity();
  /// The eventfd that signal_activity() writes; a tail handler that polls must watch it and call
  /// drain_signal() when it becomes readable.
  int signal_fd() const { return _evfd; }
  /// Empty the eventfd after it became readable (a tail handler's job).
  void drain_signal();

  /// Make h the tail handler (nullptr: back to the default one, which waits on the eventfd). The
  /// thread does not own h.
  void set_tail_handler(TailHandler *h);
  /// The current tail handler.
  TailHandler *tail_handler() const { return _tail; }

  /// Mark the calling OS thread as running this EThread (this_ethread() returns it). Used by the
  /// thread start routine and by tests that drive an EThread by hand.
  void set_current();
  /// Undo set_current(): this_ethread() returns nullptr on the calling OS thread again.
  static void clear_current();

  /// Per-thread extension data (the net layer keeps its NetHandler here). Keys come from
  /// register_local_data_key(); destroy runs when the EThread is destroyed.
  static int register_local_data_key();
  /// Store data under key; destroy(data) runs when the EThread is destroyed. This thread only.
  void set_local_data(int key, void *data, void (*destroy)(void *));
  /// The data stored under key, nullptr if none.
  void *local_data(int key) const;

  /// Number of events waiting in any queue (test and diagnostics; this thread only).
  std::size_t pending_events() const;

  /// The OS thread's name ("[ET_NET 0]", "[ACCEPT 0:8080]", ...).
  std::string name;
  /// For DEDICATED threads: the event whose continuation the thread runs once.
  Event *start_event = nullptr;

private:
  friend class Event;
  void enqueue_local(Event *e);
  void requeue(Event *e, ink_hrtime at);
  void drop_cancelled_timer(Event *e);
  bool is_dispatching(const Event *e) const { return _dispatching == e; }
  void process_external_queue();
  void process_event(Event *e, int code);
  void run_immediate();
  void run_due_timers();
  void run_negative();
  ink_hrtime compute_wait(ink_hrtime max_wait) const;
  static bool is_earlier(const Event *a, const Event *b);
  void heap_push(Event *e);
  void heap_remove(Event *e);
  void heap_sift_up(std::size_t i);
  void heap_sift_down(std::size_t i);
  void free_event(Event *e);
  Event *make_event(Continuation *c, int callback_event, void *cookie);
  void assert_current() const;

  Clock *_clock;
  std::atomic<Event *> _external_head{nullptr};
  Event *_local_head = nullptr;
  Event *_local_tail = nullptr;
  std::vector<Event *> _heap;
  std::vector<Event *> _negative;
  std::uint64_t _seq   = 0;
  ink_hrtime _loop_now = 0;
  Event *_dispatching  = nullptr; // the event whose handler is running now
  std::atomic<bool> _stop{false};
  int _evfd          = -1;
  TailHandler *_tail = nullptr;
  std::unique_ptr<TailHandler> _default_tail;
  struct LocalData {
    void *data              = nullptr;
    void (*destroy)(void *) = nullptr;
  };
  std::vector<LocalData> _local_data;
};

/// The EThread running on the calling OS thread, nullptr outside event threads.
EThread *this_ethread();

/// How long an event whose continuation's lock was busy waits before it is tried again
/// (ATS: DELAY_FOR_RETRY / net_retry_delay).
inline constexpr ink_hrtime kLockRetryDelay = HRTIME_MSECONDS(10);
/// The longest an event loop sleeps without checking its queues (ATS: THREAD_MAX_HEARTBEAT_MSECONDS).
inline constexpr ink_hrtime kMaxHeartbeat = HRTIME_MSECONDS(60);
} // namespace iocore
