// Action: the handle a caller gets back for something scheduled or pending (an Event, an accept, a
// connect), through which it can cancel it.
#pragma once

#include "iocore/eventsystem/Lock.h"
#include "iocore/eventsystem/Ptr.h"

#include <atomic>
#include <cstdint>

namespace iocore {
class Continuation;

class Action
{
public:
  Action() = default;
  Action(const Action &o);
  Action &operator=(const Action &o);
  virtual ~Action() = default;

  /// Cancel the operation. Contract: called by the continuation the action calls back, holding its
  /// mutex; once cancel() returns on that thread, the continuation is not called for this action.
  virtual void cancel(Continuation *c = nullptr);

  /// Point the action at c and adopt c's mutex (nullptr clears both). ATS: `action = cont`.
  Action &operator=(Continuation *c);

  Continuation *continuation = nullptr;
  Ptr<ProxyMutex> mutex;
  std::atomic<bool> cancelled{false};
};

/// Returned by operations that completed inline (the call-back has already happened).
inline Action *const ACTION_RESULT_DONE = reinterpret_cast<Action *>(std::uintptr_t{3});
/// Returned by operations that failed inline.
inline Action *const ACTION_IO_ERROR = reinterpret_cast<Action *>(std::uintptr_t{5});
} // namespace iocore
