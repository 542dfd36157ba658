// Session: the base of every client connection's state machine in the `iocore` command (an echo
// or http connection, a proxy tunnel), and SessionRegistry, which knows every live session so that
// SIGTERM can ask them to finish (drain) and, at the drain deadline, close whatever is left.
#pragma once

#include <iocore/iocore.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace iocore_cli {
/// Private event codes sent by the registry to a session (through the event system, so the session
/// receives them on a net thread holding its own mutex).
inline constexpr int kEventDrainStart = iocore::EVENT_USER_BASE + 1; ///< stop taking new work, finish what is in flight
inline constexpr int kEventForceClose = iocore::EVENT_USER_BASE + 2; ///< the drain deadline passed: close now

class Session : public iocore::Continuation
{
public:
  explicit Session(iocore::Ptr<iocore::ProxyMutex> m);
  ~Session() override;

protected:
  /// Call first in the session's handler. True when `event` was a registry event, which it has then
  /// handled (possibly deleting the session): the handler must return EVENT_DONE without touching
  /// `this`.
  [[nodiscard]] bool handle_registry_event(int event);
  /// Leave the registry and delete this session (now, or once registry events already on their way
  /// have arrived). The session must have closed its connections and cancelled its timers; it must
  /// not touch `this` after the call.
  void finish();

  virtual void on_drain_start() = 0;
  virtual void on_force_close() = 0;

private:
  friend class SessionRegistry;
  /// The net thread the session was created on (its connections' thread): registry events are
  /// delivered there, so a session only ever runs on one thread.
  iocore::EThread *_home;
  // All guarded by the registry's mutex. The registry is an intrusive list (no allocation per
  // session): _prev/_next link the live sessions.
  int _registry_events_in_flight = 0;
  bool _finished                 = false;
  Session *_prev                 = nullptr;
  Session *_next                 = nullptr;
};

class SessionRegistry
{
public:
  static SessionRegistry &instance();

  void add(Session *s);
  /// Whether SIGTERM has begun the drain (sessions check it to refuse keep-alive, etc.).
  bool is_draining() const { return _draining.load(std::memory_order_acquire); }
  /// Send kEventDrainStart to every live session.
  void start_drain();
  /// Send kEventForceClose to every live session.
  void force_close_all();
  /// Wait until no session is live and every finished one has been deleted (a finished session
  /// waits for the registry events still on their way to it: shutting the threads down earlier
  /// would drop those events and leak it), or the deadline passes; true if none is left.
  bool wait_until_empty(std::chrono::steady_clock::time_point deadline);
  size_t size() const;

private:
  friend class Session;
  void broadcast(int event);
  /// The session leaves; true if it may be deleted now.
  bool remove(Session *s);
  /// A registry event reached s; returns whether s had already finished, and whether s may now be
  /// deleted.
  void event_arrived(Session *s, bool &finished, bool &deletable);

  mutable std::mutex _mutex;
  std::condition_variable _empty;
  /// The live sessions (linked through Session::_prev/_next) and their number.
  Session *_sessions = nullptr;
  size_t _count      = 0;
  /// Finished sessions not deleted yet: registry events are still on their way to them.
  size_t _awaiting_events = 0;
  std::atomic<bool> _draining{false};
};
} // namespace iocore_cli
