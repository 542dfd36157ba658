// Continuation: a handler plus the mutex that must be held whenever the library calls it. Every
// state machine in iocore (NetHandler, UnixNetVConnection, a user's session) is one.
#pragma once

#include "iocore/eventsystem/EventCodes.h"
#include "iocore/eventsystem/Lock.h"
#include "iocore/eventsystem/Ptr.h"

namespace iocore {
class Continuation
{
public:
  using Handler = int (Continuation::*)(int event, void *data);

  explicit Continuation(Ptr<ProxyMutex> m = {});
  virtual ~Continuation();
  Continuation(const Continuation &)            = delete;
  Continuation &operator=(const Continuation &) = delete;

  /// Replaces ATS's SET_HANDLER / SET_CONTINUATION_HANDLER: the next handleEvent goes to h.
  template <class T> void set_handler(int (T::*h)(int, void *)) { handler = static_cast<Handler>(h); }

  /// Call the current handler. The caller must hold `mutex` (asserted in debug builds) unless the
  /// continuation has none.
  int handleEvent(int event = EVENT_NONE, void *data = nullptr);

  Handler handler = nullptr;
  /// The lock held whenever the library calls handleEvent.
  Ptr<ProxyMutex> mutex;
};
} // namespace iocore
