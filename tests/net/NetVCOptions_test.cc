// NetVCOptions on an accepted connection: the socket options asked for (TCP_NODELAY, keep-alive)
// are set on the socket, and the local and remote addresses reported are the real ones.
#include "support/NetTestHarness.h"
#include "support/Echo.h"

#include "net/UnixNetVConnection.h"

#include <gtest/gtest.h>

#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>
#include <poll.h>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
TEST(NetVCOptions, SocketOptionsAndAddressesAreApplied)
{
  struct Probe {
    std::atomic<int> nodelay{-1};
    std::atomic<int> keepalive{-1};
    std::atomic<int> remote_port{0};
    std::atomic<int> local_port{0};
    std::atomic<bool> remote_is_loopback{false};
  } probe;
  EchoServer server;
  server.on_start = [&](Echo *e) {
    int v         = 0;
    socklen_t len = sizeof(v);
    ::getsockopt(e->vc->get_socket(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
    probe.nodelay = v;
    ::getsockopt(e->vc->get_socket(), SOL_SOCKET, SO_KEEPALIVE, &v, &len);
    probe.keepalive   = v;
    probe.remote_port = e->vc->get_remote_port();
    probe.local_port  = e->vc->get_local_port();
    IpEndpoint remote;
    remote.assign(e->vc->get_remote_addr());
    probe.remote_is_loopback = remote.host_string() == "127.0.0.1";
  };
  NetEnvironment env;
  NetProcessor::AcceptOptions opt;
  opt.sockopt_flags = SOCK_OPT_NO_DELAY | SOCK_OPT_KEEP_ALIVE;
  int port          = server.acceptor.listen(opt);
  auto p            = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(p && round_trip(*p, "o"));
  sockaddr_in self{};
  socklen_t len = sizeof(self);
  ::getsockname(p->fd(), reinterpret_cast<sockaddr *>(&self), &len);
  EXPECT_NE(probe.nodelay.load(), 0);
  EXPECT_NE(probe.keepalive.load(), 0);
  EXPECT_EQ(probe.local_port.load(), port);
  EXPECT_EQ(probe.remote_port.load(), ntohs(self.sin_port));
  EXPECT_TRUE(probe.remote_is_loopback);
}
} // namespace
