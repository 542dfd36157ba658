// Sockets made by someone else: a listening socket handed to accept() (AcceptOptions::fd, as from
// a parent, systemd or a supervisor) and a connected one wrapped by adopt_fd() (ATS's
// TSVConnFdCreate): what is served, what is refused and who closes what.
#include "support/NetTestHarness.h"

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
/// Echoes every byte back; closes on EOS or error.
class Echo : public Continuation
{
public:
  explicit Echo(NetVConnection *v) : Continuation(v->mutex), vc(v)
  {
    set_handler(&Echo::handle);
    write_vio = vc->do_io_write(this, INT64_MAX, reader);
    read_vio  = vc->do_io_read(this, INT64_MAX, buf);
  }
  ~Echo() override { free_MIOBuffer(buf); }
  int handle(int event, void *)
  {
    switch (event) {
    case VC_EVENT_READ_READY:
      write_vio->reenable();
      break;
    case VC_EVENT_WRITE_READY:
      read_vio->reenable();
      break;
    default:
      if (vc != nullptr) {
        vc->do_io_close();
        vc = nullptr;
      }
      break;
    }
    return EVENT_DONE;
  }
  NetVConnection *vc;
  MIOBuffer *buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *reader = buf->alloc_reader();
  VIO *read_vio          = nullptr;
  VIO *write_vio         = nullptr;
};

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

bool
round_trip(SocketPeer &p, const std::string &msg)
{
  return p.send_all(msg) && p.recv_exact(msg.size()) == msg;
}

bool
is_open(int fd)
{
  return ::fcntl(fd, F_GETFD) != -1;
}

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

/// Records NET_EVENT_OPEN / NET_EVENT_OPEN_FAILED of adopt_fd and runs an Echo on the connection.
struct Adopter : Continuation {
  Adopter() : Continuation(new_ProxyMutex()) { set_handler(&Adopter::handle); }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_OPEN) {
      auto *vc = static_cast<NetVConnection *>(data);
      remote   = vc->get_remote_endpoint();
      on_net   = this_ethread() == vc->thread && vc->thread != nullptr;
      echo     = std::make_unique<Echo>(vc);
    } else if (event == NET_EVENT_OPEN_FAILED) {
      err = static_cast<int>(-reinterpret_cast<intptr_t>(data));
    }
    result = event;
    done.notify();
    return EVENT_DONE;
  }
  std::atomic<int> result{0};
  std::atomic<int> err{0};
  SocketAddress remote;
  bool on_net = false;
  std::unique_ptr<Echo> echo;
  EventWaiter done;
};

TEST(AdoptFd, ASocketpairEndBecomesAConnection)
{
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0); // blocking, as handed over
  ASSERT_EQ(::fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);                      // the test's end waits with deadlines
  SocketPeer peer(fds[1]);
  Adopter adopter;
  NetEnvironment env(2);
  netProcessor.adopt_fd(&adopter, fds[0]);
  ASSERT_TRUE(adopter.done.wait_for(1));
  ASSERT_EQ(adopter.result.load(), NET_EVENT_OPEN);
  {
    MutexLock lock(adopter.mutex, nullptr);
    EXPECT_TRUE(adopter.remote.is_unix());
    EXPECT_TRUE(adopter.on_net);
  }
  EXPECT_NE(::fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
  std::string big = pattern(0, 64 << 10, 9); // fits the socket buffers: sent before it is read back
  EXPECT_TRUE(round_trip(peer, "hello"));
  EXPECT_TRUE(peer.send_all(big));
  EXPECT_EQ(peer.recv_exact(big.size()), big);
  peer.shutdown_write();
  EXPECT_TRUE(peer.wait_closed()) << "EOS reached the echo, which closed the adopted socket";
}

TEST(AdoptFd, AConnectedTcpSocketKeepsItsAddressAndDataAlreadyWaiting)
{
  SocketListener listener;
  int fd         = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  IpEndpoint dst = IpEndpoint::loopback(AF_INET, listener.port());
  ASSERT_EQ(::connect(fd, &dst.sa, dst.size()), 0);
  auto server_side = listener.accept_one();
  ASSERT_TRUE(server_side);
  ASSERT_TRUE(server_side->send_all("early")); // arrives before the socket is handed over
  Adopter adopter;
  NetEnvironment env(1);
  netProcessor.adopt_fd(&adopter, fd);
  ASSERT_TRUE(adopter.done.wait_for(1));
  ASSERT_EQ(adopter.result.load(), NET_EVENT_OPEN);
  {
    MutexLock lock(adopter.mutex, nullptr);
    EXPECT_EQ(adopter.remote.port(), listener.port());
  }
  EXPECT_EQ(server_side->recv_exact(5), "early");
  int nodelay   = 0;
  socklen_t len = sizeof(nodelay);
  ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
  EXPECT_NE(nodelay, 0) << "the default NetVCOptions were applied";
}

TEST(AdoptFd, APeerThatHasAlreadyGoneIsAnEndNotAFailedConnect)
{
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ASSERT_EQ(::write(fds[1], "bye", 3), 3);
  ::close(fds[1]); // the first thing the poller reports is the hang-up
  Adopter adopter;
  NetEnvironment env(1);
  int64_t failures_before = net_stats_snapshot().connect_failures;
  netProcessor.adopt_fd(&adopter, fds[0]);
  ASSERT_TRUE(adopter.done.wait_for(1));
  ASSERT_EQ(adopter.result.load(), NET_EVENT_OPEN);
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; })) << "EOS closed it";
  EXPECT_EQ(net_stats_snapshot().connect_failures, failures_before) << "the socket came connected";
}

TEST(AdoptFd, RefusesWhatIsNotAConnectedStreamSocketAndClosesIt)
{
  NetEnvironment env(1);
  auto refusal = [](int fd, NetVCOptions *opt = nullptr) {
    Adopter a;
    netProcessor.adopt_fd(&a, fd, opt);
    EXPECT_TRUE(a.done.wait_for(1));
    EXPECT_EQ(a.result.load(), NET_EVENT_OPEN_FAILED);
    return a.err.load();
  };
  int unconnected = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(refusal(unconnected), ENOTCONN);
  EXPECT_FALSE(is_open(unconnected)) << "the library owned it from the call on";
  int file = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(refusal(file), ENOTSOCK);
  EXPECT_FALSE(is_open(file));
  int dgram[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dgram), 0);
  EXPECT_EQ(refusal(dgram[0]), ESOCKTNOSUPPORT);
  ::close(dgram[1]);
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  NetVCOptions bind_asked;
  bind_asked.local_port = 1234;
  EXPECT_EQ(refusal(pair[0], &bind_asked), EINVAL);
  ::close(pair[1]);
  EXPECT_EQ(refusal(-1), EBADF);
}

TEST(AdoptFd, TheTlsProcessorDoesNotOfferIt)
{
  NetEnvironment env(1);
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  Adopter a;
  sslNetProcessor.adopt_fd(&a, pair[0]);
  ASSERT_TRUE(a.done.wait_for(1));
  EXPECT_EQ(a.result.load(), NET_EVENT_OPEN_FAILED);
  EXPECT_EQ(a.err.load(), EOPNOTSUPP);
  EXPECT_FALSE(is_open(pair[0]));
  ::close(pair[1]);
}
} // namespace
