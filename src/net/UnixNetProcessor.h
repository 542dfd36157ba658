// UnixNetProcessor: netProcessor's implementation — installs the per-thread NetHandlers, opens
// listeners (NetAccept) and starts outgoing connections (connect_re).
#pragma once

#include "iocore/net/NetProcessor.h"

#include <memory>
#include <mutex>
#include <vector>

namespace iocore {
class AcceptGroup;
class UnixNetVConnection;

class UnixNetProcessor : public NetProcessor
{
public:
  UnixNetProcessor();
  ~UnixNetProcessor() override;

  Action *accept(Continuation *cont, const AcceptOptions &opt) override;
  Action *connect_re(Continuation *cont, const sockaddr *addr, const NetVCOptions *opt = nullptr) override;
  Action *adopt_fd(Continuation *cont, int fd, const NetVCOptions *opt = nullptr) override;
  int start(int n_net_threads_unused = 0) override;

protected:
  /// The connection object for this processor's connections (TLS subclasses return theirs).
  virtual UnixNetVConnection *allocate_vc();
  virtual bool is_tls() const { return false; }
  /// Accept with an explicit VC factory (used by the TLS processor).
  Action *accept_internal(Continuation *cont, const AcceptOptions &opt, UnixNetVConnection *(*factory)(const AcceptGroup &));
  /// connect_re on a VC allocated by the caller.
  Action *connect_vc(Continuation *cont, UnixNetVConnection *vc, const sockaddr *addr, const NetVCOptions *opt);

private:
  /// The address AcceptOptions asks to listen on (IP, or a Unix path / abstract name). 0 or -errno.
  static int listen_address(const AcceptOptions &opt, SocketAddress &addr);
  /// The three ways of listening (see AcceptOptions): DEDICATED blocking threads on one socket; one
  /// socket (Unix-domain or adopted) polled by one net thread; one SO_REUSEPORT socket per thread.
  static int start_dedicated_accept(AcceptGroup &group, const SocketAddress &addr);
  static int start_single_socket_accept(AcceptGroup &group, const SocketAddress &addr);
  static int start_per_thread_accept(AcceptGroup &group, const SocketAddress &listen_on);

  // The listeners of every UnixNetProcessor (netProcessor and sslNetProcessor share the threads, so
  // the one shutdown hook must stop them all).
  static std::mutex _groups_mutex;
  static std::vector<std::unique_ptr<AcceptGroup>> _groups;
};

/// Whether netProcessor.start() has installed NetHandlers on the current event threads.
bool net_started();
} // namespace iocore
