// A connected socket made by someone else, wrapped by adopt_fd() (ATS's TSVConnFdCreate): what becomes
// a connection, what is refused and closed, and that the TLS processor does not offer it.
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
