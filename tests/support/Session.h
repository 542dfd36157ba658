// Session: a scripted connection end for loopback net tests that records every event it gets (with
// the time) and runs a test's reaction to it; SessionServer makes one per accepted connection. The
// common reaction (read, consume, reenable; close at the end) is reading_reaction.
#pragma once

#include "iocore/iocore.h"

#include "support/NetTestHarness.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace iocore::test {
/// A session that records the events it gets (with the time) and runs a scripted reaction.
class Session : public Continuation
{
public:
  using React = std::function<int(Session &, int event, void *data)>;
  explicit Session(React react = {}) : Continuation(new_ProxyMutex()), react(std::move(react)) { set_handler(&Session::handle); }
  ~Session() override
  {
    if (rbuf) {
      free_MIOBuffer(rbuf);
    }
    if (wbuf) {
      free_MIOBuffer(wbuf);
    }
  }

  int handle(int event, void *data)
  {
    {
      std::lock_guard<std::mutex> g(_m);
      _events.push_back(event);
      _times.push_back(std::chrono::steady_clock::now());
    }
    if (event == NET_EVENT_OPEN || event == NET_EVENT_ACCEPT) {
      vc = static_cast<NetVConnection *>(data);
    }
    if (event == NET_EVENT_OPEN_FAILED) {
      open_failed_errno = static_cast<int>(-reinterpret_cast<intptr_t>(data));
    }
    if (event == VC_EVENT_ERROR) {
      error_lerrno = vc->lerrno;
    }
    int r = react ? react(*this, event, data) : EVENT_DONE;
    // Marked seen only once the event's details are stored and the reaction has run: a waiter
    // woken by an earlier notify polls saw() and must never find the event without its errno, or
    // without what the reaction set up (the read VIO of an accepted connection, say).
    if (event >= 0 && event < static_cast<int>(_seen.size())) {
      _seen[event].store(true);
    }
    got.notify();
    return r;
  }

  void close()
  {
    if (vc && !closed) {
      closed = true;
      vc->do_io_close();
    }
  }

  /// Lock-free, so it can be used in EventWaiter predicates.
  bool saw(int event) { return event >= 0 && event < static_cast<int>(_seen.size()) && _seen[event].load(); }
  bool wait_event(int event, std::chrono::milliseconds d = std::chrono::seconds(10))
  {
    return got.wait_until([&] { return saw(event); }, d);
  }
  std::chrono::steady_clock::time_point time_of(int event)
  {
    std::lock_guard<std::mutex> g(_m);
    for (std::size_t i = 0; i < _events.size(); ++i) {
      if (_events[i] == event) {
        return _times[i];
      }
    }
    return {};
  }
  /// When `event` last came no later than `limit` (a default time_point: never).
  std::chrono::steady_clock::time_point last_time_before(int event, std::chrono::steady_clock::time_point limit)
  {
    std::lock_guard<std::mutex> g(_m);
    std::chrono::steady_clock::time_point last{};
    for (std::size_t i = 0; i < _events.size(); ++i) {
      if (_events[i] == event && _times[i] <= limit) {
        last = _times[i];
      }
    }
    return last;
  }
  bool saw_before(int event, std::chrono::steady_clock::time_point limit)
  {
    return last_time_before(event, limit) != std::chrono::steady_clock::time_point{};
  }
  std::vector<int> event_list()
  {
    std::lock_guard<std::mutex> g(_m);
    return _events;
  }

  React react;
  NetVConnection *vc = nullptr;
  MIOBuffer *rbuf    = nullptr;
  IOBufferReader *rr = nullptr;
  MIOBuffer *wbuf    = nullptr;
  IOBufferReader *wr = nullptr;
  VIO *read_vio      = nullptr;
  VIO *write_vio     = nullptr;
  bool closed        = false;
  std::atomic<int> open_failed_errno{0};
  std::atomic<int> error_lerrno{0};
  std::atomic<int64_t> received{0};
  EventWaiter got;

private:
  std::array<std::atomic<bool>, 256> _seen{};
  std::mutex _m;
  std::vector<int> _events;
  std::vector<std::chrono::steady_clock::time_point> _times;
};

/// Server side: one Session per accepted connection, created with `make`.
class SessionServer
{
public:
  explicit SessionServer(std::function<std::unique_ptr<Session>()> make, bool serialised = true)
      : _make(std::move(make)), acceptor(
                                    [this](NetVConnection *vc) {
                                      std::unique_ptr<Session> s = _make();
                                      Session *raw               = s.get();
                                      // Locked before it is published: a test that finds the
                                      // session and takes its lock sees the accept handled.
                                      MutexLock lock(raw->mutex, this_ethread());
                                      {
                                        std::lock_guard<std::mutex> g(_m);
                                        sessions.push_back(std::move(s));
                                      }
                                      raw->handle(NET_EVENT_ACCEPT, vc);
                                    },
                                    serialised)
  {
  }
  Session *session(std::size_t i)
  {
    std::lock_guard<std::mutex> g(_m);
    return i < sessions.size() ? sessions[i].get() : nullptr;
  }
  Session *wait_session(std::size_t i)
  {
    Session *s = nullptr;
    (void)acceptor.accepted.wait_until([&] { return (s = session(i)) != nullptr; });
    return s;
  }

  std::function<std::unique_ptr<Session>()> _make;
  std::mutex _m;
  std::vector<std::unique_ptr<Session>> sessions;
  TestAcceptor acceptor;
};

/// The common reaction: read into a buffer, consuming and reenabling; close on EOS / ERROR / timeout.
inline int
reading_reaction(Session &s, int event, void *)
{
  switch (event) {
  case NET_EVENT_ACCEPT:
  case NET_EVENT_OPEN:
    s.rbuf     = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
    s.rr       = s.rbuf->alloc_reader();
    s.read_vio = s.vc->do_io_read(&s, INT64_MAX, s.rbuf);
    break;
  case VC_EVENT_READ_READY:
    s.received += s.rr->read_avail();
    s.rr->consume(s.rr->read_avail());
    s.read_vio->reenable();
    break;
  case VC_EVENT_EOS:
  case VC_EVENT_ERROR:
  case VC_EVENT_INACTIVITY_TIMEOUT:
  case VC_EVENT_ACTIVE_TIMEOUT:
    s.close();
    break;
  default:
    break;
  }
  return EVENT_DONE;
}

/// A Session with the common reaction; `after_accept` runs once the read has started.
inline std::unique_ptr<Session>
reading_session(const std::function<void(Session &)> &after_accept = {})
{
  return std::make_unique<Session>([after_accept](Session &s, int event, void *data) {
    int r = reading_reaction(s, event, data);
    if (event == NET_EVENT_ACCEPT && after_accept) {
      after_accept(s);
    }
    return r;
  });
}
} // namespace iocore::test
