// Session lifetime across the registry's broadcasts. The registry schedules an event at a session
// from the main thread; the session may finish before that event runs, so it is deleted only when
// no registry event is still on its way (counted under the registry's mutex).
#include "Session.h"

#include "Stats.h"

namespace iocore_cli {
Session::Session(iocore::Ptr<iocore::ProxyMutex> m) : Continuation(std::move(m)), _home(iocore::this_ethread())
{
  stat_add(app_stats().active_sessions);
}

Session::~Session()
{
  stat_add(app_stats().active_sessions, -1);
}

bool
Session::handle_registry_event(int event)
{
  if (event != kEventDrainStart && event != kEventForceClose) {
    return false;
  }
  bool finished  = false;
  bool deletable = false;
  SessionRegistry::instance().event_arrived(this, finished, deletable);
  if (finished) {
    if (deletable) {
      delete this;
    }
    return true;
  }
  if (event == kEventDrainStart) {
    on_drain_start();
  } else {
    on_force_close();
  }
  return true;
}

void
Session::finish()
{
  if (SessionRegistry::instance().remove(this)) {
    delete this;
  }
}

SessionRegistry &
SessionRegistry::instance()
{
  static SessionRegistry registry;
  return registry;
}

void
SessionRegistry::add(Session *s)
{
  std::lock_guard<std::mutex> guard(_mutex);
  s->_prev = nullptr;
  s->_next = _sessions;
  if (_sessions != nullptr) {
    _sessions->_prev = s;
  }
  _sessions = s;
  ++_count;
}

bool
SessionRegistry::remove(Session *s)
{
  std::lock_guard<std::mutex> guard(_mutex);
  if (s->_prev != nullptr) {
    s->_prev->_next = s->_next;
  } else {
    _sessions = s->_next;
  }
  if (s->_next != nullptr) {
    s->_next->_prev = s->_prev;
  }
  s->_prev = s->_next = nullptr;
  --_count;
  s->_finished   = true;
  bool deletable = s->_registry_events_in_flight == 0;
  if (!deletable) {
    ++_awaiting_events; // deleted when the last event arrives (event_arrived)
  }
  if (_count == 0 && _awaiting_events == 0) {
    _empty.notify_all();
  }
  return deletable;
}

void
SessionRegistry::event_arrived(Session *s, bool &finished, bool &deletable)
{
  std::lock_guard<std::mutex> guard(_mutex);
  --s->_registry_events_in_flight;
  finished  = s->_finished;
  deletable = s->_registry_events_in_flight == 0;
  if (finished && deletable && --_awaiting_events == 0 && _count == 0) {
    _empty.notify_all(); // the caller deletes s before its thread can be stopped (threads are joined)
  }
}

void
SessionRegistry::broadcast(int event)
{
  std::lock_guard<std::mutex> guard(_mutex);
  for (Session *s = _sessions; s != nullptr; s = s->_next) {
    ++s->_registry_events_in_flight;
    if (s->_home != nullptr) {
      s->_home->schedule_imm(s, event);
    } else {
      iocore::eventProcessor.schedule_imm(s, iocore::ET_NET, event);
    }
  }
}

void
SessionRegistry::start_drain()
{
  _draining.store(true, std::memory_order_release);
  broadcast(kEventDrainStart);
}

void
SessionRegistry::force_close_all()
{
  broadcast(kEventForceClose);
}

bool
SessionRegistry::wait_until_empty(std::chrono::steady_clock::time_point deadline)
{
  std::unique_lock<std::mutex> lock(_mutex);
  return _empty.wait_until(lock, deadline, [this] { return _count == 0 && _awaiting_events == 0; });
}

size_t
SessionRegistry::size() const
{
  std::lock_guard<std::mutex> guard(_mutex);
  return _count;
}
} // namespace iocore_cli
