// Event: one scheduled call of continuation->handleEvent on one EThread. The thread owns the Event:
// it frees a one-shot event after its handler returns (unless the handler re-scheduled it) and a
// cancelled event when it reaches it. Users hold Event* only to cancel or re-schedule.
#pragma once

#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/EventCodes.h"
#include "iocore/eventsystem/Time.h"

#include <cstddef>
#include <cstdint>

namespace iocore {
class EThread;

/// One scheduled call of continuation->handleEvent(callback_event, this) on the EThread `ethread`.
/// Created by the schedule_* functions of EThread and EventProcessor, owned by that thread.
class Event : public Action
{
public:
  /// Re-schedule this same event on its own thread. Call only on that thread (typically from the
  /// event's own handler), holding the continuation's mutex.
  void schedule_imm(int callback_event = EVENT_IMMEDIATE);
  /// Re-schedule for the absolute time `at` of the thread's clock (same rules as schedule_imm).
  void schedule_at(ink_hrtime at, int callback_event = EVENT_INTERVAL);
  /// Re-schedule `in` nanoseconds from now (same rules as schedule_imm).
  void schedule_in(ink_hrtime in, int callback_event = EVENT_INTERVAL);
  /// period > 0: every period; period < 0: once per loop iteration.
  void schedule_every(ink_hrtime period, int callback_event = EVENT_INTERVAL);

  /// Cancel (Action's contract). On the event's own thread a pending timer is released at once:
  /// the pointer must not be used afterwards.
  void cancel(Continuation *c = nullptr) override;

  /// The thread the event is queued on and runs on.
  EThread *ethread = nullptr;
  /// The event code the handler receives.
  int callback_event = EVENT_NONE;
  /// The caller's own value, passed to schedule_*; the library never looks at it.
  void *cookie = nullptr;
  /// Absolute deadline; 0 = immediate; negative = run every loop iteration.
  ink_hrtime timeout_at = 0;
  /// 0 one-shot; > 0 periodic; < 0 every loop iteration.
  ink_hrtime period = 0;

private:
  friend class EThread;
  // The owning EThread's bookkeeping of its queues; only EThread reads or writes it.
  struct QueueLinks {
    Event *next            = nullptr;  // external stack / local FIFO link
    std::size_t heap_index = SIZE_MAX; // position in the timer heap, SIZE_MAX when absent
    std::uint64_t seq      = 0;        // FIFO tie-break for equal deadlines
    bool in_external_queue = false;
    bool in_local_queue    = false;
    bool in_negative_queue = false;
  } _q;

  bool is_queued() const { return _q.in_external_queue || _q.in_local_queue || _q.in_negative_queue || _q.heap_index != SIZE_MAX; }
};
} // namespace iocore
