// NetProcessor: listening (accept), connecting (connect_re), the process-wide knobs (NetConfig) and
// counters (NetStats). netProcessor speaks plain TCP; sslNetProcessor TLS.
#pragma once

#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/EventProcessor.h"
#include "iocore/eventsystem/Time.h"
#include "iocore/net/IpEndpoint.h"
#include "iocore/net/NetVConnection.h"
#include "iocore/net/SocketAddress.h"

#include <cstdint>
#include <memory>
#include <string>

namespace iocore {
class TLSServerContext;

inline constexpr int NO_FD = -1; ///< as in ATS: "no file descriptor" (AcceptOptions::fd)

/// Listening and connecting (ATS's NetProcessor). Two instances: netProcessor (plain TCP) and
/// sslNetProcessor (TLS). Start the event processor, then netProcessor.start(), then listen and
/// connect from any thread.
class NetProcessor
{
public:
  /// Where and how to listen. Three kinds of listener:
  ///  - IP (ip_family AF_INET / AF_INET6): local_ip and local_port.
  ///  - Unix-domain (ip_family AF_UNIX): local_path, a file system path or "@name" for a Linux
  ///    abstract name. A stale socket file at the path (its process is gone) is replaced; a live
  ///    listener there fails accept() with EADDRINUSE, anything that is not a socket with EEXIST
  ///    (and is left untouched). The file is removed when the listener is cancelled.
  ///  - Adopted (fd != NO_FD): a socket someone else bound and put in listen() — inherited from a
  ///    parent, passed by systemd socket activation, kept by a supervisor across restarts. Any IP
  ///    or Unix family; local_ip, local_port, local_path and ip_family are not used.
  /// A Unix-domain or adopted listener is one socket: with accept_threads = 0, one net thread
  /// accepts on it and hands the connections to the etype threads round-robin (SO_REUSEPORT, which
  /// gives each thread its own socket, cannot share a path or someone else's socket).
  struct AcceptOptions {
    int local_port = 0; ///< 0: pick one; NetProcessor::accept_port() reports it
    /// The family of the any-address listened on when local_ip is unset.
    int ip_family = AF_INET;
    IpEndpoint local_ip; ///< default: any address
    /// The thread group whose threads listen (per-thread mode) or receive the connections.
    EventType etype = ET_NET;
    /// 0: accept on every ET_NET thread (one SO_REUSEPORT socket each);
    /// > 0: that many DEDICATED blocking accept threads hand connections to net threads round-robin.
    /// Not with fd: stopping blocking accept threads means shutting the socket down, which would
    /// stop it for every process that shares it.
    int accept_threads = 0;
    /// SO_RCVBUF of the listening socket, inherited by accepted ones (0: the kernel's default).
    int recv_bufsize = 0;
    /// SO_SNDBUF of the listening socket, inherited by accepted ones (0: the kernel's default).
    int send_bufsize = 0;
    /// SOCK_OPT_* flags applied to each accepted connection (and copied to its NetVCOptions; TCP ones
    /// skipped for AF_UNIX), except SOCK_OPT_TCP_FAST_OPEN, which is the listener's (TCP_FASTOPEN
    /// with tfo_queue_length).
    uint32_t sockopt_flags = 0;
    bool defer_accept      = false; ///< TCP_DEFER_ACCEPT
    /// listen() backlog: connections the kernel queues before they are accepted (<= 0: SOMAXCONN).
    int backlog = 1024;
    /// With SOCK_OPT_TCP_FAST_OPEN: how many connections whose SYN carried data may wait for
    /// their handshake to finish (TCP_FASTOPEN; ATS's default). Needs server Fast Open enabled in
    /// net.ipv4.tcp_fastopen (bit 2); otherwise the SYN's data waits for the handshake as usual.
    int tfo_queue_length = 10000;
    /// ip_family = AF_UNIX: the path to listen on ("@name": a Linux abstract name). At most
    /// SocketAddress::kMaxUnixPath bytes (else accept() fails with ENAMETOOLONG).
    std::string local_path;
    /// NO_FD: make a socket. Else serve this bound, listening socket (see above). From a successful
    /// accept() on the listener owns it (cancel() closes it); when accept() fails it is left open,
    /// and an fd that is not a listening stream socket fails it with errno EBADF, ENOTSOCK,
    /// ESOCKTNOSUPPORT (not SOCK_STREAM), EAFNOSUPPORT (not IP or Unix) or EINVAL (not listening).
    int fd = NO_FD;
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
  /// the TCP handshake finished: a refusal then arrives as VC_EVENT_ERROR (lerrno ECONNREFUSED) —
  /// unless opt->f_blocking_connect, which connects before connect_re returns.
  /// `addr` may be a sockaddr_in, sockaddr_in6 or sockaddr_un (a Unix-domain path, or an abstract
  /// name: sun_path[0] == 0, the name ending at the next NUL or the end of sun_path, as
  /// SocketAddress::sa() lays it out). On Unix-domain connections the TCP options are skipped and
  /// nothing may be bound (local_ip, local_port and addr_binding left at their defaults).
  virtual Action *connect_re(Continuation *cont, const sockaddr *addr, const NetVCOptions *opt = nullptr) = 0;

  /// Make a NetVConnection of a socket that is already connected (a socketpair end, a socket from
  /// another library or a test harness; ATS: connectUp(t, fd), TSVConnFdCreate). The connection
  /// owns fd from this call on — it is closed with the connection, or at once if this fails. It
  /// joins the calling net thread (any other thread: one chosen round-robin); `cont` receives
  /// NET_EVENT_OPEN (data: the NetVConnection*) there with its mutex held (one is created when it
  /// has none), or NET_EVENT_OPEN_FAILED (data: -errno: ENOTSOCK, ESOCKTNOSUPPORT for a socket that
  /// is not SOCK_STREAM, ENOTCONN for one that is not connected, or the options' failure). `opt`
  /// (default NetVCOptions) is applied as for connect_re, except local_ip / addr_binding, which
  /// must be left unset. Any IP or Unix family. Returns ACTION_RESULT_DONE when the call-back
  /// already happened, else an Action whose cancel() drops the connection (and closes fd) before
  /// NET_EVENT_OPEN. Plain connections only: sslNetProcessor fails with -EOPNOTSUPP.
  virtual Action *adopt_fd(Continuation *cont, int fd, const NetVCOptions *opt = nullptr);

  /// After eventProcessor.start(): installs a NetHandler and an InactivityCop on every ET_NET thread.
  /// Returns 0, or -1 if the event processor is not started.
  virtual int start(int n_net_threads_unused = 0);

  /// The port an accept() is bound to (useful with local_port = 0); -1 for anything else,
  /// including a Unix-domain listener.
  static int accept_port(Action *accept_action);
  /// The address an accept() listens on, as the kernel reports it (the real port for local_port
  /// = 0, the path or abstract name of a Unix-domain listener, the bound address of an adopted
  /// socket); unset for anything else.
  static SocketAddress accept_address(Action *accept_action);
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
  /// The longest a net thread waits in the poller (epoll_wait, or io_uring's wait) for IO, in ms
  /// (ATS: proxy.config.net.poll_timeout): the thread wakes at least this often to run its loop
  /// even when nothing happens. 0: never wait (busy polling); negative: no bound (the thread sleeps
  /// until its next timed event). Events scheduled from other threads wake it at once either way.
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
