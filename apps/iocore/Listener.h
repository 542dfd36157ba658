// Listener: one listening address of the `iocore` command. It owns the accept Action and hands
// each new connection to a mode's session factory on the connection's own net thread. During the
// drain it refuses (closes) connections that were already on their way when accepting stopped.
#pragma once

#include "Options.h"

#include <iocore/iocore.h>

#include <functional>
#include <memory>
#include <string>

namespace iocore_cli {
class Listener : public iocore::Continuation
{
public:
  /// Called with NET_EVENT_ACCEPT's connection, on its thread, holding vc->mutex.
  using Factory = std::function<void(iocore::NetVConnection *vc)>;
  /// Called once, on a net thread, when the listening socket failed for good and the listener
  /// stopped (err: the accept() errno).
  using OnFailure = std::function<void(Listener &listener, int err)>;

  Listener(std::string name, Factory factory, OnFailure on_failure = {});

  /// Start listening on addr, speaking TLS with `tls` when given. False with a message naming the
  /// address and the OS error.
  bool start(const iocore::IpEndpoint &addr, std::string &error, std::shared_ptr<const iocore::TLSServerContext> tls = nullptr);
  /// The address actually bound (the real port when asked for port 0).
  const iocore::IpEndpoint &bound() const { return _bound; }
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
  iocore::IpEndpoint _bound;
  std::atomic<bool> _stopped{false};
  std::atomic<bool> _failed{false};
};

/// Apply --inactivity-timeout (default kDefaultInactivityTimeout) and --active-timeout to a new
/// client connection.
void apply_client_timeouts(iocore::NetVConnection *vc, const CommonOptions &common);
} // namespace iocore_cli
