// Continuation: dispatch to the current handler, with the lock rule checked in debug builds.
#include "iocore/eventsystem/Continuation.h"

#include <cstdio>
#include <cstdlib>

namespace iocore {
Continuation::Continuation(Ptr<ProxyMutex> m) : mutex(std::move(m)) {}

Continuation::~Continuation() = default;

int
Continuation::handleEvent(int event, void *data)
{
#ifndef NDEBUG
  if (mutex && !mutex->is_held_by_current_thread()) {
    std::fprintf(stderr, "iocore: handleEvent(%s) called without holding the continuation's mutex\n", event_name(event));
    std::abort();
  }
#endif
  return (this->*handler)(event, data);
}
} // namespace iocore
