// Action: the cancellable handle of a pending operation.
#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/Continuation.h"

namespace iocore {
Action::Action(const Action &o) : continuation(o.continuation), mutex(o.mutex), cancelled(o.cancelled.load()) {}

Action &
Action::operator=(const Action &o)
{
  if (this == &o) {
    return *this;
  }
  continuation = o.continuation;
  mutex        = o.mutex;
  cancelled.store(o.cancelled.load());
  return *this;
}

void
Action::cancel(Continuation *c)
{
  (void)c;
  cancelled.store(true, std::memory_order_release);
}

Action &
Action::operator=(Continuation *c)
{
  continuation = c;
  if (c) {
    mutex = c->mutex;
  } else {
    mutex.clear();
  }
  return *this;
}
} // namespace iocore
