// NetAccept: a listening socket and what it does with each connection. Two modes (chosen by
// AcceptOptions::accept_threads): one non-blocking SO_REUSEPORT socket per ET_NET thread, polled by
// that thread's NetHandler; or DEDICATED threads blocking in accept() on one socket and handing each
// connection to a net thread round-robin. A Unix-domain or adopted listener is one socket, polled
// by one net thread that spreads the connections round-robin. AcceptGroup is the Action returned by accept(): it owns
// the NetAccepts, reports the port and stops listening on cancel().
#pragma once

#include "iocore/eventsystem/Continuation.h"
#include "iocore/net/NetProcessor.h"

#include "net/EventIO.h"
#include "net/UnixSocketFile.h"

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

namespace iocore {
class NetHandler;
class AcceptGroup;
class UnixNetVConnection;

class NetAccept : public Continuation
{
public:
  NetAccept(AcceptGroup &group, int fd, EThread *owner);
  ~NetAccept() override;

  /// Per-thread mode: accept until EAGAIN, the connection limit, or an fd shortage (NetHandler pass,
  /// NetHandler mutex held).
  void accept_ready_connections(NetHandler &nh);
  /// Per-thread mode: timer after a pause (fd shortage or connection limit), and the cancel request.
  int retryEvent(int event, void *data);
  /// Dedicated mode: the blocking accept loop (runs until the group is cancelled).
  int acceptLoopEvent(int event, void *data);

  AcceptGroup &group;
  int fd;
  EThread *owner; ///< the net thread polling fd (per-thread mode), nullptr for dedicated mode
  EventIO ep;
  /// fd is in the owner's poller. Set by the thread that calls accept() (before registering: the
  /// owner may fail and stop the socket as soon as it is registered), read by the owner.
  std::atomic<bool> registered{false};
  /// Per-thread mode with one socket for all threads (Unix-domain or adopted listeners): hand the
  /// connections to the group's threads round-robin instead of keeping them on `owner`.
  bool spread  = false;
  Event *retry = nullptr;

private:
  /// Take one new socket into the net layer; false if the accept loop should stop.
  void start_connection(int sock, const sockaddr *peer, socklen_t peer_len, EThread *t);
  /// Log and count an accept() failure; true if accepting should pause.
  bool handle_accept_error(int err);
  bool over_connection_limit() const;
  bool has_pending_connection() const;
};

class AcceptGroup : public Action
{
public:
  AcceptGroup(Continuation *cont, const NetProcessor::AcceptOptions &opt, bool tls);
  ~AcceptGroup() override;
  void cancel(Continuation *c = nullptr) override;

  NetProcessor::AcceptOptions opt;
  int port = 0;
  /// The address listened on (getsockname of the socket).
  SocketAddress bound;
  /// The socket file of a Unix-domain listener on a path, removed when the sockets stop.
  std::optional<UnixSocketFile> socket_file;
  bool tls = false;
  std::vector<std::unique_ptr<NetAccept>> accepts;
  /// Dedicated mode: the one blocking socket all accept threads share (-1 in per-thread mode).
  int shared_fd = -1;
  /// Creates the VC for a new connection (SSLNetVConnection for TLS listeners).
  UnixNetVConnection *(*vc_factory)(const AcceptGroup &) = nullptr;
  UnixNetVConnection *new_vc();
  /// True while an fd-shortage episode lasts (logged once per episode).
  std::atomic<bool> in_error_episode{false};

  /// Neither cancelled by its owner nor failed.
  bool is_listening() const { return !cancelled.load(std::memory_order_acquire) && !_failed.load(std::memory_order_acquire); }
  /// A listening socket of the group failed for good (accept() error `err` that no retry can
  /// mend): stop every socket of the group, count and log it, and call the acceptor once with
  /// EVENT_ERROR (data: -err) on thread t (any net thread when null). Callable from any thread.
  void fail(int err, EThread *t);

private:
  /// Delivers the failure to the acceptor under its mutex (a member, so no event is ever left
  /// pointing at freed memory when the group outlives the threads).
  class FailureNotice : public Continuation
  {
  public:
    FailureNotice(AcceptGroup &g, Continuation *acceptor);
    int deliver(int event, void *data);
    AcceptGroup &group;
    int err = 0;
  };

  /// Close the listening sockets, each on its own thread (dedicated mode: wake the accept threads).
  void stop_sockets();

  std::atomic<bool> _failed{false};
  FailureNotice _failure_notice;
};
} // namespace iocore
