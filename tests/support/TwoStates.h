// TwoStates: a continuation with two handlers, the first switching to the second, that records what
// each call got; the Continuation and Action unit tests use it.
#pragma once

#include "iocore/eventsystem/Continuation.h"

namespace iocore::test {
class TwoStates : public Continuation
{
public:
  explicit TwoStates(Ptr<ProxyMutex> m = {}) : Continuation(std::move(m)) { set_handler(&TwoStates::first); }

  int first(int event, void *data)
  {
    last_event = event;
    last_data  = data;
    ++first_calls;
    set_handler(&TwoStates::second);
    return 42;
  }

  int second(int event, void *data)
  {
    last_event = event;
    last_data  = data;
    ++second_calls;
    return EVENT_DONE;
  }

  int first_calls  = 0;
  int second_calls = 0;
  int last_event   = -1;
  void *last_data  = nullptr;
};
} // namespace iocore::test
