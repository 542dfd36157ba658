// EventProcessor: the process's groups of event threads. Group ET_CALL (= ET_NET) is created by
// start(); more groups by spawn_event_threads(); DEDICATED threads by spawn_thread().
#pragma once

#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/Event.h"

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace iocore {
/// A group of event threads, as returned by spawn_event_threads().
using EventType                     = int;
inline constexpr EventType ET_CALL  = 0; ///< the default group
inline constexpr EventType ET_NET   = 0; ///< net threads are the default group
inline constexpr int kMaxEventTypes = 8; ///< groups per process, ET_NET included

/// The process's event threads, in groups. Start it once with start(), schedule onto a group from
/// any thread, and shutdown() at the end. The one instance is `eventProcessor`.
class EventProcessor
{
public:
  EventProcessor();
  ~EventProcessor();

  /// Spawn n REGULAR threads as group ET_CALL/ET_NET. Returns 0 on success, -1 if already started or
  /// n < 1.
  int start(int n_net_threads, std::size_t stacksize = 0);
  /// A new group of n REGULAR threads; returns its EventType, or -1.
  EventType spawn_event_threads(const char *name, int n_threads, std::size_t stacksize = 0);
  /// A DEDICATED thread that calls c->handleEvent(EVENT_IMMEDIATE, event) once, under c's mutex,
  /// and exits when it returns. The returned Event is owned by the processor.
  Event *spawn_thread(Continuation *c, const char *name);

  /// @name Scheduling onto a group, from any thread
  /// @{

  /// As EThread's schedule_*, on a thread of group et: the calling thread when it belongs to the
  /// group (no hand-over), else the next one round-robin. Aborts if the group has no threads (not
  /// started). Times are of the process's monotonic clock (ink_get_hrtime()).
  Event *schedule_imm(Continuation *c, EventType et = ET_CALL, int callback_event = EVENT_IMMEDIATE, void *cookie = nullptr);
  Event *schedule_at(Continuation *c, ink_hrtime at, EventType et = ET_CALL, int callback_event = EVENT_INTERVAL,
                     void *cookie = nullptr);
  Event *schedule_in(Continuation *c, ink_hrtime in, EventType et = ET_CALL, int callback_event = EVENT_INTERVAL,
                     void *cookie = nullptr);
  Event *schedule_every(Continuation *c, ink_hrtime period, EventType et = ET_CALL, int callback_event = EVENT_INTERVAL,
                        void *cookie = nullptr);
  /// @}

  /// Round-robin choice of a thread of group et (nullptr if the group has none).
  EThread *assign_thread(EventType et);
  /// How many threads group et has (0 for an unknown group).
  int n_threads_for_type(EventType et) const;
  /// Thread i of group et.
  EThread *thread(EventType et, int i) const;
  /// Whether start() ran (and shutdown() has not).
  bool is_started() const { return _started.load(std::memory_order_acquire); }

  /// Run fn on every thread of group et, on that thread, and wait until all have run it. Used by
  /// NetProcessor::start() to install a NetHandler on each net thread. Not from an event thread.
  void run_on_each_thread(EventType et, const std::function<void(EThread *)> &fn);

  /// Called first by shutdown(), in reverse order of registration (the net layer closes its
  /// listeners so that DEDICATED accept threads return).
  void add_shutdown_hook(std::function<void()> hook);

  /// Stop and join every thread this processor started, free their pending events, and return to
  /// the state before start() (start() may be called again). Not from an event thread.
  void shutdown();

private:
  struct Group {
    std::string name;
    std::vector<std::unique_ptr<EThread>> threads;
    std::atomic<unsigned> next{0};
  };
  struct OsThread;
  EventType add_group(const char *name, int n, std::size_t stacksize);
  Event *schedule_on(EventType et, Continuation *c, ink_hrtime at, ink_hrtime period, int callback_event, void *cookie);

  mutable std::mutex _mutex;
  std::atomic<bool> _started{false};
  Group _groups[kMaxEventTypes];
  std::atomic<int> _n_groups{0};
  std::vector<std::unique_ptr<OsThread>> _os_threads;
  std::vector<std::unique_ptr<EThread>> _dedicated;
  std::vector<std::function<void()>> _shutdown_hooks;
  int _next_thread_id = 0;
};

/// The process's event processor.
extern EventProcessor eventProcessor;
} // namespace iocore
