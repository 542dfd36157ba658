// Listener: one listening address of the `iocore` command. It owns the accept Action and hands
// each new connection to a mode's session factory on the connection's own net thread. During the
// drain it refuses (closes) connections that were already on their way when accepting stopped.
#pragma once

#include "Options.h"

#include <iocore/iocore.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace iocore_cli {
/// Where a Listener listens: an address (IP, or a Unix path or abstract name), or a listening
/// socket someone else opened (--listen fd:N, systemd socket activation).
struct ListenTarget {
  iocore::SocketAddress addr;
  std::optional<int> fd;

  /// "127.0.0.1:80", "unix:/run/x.sock", "fd:3".
  std::string to_string() const { return fd ? "fd:" + std::to_string(*fd) : addr.to_string(); }
};

class Listener : public iocore::Continuation
{
public:
  /// Called with NET_EVENT_ACCEPT's connection, on its thread, holding vc->mutex.
  using Factory = std::function<void(iocore::NetVConnection *vc)>;
  /// Called once, on a net thread, when the listening socket failed for good and the listener
  /// stopped (err: the accept() errno).
  using OnFailure = std::function<void(Listener &listener, int err)>;

  Listener(std::string name, Factory factory, OnFailure on_failure = {});

  /// Start listening on `target`, speaking TLS with `tls` when given. False with a message naming
  /// the address (or descriptor) and what is wrong with it.
  bool start(const ListenTarget &target, std::string &error, std::shared_ptr<const iocore::TLSServerContext> tls = nullptr);
  /// The address actually listened on (the real port when asked for port 0, the bound address of
  /// a passed socket).
  /// Read it on the thread that called start().
  const iocore::SocketAddress &bound() const { return _bound; }
  const std::string &name() const { return _name; }
  /// Stop accepting (idempotent). Connections already accepted are not affected.
  void stop();
  /// The listening socket failed for good (the library stopped it).
  bool has_failed() const { return _failed.load(std::memory_order_acquire); }

private:
  int accept_event(int event, void *data);

  std::string _name;
  Factory _factory;
  OnFailure _on_failure;
  iocore::Action *_accept = nullptr;
  iocore::SocketAddress _bound;
  /// Where start() was asked to listen: named by a failure that arrives before _bound is known.
  std::string _target;
  /// Guards _bound against the failure notice, which runs on a net thread and may in principle
  /// come before start() has stored the address (nothing else orders the two).
  mutable std::mutex _bound_lock;
  std::atomic<bool> _stopped{false};
  std::atomic<bool> _failed{false};
};

/// Apply --inactivity-timeout (default kDefaultInactivityTimeout) and --active-timeout to a new
/// client connection.
void apply_client_timeouts(iocore::NetVConnection *vc, const CommonOptions &common);
} // namespace iocore_cli
