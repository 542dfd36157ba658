// Socket creation and options for outgoing, accepted and listening sockets.
#include "net/SocketOptions.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace iocore {
void
apply_socket_options(int fd, uint32_t flags, int recv_bufsize, int send_bufsize)
{
  int one = 1;
  if (flags & SOCK_OPT_NO_DELAY) {
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  if (flags & SOCK_OPT_KEEP_ALIVE) {
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  }
  if (flags & SOCK_OPT_LINGER_ON) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  if (recv_bufsize > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &recv_bufsize, sizeof(recv_bufsize));
  }
  if (send_bufsize > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_bufsize, sizeof(send_bufsize));
  }
}

int
open_socket_for_connect(const NetVCOptions &opt, const IpEndpoint &remote, int &fd)
{
  if (!remote.is_valid()) {
    return -EAFNOSUPPORT;
  }
  fd = ::socket(remote.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -errno;
  }
  apply_socket_options(fd, opt.sockopt_flags, opt.socket_recv_bufsize, opt.socket_send_bufsize);
  if (opt.local_ip.is_valid() || opt.local_port != 0) {
    IpEndpoint local = opt.local_ip.is_valid() ? opt.local_ip : IpEndpoint::any(remote.family());
    if (opt.local_port != 0) {
      local.set_port(opt.local_port);
    }
    if (opt.addr_binding == NetVCOptions::FOREIGN_ADDR) {
      int one = 1;
      ::setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, &local.sa, local.size()) < 0) {
      int err = errno;
      ::close(fd);
      fd = -1;
      return -err;
    }
  }
  return 0;
}

int
open_listen_socket(const IpEndpoint &addr, const NetProcessor::AcceptOptions &opt, bool non_blocking, bool reuse_port, int &fd)
{
  int type = SOCK_STREAM | SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0);
  fd       = ::socket(addr.family(), type, 0);
  if (fd < 0) {
    return -errno;
  }
  auto fail = [&fd]() {
    int err = errno;
    ::close(fd);
    fd = -1;
    return -err;
  };
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
    return fail();
  }
  if (addr.family() == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (opt.recv_bufsize > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opt.recv_bufsize, sizeof(opt.recv_bufsize));
  }
  if (opt.send_bufsize > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt.send_bufsize, sizeof(opt.send_bufsize));
  }
  if (opt.defer_accept) {
    int secs = 45;
    ::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
  }
  if (::bind(fd, &addr.sa, addr.size()) < 0) {
    return fail();
  }
  if (::listen(fd, opt.backlog > 0 ? opt.backlog : SOMAXCONN) < 0) {
    return fail();
  }
  return 0;
}
} // namespace iocore
