// NetProcessor: listening (accept), connecting (connect_re), the process-wide knobs (NetConfig) and
// counters (NetStats). netProcessor speaks plain TCP; sslNetProcessor TLS.
#pragma once

#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/EventProcessor.h"
#include "iocore/eventsystem/Time.h"
#include "iocore/net/IpEndpoint.h"
#include "iocore/net/NetVConnection.h"

#include <cstdint>
#include <memory>

namespace iocore {
class TLSServerContext;

/// Listening and connecting (ATS's NetProcessor). Two instances: netProcessor (plain TCP) and
/// sslNetProcessor (TLS). Start the event processor, then netProcessor.start(), then listen and
/// connect from any thread.
class NetProcessor
{
public:
  /// How accept() listens.
  struct AcceptOptions {
    int local_port = 0; ///< 0: pick one; NetProcessor::accept_port() reports it
    /// The family of the any-address listened on when local_ip is unset.
    int ip_family = AF_INET;
    IpEndpoint local_ip; ///< default: any address
    /// The thread group whose threads listen (per-thread mode) or receive the connections.
    EventType etype = ET_NET;
    /// 0: accept on every ET_NET thread (one SO_REUSEPORT socket each);
    /// > 0: that many DEDICATED blocking accept threads hand connections to net threads round-robin.
    int accept_threads = 0;
    /// SO_RCVBUF of the listening socket, inherited by accepted ones (0: the kernel's default).
    int recv_bufsize = 0;
    /// SO_SNDBUF of the listening socket, inherited by accepted ones (0: the kernel's default).
    int send_bufsize = 0;
    /// SOCK_OPT_* flags set on every accepted socket (and copied to its NetVCOptions).
    uint32_t sockopt_flags = 0;
    bool defer_accept      = false; ///< TCP_DEFER_ACCEPT
    /// listen() backlog: connections the kernel queues before they are accepted (<= 0: SOMAXCONN).
    int backlog = 1024;
    /// Not in ATS: the certificates and settings sslNetProcessor.accept() serves (required there;
    /// see iocore/tls/TLS.h). Ignored by netProcessor.
    std::shared_ptr<const TLSServerContext> tls_context;
  };

  virtual ~NetProcessor() = default;

  /// Listen and call `cont` with NET_EVENT_ACCEPT (data: the new NetVConnection*) for each connection,
  /// on the connection's thread, holding cont's mutex — or, if cont has none, the new connection's own
  /// mutex (so calls may then run on several threads at once). Returns the Action that stops listening
  /// (cancel()), or nullptr if the socket could not be set up (errno tells why; never
  /// ACTION_IO_ERROR). Also known as main_accept. The library owns the Action: never delete it; it
  /// stays valid after cancel() (a second cancel() does nothing) until the next
  /// netProcessor.start() after eventProcessor.shutdown().
  ///
  /// Failures of accept() that concern one connection (ECONNABORTED, EPROTO, EPERM, EINTR) are
  /// skipped; running out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) pauses
  /// accepting for a moment (counted in NetStats::accept_errors). Any other error means the
  /// listening socket is unusable (EBADF, EINVAL, ENOTSOCK, EOPNOTSUPP...): the listener stops,
  /// closes its sockets, counts one accept error and calls `cont` once with EVENT_ERROR, data =
  /// -errno as intptr_t, on a net thread holding cont's mutex (a fresh one if cont has none),
  /// unless cancel() was called first. Connections accepted before the failure are still handed
  /// over. cancel() stays allowed (and does nothing more) afterwards.
  virtual Action *accept(Continuation *cont, const AcceptOptions &opt) = 0;
  /// accept() with default AcceptOptions.
  Action *accept(Continuation *cont);

  /// Connect to addr. `cont` receives NET_EVENT_OPEN (data: the NetVConnection*) or
  /// NET_EVENT_OPEN_FAILED (data: -errno as intptr_t). Returns ACTION_RESULT_DONE when the call-back
  /// already happened inline, else an Action that cancels the attempt. NET_EVENT_OPEN does not mean
  /// the TCP handshake finished: a refusal then arrives as VC_EVENT_ERROR (lerrno ECONNREFUSED).
  virtual Action *connect_re(Continuation *cont, const sockaddr *addr, const NetVCOptions *opt = nullptr) = 0;

  /// After eventProcessor.start(): installs a NetHandler and an InactivityCop on every ET_NET thread.
  /// Returns 0, or -1 if the event processor is not started.
  virtual int start(int n_net_threads_unused = 0);

  /// The port an accept() is bound to (useful with local_port = 0); -1 for anything else.
  static int accept_port(Action *accept_action);
};

extern NetProcessor &netProcessor;    ///< plain TCP
extern NetProcessor &sslNetProcessor; ///< TLS; connections are SSLNetVConnection

/// How the net threads talk to the kernel. Every rule of the API holds on both.
enum class IoBackend {
  kAuto,   ///< epoll for now (io_uring once its completion-based IO path lands); see NetConfig
  kEpoll,  ///< edge-triggered epoll, one system call per read and per write
  kIoUring ///< io_uring: one ring per net thread, every registration of a pass sent with its wait
};
/// "auto", "epoll" or "io_uring".
const char *io_backend_name(IoBackend backend);
/// The backend the net threads run, as chosen by netProcessor.start() (kAuto before it).
IoBackend net_io_backend();

/// Process-wide knobs. Set them before netProcessor.start().
struct NetConfig {
  int max_connections_in = 30000; ///< accepted connections; over it new ones wait in the kernel queue
  int max_requests_in    = 0;     ///< active-queue limit; 0 = none
  /// The inactivity timeout of connections that never called set_inactivity_timeout() (0: none).
  ink_hrtime default_inactivity_timeout = HRTIME_SECONDS(86400);
  ink_hrtime inactivity_check_frequency = HRTIME_SECONDS(1); ///< InactivityCop period
  /// A connection that has sat this long in the keep-alive queue gets VC_EVENT_INACTIVITY_TIMEOUT
  /// (0: never).
  ink_hrtime keep_alive_no_activity_timeout_in = HRTIME_SECONDS(120);
  /// 0 = none. At this many open connections (both directions) connect_re fails with
  /// -ENET_THROTTLING; from 10 % below it (the headroom kept for outgoing connections, as ATS)
  /// newly accepted connections are closed at once (NetStats::throttled_accepts, and a warning on
  /// stderr at most every 10 s), so a flood cannot run the process out of descriptors.
  int throttle_connections = 0;
  /// Not used yet: a net thread sleeps in its poller until its next timer or a wake-up, at most
  /// kMaxHeartbeat.
  int poll_timeout_ms = 10;
  /// kAuto: the environment variable IOCORE_IO_BACKEND=epoll|io_uring chooses, else the library.
  /// io_uring asked for (here or in the environment) but not available makes start() fail with a
  /// message saying why; kAuto falls back to epoll, with one line on stderr saying why.
  IoBackend io_backend = IoBackend::kAuto;
};
/// The process's NetConfig (change it before netProcessor.start()).
NetConfig &net_config();

inline constexpr int ENET_THROTTLING = 20101; ///< as ATS: -ENET_THROTTLING in NET_EVENT_OPEN_FAILED

/// Counters of the net layer (a consistent-enough snapshot; each field is read atomically).
struct NetStats {
  int64_t connections_currently_open = 0; ///< sockets open now, accepted and connected
  int64_t accepts                    = 0; ///< connections accepted
  int64_t connects                   = 0; ///< connect_re() calls that reached NET_EVENT_OPEN
  int64_t connect_failures           = 0; ///< connects that never completed (OPEN_FAILED, refused, timed out, closed with an error)
  int64_t throttled                  = 0; ///< of those, refused by NetConfig::throttle_connections
  int64_t read_bytes                 = 0; ///< bytes read from sockets (TLS: plaintext)
  int64_t write_bytes                = 0; ///< bytes written to sockets (TLS: plaintext)
  int64_t calls_to_read              = 0; ///< read system calls (TLS: SSL_read calls)
  int64_t calls_to_write             = 0; ///< write system calls (TLS: SSL_write calls)
  int64_t calls_to_read_nodata       = 0; ///< read steps that found nothing to read
  int64_t calls_to_write_nodata      = 0; ///< write steps that could write nothing
  int64_t inactivity_timeouts        = 0; ///< inactivity timeouts delivered (keep-alive ones included)
  int64_t active_timeouts            = 0; ///< active timeouts delivered
  int64_t keep_alive_evictions       = 0; ///< idle keep-alive connections closed to make room
  int64_t accept_errors              = 0; ///< failed accept() calls that paused or stopped a listener
  int64_t tls_handshakes             = 0; ///< TLS handshakes completed, both directions
  /// TLS handshakes that failed (protocol error, certificate refused, peer closed mid-handshake);
  /// one that times out counts as an inactivity timeout instead.
  int64_t tls_handshake_failures = 0;
  /// Read steps run (ATS: net_calls_to_readfromnet): one per look at a connection's read side,
  /// whether or not it reads (calls_to_read counts the system calls).
  int64_t calls_to_readfromnet = 0;
  /// Write steps run, from any path (ATS: net_calls_to_writetonet)...
  int64_t calls_to_writetonet = 0;
  /// ...and those run by the net thread's pass after a poll, not from reenable_re()
  /// (ATS: net_calls_to_writetonet_afterpoll).
  int64_t calls_to_writetonet_afterpoll = 0;
  /// Times a timeout or an eviction found a connection's lock busy and tried again later (ATS:
  /// inactivity_cop_lock_acquire_failure).
  int64_t inactivity_cop_lock_acquire_failure = 0;
  /// Accepted connections closed at once because the process was at NetConfig::throttle_connections.
  int64_t throttled_accepts = 0;
};
/// The counters now.
NetStats net_stats_snapshot();
} // namespace iocore
