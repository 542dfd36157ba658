// Socket creation and options for outgoing, accepted, adopted and listening sockets.
#include "net/SocketOptions.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace iocore {
namespace {
  /// How long TCP_DEFER_ACCEPT holds a connection back while no data comes.
  constexpr int kDeferAcceptSeconds = 45;

  /// Collects the first failure of a series of setsockopt calls that all run regardless.
  class OptionSetter
  {
  public:
    explicit OptionSetter(int fd) : _fd(fd) {}
    template <class T> void set(int level, int name, const T &value)
    {
      if (::setsockopt(_fd, level, name, &value, sizeof(value)) != 0 && _result == 0) {
        _result = -errno;
      }
    }
    void set_int(int level, int name, int value) { set(level, name, value); }
    void set_string(int level, int name, const std::string &value)
    {
      if (::setsockopt(_fd, level, name, value.data(), static_cast<socklen_t>(value.size())) != 0 && _result == 0) {
        _result = -errno;
      }
    }
    int get_int(int level, int name) const
    {
      int v         = 0;
      socklen_t len = sizeof(v);
      return ::getsockopt(_fd, level, name, &v, &len) == 0 ? v : 0;
    }
    int result() const { return _result; }

  private:
    int _fd;
    int _result = 0;
  };

  bool is_ip_family(int family)
  {
    return family == AF_INET || family == AF_INET6;
  }

  /// SO_KEEPALIVE and its timing. A fresh socket only needs the calls that change something.
  void apply_keep_alive(OptionSetter &s, const NetVCOptions &opt, SocketState state)
  {
    bool on = (opt.sockopt_flags & SOCK_OPT_KEEP_ALIVE) != 0;
    if (on || state == SocketState::kLive) {
      s.set_int(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
    }
    if (!on) {
      return;
    }
    if (opt.keep_alive_idle > 0) {
      s.set_int(IPPROTO_TCP, TCP_KEEPIDLE, opt.keep_alive_idle);
    }
    if (opt.keep_alive_interval > 0) {
      s.set_int(IPPROTO_TCP, TCP_KEEPINTVL, opt.keep_alive_interval);
    }
    if (opt.keep_alive_count > 0) {
      s.set_int(IPPROTO_TCP, TCP_KEEPCNT, opt.keep_alive_count);
    }
  }

  /// SO_MARK, the TOS / traffic class and TCP_NOTSENT_LOWAT: a value while the flag is on, the
  /// default (0) on a live socket once it is off. SO_MARK needs CAP_NET_ADMIN even to clear it, so
  /// it is only cleared when it is set.
  void apply_packet_options(OptionSetter &s, int family, const NetVCOptions &opt, SocketState state)
  {
    bool live = state == SocketState::kLive;
    if (opt.sockopt_flags & SOCK_OPT_PACKET_MARK) {
      s.set_int(SOL_SOCKET, SO_MARK, static_cast<int>(opt.packet_mark));
    } else if (live && s.get_int(SOL_SOCKET, SO_MARK) != 0) {
      s.set_int(SOL_SOCKET, SO_MARK, 0);
    }
    bool tos = (opt.sockopt_flags & SOCK_OPT_PACKET_TOS) != 0;
    if (tos || live) {
      int value = tos ? static_cast<int>(opt.packet_tos) : 0;
      if (family == AF_INET6) {
        s.set_int(IPPROTO_IPV6, IPV6_TCLASS, value);
      } else {
        s.set_int(IPPROTO_IP, IP_TOS, value);
      }
    }
    bool lowat = (opt.sockopt_flags & SOCK_OPT_TCP_NOTSENT_LOWAT) != 0;
    if (lowat || live) {
      s.set_int(IPPROTO_TCP, TCP_NOTSENT_LOWAT, lowat ? static_cast<int>(opt.packet_notsent_lowat) : 0);
    }
  }

  int set_blocking(int fd, bool blocking)
  {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
      return -errno;
    }
    int want = blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
    if (want != flags && ::fcntl(fd, F_SETFL, want) < 0) {
      return -errno;
    }
    return 0;
  }

  /// The IP side of open_socket_for_connect: the local address to bind, as addr_binding asks.
  int bind_for_connect(int fd, const NetVCOptions &opt, const SocketAddress &remote)
  {
    if (remote.is_unix()) {
      bool asks_bind = opt.local_ip.is_valid() || opt.local_port != 0 || opt.addr_binding != NetVCOptions::ANY_ADDR;
      return asks_bind ? -EINVAL : 0;
    }
    if (opt.addr_binding != NetVCOptions::ANY_ADDR && !opt.local_ip.is_valid()) {
      return -EINVAL; // INTF_ADDR / FOREIGN_ADDR name the address to bind: there must be one
    }
    if (!opt.local_ip.is_valid() && opt.local_port == 0) {
      return 0;
    }
    IpEndpoint local = opt.local_ip.is_valid() ? opt.local_ip : IpEndpoint::any(remote.family());
    if (opt.local_port != 0) {
      local.set_port(opt.local_port);
    }
    OptionSetter s(fd);
    if (opt.addr_binding == NetVCOptions::FOREIGN_ADDR) {
      s.set_int(SOL_IP, IP_TRANSPARENT, 1);
    }
    s.set_int(SOL_SOCKET, SO_REUSEADDR, 1);
    if (s.result() != 0) {
      return s.result();
    }
    return ::bind(fd, &local.sa, local.size()) == 0 ? 0 : -errno;
  }

  /// The options of AcceptOptions that belong to the listening socket and may be set before or
  /// after listen().
  int apply_listener_options(int fd, int family, const NetProcessor::AcceptOptions &opt)
  {
    OptionSetter s(fd);
    if (opt.recv_bufsize > 0) {
      s.set_int(SOL_SOCKET, SO_RCVBUF, opt.recv_bufsize);
    }
    if (opt.send_bufsize > 0) {
      s.set_int(SOL_SOCKET, SO_SNDBUF, opt.send_bufsize);
    }
    if (!is_ip_family(family)) {
      return s.result();
    }
    if (opt.defer_accept) {
      s.set_int(IPPROTO_TCP, TCP_DEFER_ACCEPT, kDeferAcceptSeconds);
    }
    if (opt.sockopt_flags & SOCK_OPT_TCP_FAST_OPEN) {
      s.set_int(IPPROTO_TCP, TCP_FASTOPEN, opt.tfo_queue_length);
    }
    return s.result();
  }

  SocketAddress read_address(int fd, bool peer)
  {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    auto *sa      = reinterpret_cast<sockaddr *>(&ss);
    int r         = peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len);
    return r == 0 ? SocketAddress::from_kernel(sa, len) : SocketAddress();
  }
} // namespace

int
apply_socket_options(int fd, int family, const NetVCOptions &opt, SocketState state)
{
  OptionSetter s(fd);
  bool live = state == SocketState::kLive;
  if (opt.socket_recv_bufsize > 0) {
    s.set_int(SOL_SOCKET, SO_RCVBUF, opt.socket_recv_bufsize);
  }
  if (opt.socket_send_bufsize > 0) {
    s.set_int(SOL_SOCKET, SO_SNDBUF, opt.socket_send_bufsize);
  }
  if (!is_ip_family(family)) {
    return s.result(); // AF_UNIX: no TCP or IP level, and no RST to ask for with SO_LINGER
  }
  bool nodelay = (opt.sockopt_flags & SOCK_OPT_NO_DELAY) != 0;
  if (nodelay || live) {
    s.set_int(IPPROTO_TCP, TCP_NODELAY, nodelay ? 1 : 0);
  }
  apply_keep_alive(s, opt, state);
  bool linger_on = (opt.sockopt_flags & SOCK_OPT_LINGER_ON) != 0;
  if (linger_on || live) {
    s.set(SOL_SOCKET, SO_LINGER, linger{linger_on ? 1 : 0, 0});
  }
  apply_packet_options(s, family, opt, state);
  if (!opt.congestion_control.empty()) {
    s.set_string(IPPROTO_TCP, TCP_CONGESTION, opt.congestion_control);
  }
  return s.result();
}

int
open_socket_for_connect(const NetVCOptions &opt, const SocketAddress &remote, int &fd)
{
  fd = -1;
  if (!remote.is_valid()) {
    return -EAFNOSUPPORT;
  }
  int sock = ::socket(remote.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    return -errno;
  }
  int r = apply_socket_options(sock, remote.family(), opt, SocketState::kFresh);
  if (r == 0 && remote.is_ip() && (opt.sockopt_flags & SOCK_OPT_TCP_FAST_OPEN)) {
    OptionSetter s(sock);
    s.set_int(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1);
    r = s.result();
  }
  if (r == 0) {
    r = bind_for_connect(sock, opt, remote);
  }
  if (r != 0) {
    ::close(sock);
    return r;
  }
  fd = sock;
  return 0;
}

int
connect_blocking(int fd, const SocketAddress &remote)
{
  if (int r = set_blocking(fd, true); r < 0) {
    return r;
  }
  int r = 0;
  while (::connect(fd, remote.sa(), remote.size()) != 0) {
    if (errno != EINTR) {
      r = -errno;
      break;
    }
  }
  if (int nb = set_blocking(fd, false); r == 0) {
    r = nb;
  }
  return r;
}

int
open_listen_socket(const SocketAddress &addr, const NetProcessor::AcceptOptions &opt, bool non_blocking, bool reuse_port, int &fd,
                   std::optional<UnixSocketFile> &created)
{
  int type = SOCK_STREAM | SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0);
  fd       = ::socket(addr.family(), type, 0);
  if (fd < 0) {
    return -errno;
  }
  auto fail = [&fd, &created](int err) {
    if (created) {
      created->remove();
      created.reset();
    }
    ::close(fd);
    fd = -1;
    return err;
  };
  if (addr.is_ip()) {
    OptionSetter s(fd);
    s.set_int(SOL_SOCKET, SO_REUSEADDR, 1);
    if (reuse_port) {
      s.set_int(SOL_SOCKET, SO_REUSEPORT, 1);
    }
    if (addr.family() == AF_INET6) {
      s.set_int(IPPROTO_IPV6, IPV6_V6ONLY, 1);
    }
    if (reuse_port && s.result() != 0) {
      return fail(s.result());
    }
  }
  if (int r = apply_listener_options(fd, addr.family(), opt); r < 0) {
    return fail(r);
  }
  if (addr.is_unix() && !addr.is_abstract()) {
    if (int r = UnixSocketFile::bind(fd, addr, created); r < 0) {
      return fail(r);
    }
  } else if (::bind(fd, addr.sa(), addr.size()) < 0) {
    return fail(-errno);
  }
  if (::listen(fd, opt.backlog > 0 ? opt.backlog : SOMAXCONN) < 0) {
    return fail(-errno);
  }
  return 0;
}

int
adopt_listen_socket(int fd, const NetProcessor::AcceptOptions &opt, bool non_blocking)
{
  struct stat st {
  };
  if (::fstat(fd, &st) != 0) {
    return -errno;
  }
  if (!S_ISSOCK(st.st_mode)) {
    return -ENOTSOCK;
  }
  OptionSetter s(fd);
  if (s.get_int(SOL_SOCKET, SO_TYPE) != SOCK_STREAM) {
    return -ESOCKTNOSUPPORT;
  }
  int family = s.get_int(SOL_SOCKET, SO_DOMAIN);
  if (!is_ip_family(family) && family != AF_UNIX) {
    return -EAFNOSUPPORT;
  }
  if (s.get_int(SOL_SOCKET, SO_ACCEPTCONN) == 0) {
    return -EINVAL;
  }
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    return -errno;
  }
  if (int r = set_blocking(fd, !non_blocking); r < 0) {
    return r;
  }
  return apply_listener_options(fd, family, opt);
}

SocketAddress
socket_local_address(int fd)
{
  return read_address(fd, false);
}

SocketAddress
socket_peer_address(int fd)
{
  return read_address(fd, true);
}
} // namespace iocore
