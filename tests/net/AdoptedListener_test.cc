// A listening socket made by someone else, handed to accept() (AcceptOptions::fd, as from a parent,
// systemd or a supervisor): what is served, what is refused, and who closes what.
#include "support/NetTestHarness.h"
#include "support/Echo.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
/// Accepts with an Echo per connection, remembering each connection's thread and local address.
class EchoAcceptor
{
public:
  EchoAcceptor()
      : acceptor(
            [this](NetVConnection *vc) {
              std::lock_guard<std::mutex> g(m);
              locals.push_back(vc->get_local_endpoint());
              echos.push_back(std::make_unique<Echo>(vc));
            },
            false)
  {
  }
  std::mutex m;
  std::vector<SocketAddress> locals;
  std::vector<std::unique_ptr<Echo>> echos;
  TestAcceptor acceptor;
};

/// A listening TCP socket on 127.0.0.1 made the way another program would, and its address.
int
tcp_listener(SocketAddress &bound, bool listening = true)
{
  int fd         = ::socket(AF_INET, SOCK_STREAM, 0); // no CLOEXEC: as inherited
  IpEndpoint any = IpEndpoint::loopback(AF_INET);
  if (fd < 0 || ::bind(fd, &any.sa, any.size()) != 0 || (listening && ::listen(fd, 16) != 0)) {
    return -1;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len);
  bound = SocketAddress::from_kernel(reinterpret_cast<sockaddr *>(&ss), len);
  return fd;
}

Action *
listen_on_fd(EchoAcceptor &server, int fd, int accept_threads = 0)
{
  NetProcessor::AcceptOptions opt;
  opt.fd                 = fd;
  opt.accept_threads     = accept_threads;
  server.acceptor.action = netProcessor.accept(&server.acceptor, opt);
  return server.acceptor.action;
}

TEST(AdoptedListener, ServesAnInheritedTcpSocketAndReportsItsAddress)
{
  SocketAddress bound;
  int fd = tcp_listener(bound);
  ASSERT_GE(fd, 0);
  EchoAcceptor server;
  NetEnvironment env(2);
  Action *a = listen_on_fd(server, fd);
  ASSERT_NE(a, nullptr) << std::strerror(errno);
  EXPECT_EQ(NetProcessor::accept_address(a), bound);
  EXPECT_EQ(NetProcessor::accept_port(a), bound.port());
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "the listener no longer leaks into children";
  std::vector<SocketPeer> peers;
  for (int i = 0; i < 6; ++i) {
    auto p = SocketPeer::connect_to(bound);
    ASSERT_TRUE(p);
    EXPECT_TRUE(round_trip(*p, pattern(0, 3000, static_cast<uint8_t>(i))));
    peers.push_back(std::move(*p));
  }
}

TEST(AdoptedListener, CancelClosesItsDescriptorButNotTheSharedSocket)
{
  SocketAddress bound;
  int fd = tcp_listener(bound);
  ASSERT_GE(fd, 0);
  int keeper = ::dup(fd); // a supervisor's copy, kept across the server's restarts
  EchoAcceptor server;
  NetEnvironment env(1);
  ASSERT_NE(listen_on_fd(server, fd), nullptr);
  auto p = SocketPeer::connect_to(bound);
  ASSERT_TRUE(p && round_trip(*p, "before"));
  server.acceptor.stop();
  EXPECT_TRUE(eventually([&] { return !is_open(fd); })) << "the listener's own descriptor is closed";
  // The kernel still queues connections for the keeper: the socket was never shut down.
  auto later = SocketPeer::connect_to(bound);
  ASSERT_TRUE(later) << "the shared socket stopped listening";
  int s = ::accept4(keeper, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(s, 0);
  ::close(s);
  ::close(keeper);
}

TEST(AdoptedListener, ServesAUnixSocketWithoutRemovingItsFile)
{
  char dir[] = "/tmp/iocore-adopt-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/s.sock";
  SocketAddress at = *SocketAddress::unix_path(path);
  int fd           = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::bind(fd, at.sa(), at.size()), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  EchoAcceptor server;
  {
    NetEnvironment env(2);
    Action *a = listen_on_fd(server, fd);
    ASSERT_NE(a, nullptr) << std::strerror(errno);
    EXPECT_EQ(NetProcessor::accept_address(a).to_string(), "unix:" + path);
    auto p = SocketPeer::connect_to(at);
    ASSERT_TRUE(p && round_trip(*p, "over a path"));
    server.acceptor.stop();
  }
  struct stat st {
  };
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << "the file belongs to whoever made the socket";
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST(AdoptedListener, RefusesWhatIsNotAListeningStreamSocketAndLeavesItOpen)
{
  EchoAcceptor server;
  NetEnvironment env(1);
  auto refusal = [&](int fd) {
    errno = 0;
    return listen_on_fd(server, fd) == nullptr ? errno : 0;
  };
  int file = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(refusal(file), ENOTSOCK);
  EXPECT_TRUE(is_open(file));
  ::close(file);

  int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(refusal(udp), ESOCKTNOSUPPORT);
  EXPECT_TRUE(is_open(udp));
  ::close(udp);

  SocketAddress bound;
  int not_listening = tcp_listener(bound, false);
  EXPECT_EQ(refusal(not_listening), EINVAL);
  EXPECT_TRUE(is_open(not_listening));
  ::close(not_listening);

  int closed = ::dup(0);
  ::close(closed);
  EXPECT_EQ(refusal(closed), EBADF);

  int listening = tcp_listener(bound);
  EXPECT_EQ(
      [&] {
        errno = 0;
        return listen_on_fd(server, listening, 2) == nullptr ? errno : 0;
      }(),
      EINVAL)
      << "blocking accept threads would have to shut a shared socket down to stop";
  EXPECT_TRUE(is_open(listening));
  ::close(listening);
}
} // namespace
