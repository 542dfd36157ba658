// Action: the handle a caller gets back for something scheduled or pending (an Event, an accept, a
// connect), through which it can cancel it.
#pragma once

#include "iocore/eventsystem/Lock.h"
#include "iocore/eventsystem/Ptr.h"

#include <atomic>
#include <cstdint>

namespace iocore {
class Continuation;

/// A handle on a pending operation (a scheduled Event, a listener, a connect in progress) through
/// which its caller can cancel it. The library owns every Action it returns; the caller never
/// deletes one. Replaces ATS's Action with the same fields.
class Action
{
public:
  Action() = default;
  /// Copies the continuation, the mutex and the cancelled flag.
  Action(const Action &o);
  /// Copies the continuation, the mutex and the cancelled flag.
  Action &operator=(const Action &o);
  virtual ~Action() = default;

  /// Cancel the operation. Contract: called by the continuation the action calls back, holding its
  /// mutex; once cancel() returns on that thread, the continuation is not called for this action.
  virtual void cancel(Continuation *c = nullptr);

  /// Point the action at c and adopt c's mutex (nullptr clears both). ATS: `action = cont`.
  Action &operator=(Continuation *c);

  /// The continuation the operation calls back.
  Continuation *continuation = nullptr;
  /// The continuation's mutex at the time the action was set up (held for the call-back).
  Ptr<ProxyMutex> mutex;
  /// Set by cancel(); the operation checks it (under `mutex`) before calling back.
  std::atomic<bool> cancelled{false};
};

/// Returned by operations that completed inline (the call-back has already happened).
inline Action *const ACTION_RESULT_DONE = reinterpret_cast<Action *>(std::uintptr_t{3});
/// ATS's result for an operation that failed inline. No iocore call returns it: accept() returns
/// nullptr when it cannot listen, connect_re() reports a failure as NET_EVENT_OPEN_FAILED. Kept
/// so that code ported from ATS which compares against it compiles.
inline Action *const ACTION_IO_ERROR = reinterpret_cast<Action *>(std::uintptr_t{5});
} // namespace iocore
