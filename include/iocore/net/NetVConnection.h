// NetVConnection: a VConnection over a socket, with timeouts, the keep-alive and active queues, and
// per-connection socket options. The implementation is UnixNetVConnection (src/net); TLS connections
// are SSLNetVConnection, also a NetVConnection.
#pragma once

#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/Time.h"
#include "iocore/eventsystem/VConnection.h"
#include "iocore/net/IpEndpoint.h"

#include <cstdint>
#include <string>

namespace iocore {
class EThread;

inline constexpr uint32_t SOCK_OPT_NO_DELAY   = 1; ///< TCP_NODELAY
inline constexpr uint32_t SOCK_OPT_KEEP_ALIVE = 2; ///< SO_KEEPALIVE
inline constexpr uint32_t SOCK_OPT_LINGER_ON  = 4; ///< SO_LINGER with a 0 timeout: close sends RST
/// Not acted on by the net layer (per-thread listeners set SO_REUSEPORT themselves). In ATS bit 8
/// is TCP Fast Open.
inline constexpr uint32_t SOCK_OPT_REUSE_PORT = 8;

/// Per-connection socket options, applied when the socket is created (outgoing) or accepted.
struct NetVCOptions {
  int ip_family = AF_UNSPEC; ///< AF_INET / AF_INET6 / AF_UNSPEC (follow the peer address)
  IpEndpoint local_ip;       ///< bind address for outgoing connections (unset = any)
  uint16_t local_port = 0;   ///< bind port for outgoing connections (0 = any)
  /// How local_ip is used: any of them binds it when set; FOREIGN_ADDR also sets IP_TRANSPARENT
  /// (a non-local source address, for transparent proxying).
  enum addr_bind_style { ANY_ADDR, INTF_ADDR, FOREIGN_ADDR } addr_binding = ANY_ADDR; ///< see addr_bind_style
  /// Not supported yet: connect_re() always connects without blocking.
  bool f_blocking_connect = false;
  int socket_recv_bufsize = 0; ///< 0 = kernel default
  int socket_send_bufsize = 0; ///< 0 = kernel default
  /// SOCK_OPT_* flags set on the socket.
  uint32_t sockopt_flags = SOCK_OPT_NO_DELAY;
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

  /// The socket (for getsockopt and the like; the library reads, writes and closes it).
  virtual int get_socket() = 0;

  /// The peer's address.
  const sockaddr *get_remote_addr() { return &remote_addr.sa; }
  /// The peer's port (host order).
  uint16_t get_remote_port() { return remote_addr.port(); }
  /// The local address of the socket.
  const sockaddr *get_local_addr() { return &local_addr.sa; }
  /// The local port (host order).
  uint16_t get_local_port() { return local_addr.port(); }

  /// Make the next write that empties the write buffer send `event` to the write VIO's continuation,
  /// unless another event is sent then anyway (ATS: trapWriteBufferEmpty). One-shot; 0 cancels.
  void trap_write_buffer_empty(int event = VC_EVENT_WRITE_READY) { write_buffer_empty_event = event; }

  /// The options the connection was made with.
  NetVCOptions options;
  /// The EThread that owns this connection (nullptr until it joins a net thread).
  EThread *thread = nullptr;

  /// The peer's address (get_remote_addr()).
  IpEndpoint remote_addr;
  /// The local address (get_local_addr()).
  IpEndpoint local_addr;
  /// The pending trap_write_buffer_empty() event (0: none).
  int write_buffer_empty_event = 0;
};
} // namespace iocore
