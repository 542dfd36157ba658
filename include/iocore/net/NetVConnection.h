// NetVConnection: a VConnection over a socket, with timeouts, the keep-alive and active queues, and
// per-connection socket options. The implementation is UnixNetVConnection (src/net); TLS connections
// are SSLNetVConnection, also a NetVConnection.
#pragma once

#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/Time.h"
#include "iocore/eventsystem/VConnection.h"
#include "iocore/net/IpEndpoint.h"
#include "iocore/net/SocketAddress.h"

#include <cstdint>
#include <memory>
#include <string>

namespace iocore {
class EThread;
class SplicePipe;

// sockopt_flags bits, ATS's values (NetVCOptions::SOCK_OPT_*). TCP-only options are skipped on
// Unix-domain sockets (they have no TCP level); nothing fails because of that.
inline constexpr uint32_t SOCK_OPT_NO_DELAY   = 1; ///< TCP_NODELAY
inline constexpr uint32_t SOCK_OPT_KEEP_ALIVE = 2; ///< SO_KEEPALIVE, with keep_alive_idle/_interval/_count
inline constexpr uint32_t SOCK_OPT_LINGER_ON  = 4; ///< SO_LINGER with a 0 timeout: close sends RST
/// TCP Fast Open. Listener (AcceptOptions::sockopt_flags): TCP_FASTOPEN with tfo_queue_length, so
/// clients with a cookie may put data in their SYN. Client (NetVCOptions): TCP_FASTOPEN_CONNECT —
/// with a cookie from an earlier connection, the SYN is held back until the first write and
/// carries its data. Only for protocols where the client speaks first: a deferred SYN goes out
/// with the first write, so a client that only reads never connects. Off by default.
inline constexpr uint32_t SOCK_OPT_TCP_FAST_OPEN     = 8;
inline constexpr uint32_t SOCK_OPT_PACKET_MARK       = 16; ///< SO_MARK = packet_mark (needs CAP_NET_ADMIN)
inline constexpr uint32_t SOCK_OPT_PACKET_TOS        = 32; ///< IP_TOS / IPV6_TCLASS = packet_tos
inline constexpr uint32_t SOCK_OPT_TCP_NOTSENT_LOWAT = 64; ///< TCP_NOTSENT_LOWAT = packet_notsent_lowat

/// Per-connection socket options, applied when the socket is created (outgoing) or accepted, and
/// again by NetVConnection::apply_options() after they change. An option that cannot be applied
/// when an outgoing socket is created fails the connect (NET_EVENT_OPEN_FAILED with its -errno).
struct NetVCOptions {
  int ip_family = AF_UNSPEC; ///< AF_INET / AF_INET6 / AF_UNIX / AF_UNSPEC (follow the peer address)
  /// Outgoing connections bind to local_ip (and local_port) before connecting when it is set,
  /// whatever addr_binding says (ATS binds it only with INTF_ADDR / FOREIGN_ADDR).
  IpEndpoint local_ip;
  uint16_t local_port = 0; ///< bind port for outgoing connections (0 = any)
  /// How local_ip is used. ANY_ADDR: local_ip if set, else the kernel's choice. INTF_ADDR: bind local_ip, which must be
  /// set (else the connect fails with EINVAL). FOREIGN_ADDR: as INTF_ADDR with IP_TRANSPARENT, so
  /// local_ip may be an address of another host (needs CAP_NET_ADMIN; a refusal fails the
  /// connect). A connection to a Unix-domain address binds nothing: any of these set fails it.
  enum addr_bind_style { ANY_ADDR, INTF_ADDR, FOREIGN_ADDR } addr_binding = ANY_ADDR; ///< see addr_bind_style
  /// Connect in the caller's thread, blocking, before connect_re returns: the continuation then
  /// gets NET_EVENT_OPEN only for a completed handshake and NET_EVENT_OPEN_FAILED (e.g.
  /// -ECONNREFUSED) for anything else. The caller's thread waits as long as the kernel's connect
  /// takes (up to its SYN retries for a silent peer): not for a net thread that serves others.
  bool f_blocking_connect = false;
  int socket_recv_bufsize = 0; ///< 0 = kernel default
  int socket_send_bufsize = 0; ///< 0 = kernel default
  /// SOCK_OPT_* flags set on the socket.
  uint32_t sockopt_flags = SOCK_OPT_NO_DELAY;
  uint32_t packet_mark   = 0; ///< SO_MARK with SOCK_OPT_PACKET_MARK
  uint32_t packet_tos    = 0; ///< IP_TOS (IPv4) / IPV6_TCLASS (IPv6) with SOCK_OPT_PACKET_TOS
  /// TCP_NOTSENT_LOWAT with SOCK_OPT_TCP_NOTSENT_LOWAT (0: the system's net.ipv4.tcp_notsent_lowat).
  uint32_t packet_notsent_lowat = 0;
  /// With SOCK_OPT_KEEP_ALIVE: seconds idle before the first probe, seconds between probes, and
  /// unanswered probes before the connection is dropped (TCP_KEEPIDLE / TCP_KEEPINTVL /
  /// TCP_KEEPCNT). 0: the system's default.
  int keep_alive_idle     = 0;
  int keep_alive_interval = 0; ///< seconds between keep-alive probes (see keep_alive_idle)
  int keep_alive_count    = 0; ///< unanswered probes before the connection is dropped
  /// TCP_CONGESTION by name ("cubic", "bbr", "reno"; see net.ipv4.tcp_allowed_congestion_control).
  /// Empty: leave the algorithm as it is (the system's default for a new socket).
  std::string congestion_control;
  /// TLS client: the SNI host name to send (empty: none).
  std::string sni_servername;
  /// TLS: ALPN protocols as a comma-separated list ("h2,http/1.1"); the library converts it to the
  /// wire format.
  std::string alpn_protocols;
  /// TLS client: verify the server certificate (against ca_file, or the system store when empty).
  bool verify_peer = true;
  /// TLS client: PEM file of the certificates to trust (empty: the system's trust store).
  std::string ca_file;

  /// Back to the defaults.
  void reset() { *this = NetVCOptions{}; }
};

/// A connection made by NetProcessor::accept() or connect_re(). The library owns it until
/// do_io_close(); it lives on one net thread (`thread`), where all its call-backs run.
class NetVConnection : public VConnection
{
public:
  /// Library use: connections are made by the net processors.
  explicit NetVConnection(Ptr<ProxyMutex> m = {}) : VConnection(std::move(m)) {}
  ~NetVConnection() override = default;

  // Timeouts. Call them on the connection's thread (inside one of its call-backs or the accept/open
  // call-back). Calling a setter again restarts the timer.
  /// VC_EVENT_ACTIVE_TIMEOUT once `timeout_in` has passed since this call, whatever the traffic.
  virtual void set_active_timeout(ink_hrtime timeout_in) = 0;
  /// VC_EVENT_INACTIVITY_TIMEOUT after `timeout_in` without progress. The clock starts at this
  /// call, restarts on every read or write that moves data, stops while neither direction is
  /// enabled and starts again on reenable or another call of this setter. 0 turns the inactivity
  /// timeout off for this connection; a connection that never set one gets
  /// NetConfig::default_inactivity_timeout.
  ///
  /// Timeouts go to the read VIO's continuation, then to the write VIO's (if it is another one and
  /// the first did not re-arm or close). A connection whose started directions have no
  /// continuation (do_io_read(nullptr, 0, nullptr) and the same for write) is an orphan: on a
  /// timeout it closes itself.
  virtual void set_inactivity_timeout(ink_hrtime timeout_in) = 0;
  /// No active timeout for this connection.
  virtual void cancel_active_timeout() = 0;
  /// No inactivity timeout for this connection (as set_inactivity_timeout(0)).
  virtual void cancel_inactivity_timeout() = 0;
  /// The active timeout set (0: none).
  virtual ink_hrtime get_active_timeout() = 0;
  /// The inactivity timeout in force: the one set, else NetConfig::default_inactivity_timeout.
  virtual ink_hrtime get_inactivity_timeout() = 0;

  /// An idle connection kept for reuse; the oldest are closed first (with an inactivity timeout
  /// event) when the process is over NetConfig::max_connections_in.
  virtual void add_to_keep_alive_queue() = 0;
  /// Take the connection off the keep-alive queue.
  virtual void remove_from_keep_alive_queue() = 0;
  /// A connection with a request in progress. False: over NetConfig::max_requests_in and nothing
  /// could be evicted.
  virtual bool add_to_active_queue() = 0;
  /// Take the connection off the active queue.
  virtual void remove_from_active_queue() = 0;

  /// Send out-of-band (urgent) data; VC_EVENT_OOB_COMPLETE (or EOS / ERROR) to cont when done, with
  /// data nullptr. When the socket takes (or refuses) it all at once, cont is called before this
  /// returns and the result is ACTION_RESULT_DONE; otherwise the rest is retried every 10 ms and the
  /// result is the pending retry (drop it with cancel_OOB()).
  virtual Action *send_OOB(Continuation *cont, char *buf, int len);
  /// Drop a pending send_OOB(): its continuation is not called.
  virtual void cancel_OOB();

  /// Whether the connection can move bytes with splice(2) (do_io_read_splice / do_io_write_splice):
  /// plain TCP and Unix-domain connections can; TLS ones cannot (their bytes are transformed).
  virtual bool can_splice() const { return false; }
  /// do_io_read with a pipe for a buffer: up to nbytes are spliced from the socket into `pipe`,
  /// never more than pipe->room() (a full pipe stops the read without an event, as a full MIOBuffer
  /// does; reenable once room was made). The events are do_io_read's: READ_READY after bytes went
  /// into the pipe, READ_COMPLETE, EOS, ERROR (lerrno) and the timeouts; vio->ndone counts the
  /// bytes read. Call it on the connection's thread. The pipe's other end must be drained by a
  /// connection on the same thread (do_io_write_splice) and the pipe must stay valid until this
  /// connection is closed or the read is restarted with do_io_read (a buffer, or the stopping form
  /// (nullptr, 0, nullptr)). Returns nullptr (lerrno ENOTSUP) where can_splice() is false.
  virtual VIO *do_io_read_splice(Continuation *c, int64_t nbytes, SplicePipe *pipe);
  /// do_io_write whose bytes come from `pipe`: what is in it is spliced to the socket until nbytes
  /// are written. The events are do_io_write's: WRITE_READY when the pipe is empty and cannot finish
  /// the VIO (before a step) and after bytes left the pipe, WRITE_COMPLETE, ERROR (lerrno) and the
  /// timeouts; vio->ndone counts the bytes written. Writing stops when the pipe is drained:
  /// reenable after more was spliced in. trap_write_buffer_empty() does not apply. Same thread and
  /// lifetime rules as do_io_read_splice.
  virtual VIO *do_io_write_splice(Continuation *c, int64_t nbytes, SplicePipe *pipe);

  /// The socket (for getsockopt and the like; the library reads, writes and closes it).
  virtual int get_socket() = 0;

  /// Apply `options` to the live socket after changing them (ATS: apply_options): TCP_NODELAY,
  /// SO_KEEPALIVE (with its idle / interval / count), SO_LINGER, SO_MARK, IP_TOS / IPV6_TCLASS,
  /// TCP_NOTSENT_LOWAT, TCP_CONGESTION and the buffer sizes. A flag that is off turns its option
  /// off (a mark or TOS back to 0, the not-sent low water mark back to the system's). What only
  /// matters when connecting (local_ip, addr_binding, SOCK_OPT_TCP_FAST_OPEN, f_blocking_connect)
  /// is not revisited. Call it where the connection may be used (its thread, or holding its state
  /// machine's mutex). Returns 0, or the -errno of the first option the kernel refused (the others
  /// are applied all the same). On a Unix-domain connection only the buffer sizes apply.
  virtual int apply_options();
  /// Set the initial congestion window, in segments (ATS: set_tcp_init_cwnd). 0, or -errno:
  /// -EOPNOTSUPP where the kernel has no per-socket setting — mainline Linux sets it per route
  /// (`ip route change ... initcwnd N`), not per socket.
  virtual int set_tcp_init_cwnd(int init_cwnd);

  /// The peer's and the socket's own address as the kernel gives them: sockaddr_in / sockaddr_in6,
  /// or sockaddr_un for a Unix-domain connection (whose ports are 0; the client end of an accepted
  /// Unix connection is usually unnamed: AF_UNIX with an empty path).
  const sockaddr *get_remote_addr() { return unix_addresses ? unix_addresses->remote.sa() : &remote_addr.sa; }
  /// The peer's port (host order; 0 for a Unix-domain connection).
  uint16_t get_remote_port() { return remote_addr.port(); }
  /// The socket's own address (see get_remote_addr()).
  const sockaddr *get_local_addr() { return unix_addresses ? unix_addresses->local.sa() : &local_addr.sa; }
  /// The local port (host order).
  uint16_t get_local_port() { return local_addr.port(); }
  /// The peer's address as a SocketAddress, whatever the family ("unix:/run/x.sock" in to_string()).
  SocketAddress get_remote_endpoint() const;
  /// The socket's own address as a SocketAddress.
  SocketAddress get_local_endpoint() const;
  /// Record the peer's address (the library does, when the connection is accepted or made).
  void set_remote_endpoint(const SocketAddress &addr);
  /// Record the socket's own address (the library does, when the connection is accepted or made).
  void set_local_endpoint(const SocketAddress &addr);

  /// Make the next write that empties the write buffer send `event` to the write VIO's continuation,
  /// unless another event is sent then anyway (ATS: trapWriteBufferEmpty). One-shot; 0 cancels.
  void trap_write_buffer_empty(int event = VC_EVENT_WRITE_READY) { write_buffer_empty_event = event; }

  /// The options the connection was made with.
  NetVCOptions options;
  /// The EThread that owns this connection (nullptr until it joins a net thread).
  EThread *thread = nullptr;

  /// IP connections' addresses (unset for Unix-domain connections: see get_remote_endpoint()).
  IpEndpoint remote_addr;
  /// The local address (get_local_addr()).
  IpEndpoint local_addr;
  /// A Unix-domain connection's addresses, which do not fit an IpEndpoint (allocated only for
  /// such connections, so IP connections carry one pointer, not two sockaddr_un).
  struct UnixAddresses {
    SocketAddress remote; ///< the peer's
    SocketAddress local;  ///< the socket's own
  };
  /// Set only for a Unix-domain connection.
  std::unique_ptr<UnixAddresses> unix_addresses;
  /// The pending trap_write_buffer_empty() event (0: none).
  int write_buffer_empty_event = 0;
};
} // namespace iocore
