// Continuation: a handler plus the mutex that must be held whenever the library calls it. Every
// state machine in iocore (NetHandler, UnixNetVConnection, a user's session) is one.
#pragma once

#include "iocore/eventsystem/EventCodes.h"
#include "iocore/eventsystem/Lock.h"
#include "iocore/eventsystem/Ptr.h"

namespace iocore {
/// A handler plus the mutex that is held whenever the library calls it. Derive from it, point the
/// handler at a member function with set_handler(), and hand the object to the library; every
/// call-back then arrives as handleEvent(event, data) on an event thread, under `mutex`.
class Continuation
{
public:
  /// A handler: a member function taking the event code and its data, returning EVENT_DONE or
  /// EVENT_CONT (see EventCodes.h for what the library does with the value).
  using Handler = int (Continuation::*)(int event, void *data);

  /// A continuation locked by `m`. One without a mutex is given one when it needs it: the thread's
  /// mutex when it is scheduled on an EThread, a new one for connect_re() and spawn_thread(). An
  /// accept continuation without a mutex keeps none: each NET_EVENT_ACCEPT call holds the new
  /// connection's own mutex instead.
  explicit Continuation(Ptr<ProxyMutex> m = {});
  virtual ~Continuation();
  Continuation(const Continuation &)            = delete;
  Continuation &operator=(const Continuation &) = delete;

  /// Replaces ATS's SET_HANDLER / SET_CONTINUATION_HANDLER: the next handleEvent goes to h.
  template <class T> void set_handler(int (T::*h)(int, void *)) { handler = static_cast<Handler>(h); }

  /// Call the current handler. The caller must hold `mutex` (asserted in debug builds) unless the
  /// continuation has none.
  int handleEvent(int event = EVENT_NONE, void *data = nullptr);

  /// The current handler (set_handler() sets it).
  Handler handler = nullptr;
  /// The lock held whenever the library calls handleEvent.
  Ptr<ProxyMutex> mutex;
};
} // namespace iocore
