// CallRecorder: a continuation that records every call an EThread makes to it (event, deadline, loop
// time, thread, whether its mutex was held) and lets the test decide what each call does next.
#pragma once

#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/Event.h"

#include <cstddef>
#include <functional>
#include <vector>

namespace iocore::test {
/// Records every call; on_call, if set, decides what the handler does next and what it returns.
class CallRecorder : public Continuation
{
public:
  struct Call {
    int event;
    Event *e;
    void *cookie;
    ink_hrtime deadline;  // e->timeout_at as the handler saw it
    ink_hrtime loop_time; // EThread::get_hrtime() in the handler
    EThread *thread;
    bool mutex_held; // mutex->thread_holding == this_ethread()
  };

  explicit CallRecorder(Ptr<ProxyMutex> m = {}) : Continuation(std::move(m)) { set_handler(&CallRecorder::handle); }

  int handle(int event, void *data)
  {
    auto *e = static_cast<Event *>(data);
    calls.push_back({event, e, e->cookie, e->timeout_at, EThread::get_hrtime(), this_ethread(),
                     mutex && mutex->thread_holding.load() == this_ethread()});
    return on_call ? on_call(*this, e) : EVENT_DONE;
  }

  std::size_t count() const { return calls.size(); }

  std::vector<Call> calls;
  std::function<int(CallRecorder &, Event *)> on_call;
};
} // namespace iocore::test
