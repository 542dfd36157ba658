// Connect options that used to be accepted and ignored: an option the kernel refuses fails the
// connect, INTF_ADDR binds the local address, and f_blocking_connect finishes or refuses at once.
#include "support/FakePoller.h"
#include "support/Opener.h"
#include "support/ManualClock.h"
#include "support/NetTestHarness.h"

#include "net/NetHandler.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <string>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
TEST(ConnectOptions, AnOptionTheKernelRefusesFailsTheConnect)
{
  SocketListener listener;
  NetEnvironment env(1);
  Opener o;
  NetVCOptions opt;
  opt.congestion_control = "no-such-algorithm";
  open_to(o, listener, opt);
  EXPECT_EQ(o.result.load(), NET_EVENT_OPEN_FAILED);
  EXPECT_EQ(o.err.load(), ENOENT);
}

TEST(ConnectOptions, IntfAddrBindsTheLocalAddress)
{
  SocketListener listener;
  NetEnvironment env(1);
  Opener o;
  NetVCOptions opt;
  opt.addr_binding = NetVCOptions::INTF_ADDR;
  opt.local_ip     = *IpEndpoint::parse("127.0.0.2:0");
  open_to(o, listener, opt);
  ASSERT_EQ(o.result.load(), NET_EVENT_OPEN);
  auto peer = listener.accept_one();
  ASSERT_TRUE(peer);
  sockaddr_in from{};
  socklen_t len = sizeof(from);
  ASSERT_EQ(::getpeername(peer->fd(), reinterpret_cast<sockaddr *>(&from), &len), 0);
  IpEndpoint seen;
  seen.assign(reinterpret_cast<sockaddr *>(&from));
  EXPECT_EQ(seen.host_string(), "127.0.0.2");
  MutexLock lock(o.mutex, nullptr);
  EXPECT_EQ(IpEndpoint(o.vc->local_addr).host_string(), "127.0.0.2");
}

TEST(ConnectOptions, InterfaceOrForeignBindingWithoutAnAddressFails)
{
  SocketListener listener;
  NetEnvironment env(1);
  for (auto style : {NetVCOptions::INTF_ADDR, NetVCOptions::FOREIGN_ADDR}) {
    Opener o;
    NetVCOptions opt;
    opt.addr_binding = style;
    open_to(o, listener, opt);
    EXPECT_EQ(o.result.load(), NET_EVENT_OPEN_FAILED);
    EXPECT_EQ(o.err.load(), EINVAL);
  }
}

TEST(ConnectOptions, BlockingConnectFinishesTheHandshakeBeforeConnectReReturns)
{
  SocketListener listener; // listening, never accepting: the handshake completes in the kernel
  NetEnvironment env(1);
  Opener o;
  NetVCOptions opt;
  opt.f_blocking_connect = true;
  IpEndpoint to          = IpEndpoint::loopback(AF_INET, listener.port());
  netProcessor.connect_re(&o, &to.sa, &opt);
  auto accepted = listener.accept_one(0ms); // kept open: the client stays ESTABLISHED
  EXPECT_TRUE(accepted) << "the connection was in the accept queue when connect_re returned";
  ASSERT_TRUE(o.done.wait_for(1));
  ASSERT_EQ(o.result.load(), NET_EVENT_OPEN);
  EXPECT_EQ(o.state_at_open, TCP_ESTABLISHED);
}

TEST(ConnectOptions, BlockingConnectReportsARefusalAsOpenFailedAtOnce)
{
  NetEnvironment env(1);
  Opener o;
  NetVCOptions opt;
  opt.f_blocking_connect = true;
  IpEndpoint to          = IpEndpoint::loopback(AF_INET, unused_port());
  Action *a              = netProcessor.connect_re(&o, &to.sa, &opt);
  EXPECT_EQ(a, ACTION_RESULT_DONE);
  EXPECT_EQ(o.result.load(), NET_EVENT_OPEN_FAILED) << "called back before connect_re returned";
  EXPECT_EQ(o.err.load(), ECONNREFUSED);
}
} // namespace
