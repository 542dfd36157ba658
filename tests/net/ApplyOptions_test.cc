// Socket options changed on a live connection (apply_options): both ways, what the kernel refuses,
// the packet mark, TOS as the IPv6 traffic class, and an initial congestion window the kernel may lack.
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
int
get_int(int fd, int level, int name)
{
  int v         = -1;
  socklen_t len = sizeof(v);
  return ::getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
}

std::string
get_congestion(int fd)
{
  char name[32] = {};
  socklen_t len = sizeof(name);
  return ::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) == 0 ? std::string(name) : std::string();
}

TEST(ApplyOptions, ChangesTheOptionsOfALiveConnectionBothWays)
{
  SocketListener listener;
  NetEnvironment env(1);
  Opener o;
  NetVCOptions none;
  none.sockopt_flags = 0;
  open_to(o, listener, none);
  ASSERT_EQ(o.result.load(), NET_EVENT_OPEN);
  MutexLock lock(o.mutex, nullptr);
  NetVConnection *vc = o.vc;
  int fd             = vc->get_socket();
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);

  vc->options.sockopt_flags =
      SOCK_OPT_NO_DELAY | SOCK_OPT_KEEP_ALIVE | SOCK_OPT_LINGER_ON | SOCK_OPT_PACKET_TOS | SOCK_OPT_TCP_NOTSENT_LOWAT;
  vc->options.keep_alive_idle      = 7;
  vc->options.keep_alive_interval  = 3;
  vc->options.keep_alive_count     = 4;
  vc->options.packet_tos           = 0x20;
  vc->options.packet_notsent_lowat = 16384;
  vc->options.congestion_control   = "reno";
  ASSERT_EQ(vc->apply_options(), 0);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 3);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
  linger l{};
  socklen_t len = sizeof(l);
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len), 0);
  EXPECT_EQ(l.l_onoff, 1);
  EXPECT_EQ(l.l_linger, 0);
  EXPECT_EQ(get_int(fd, IPPROTO_IP, IP_TOS), 0x20);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT), 16384);
  EXPECT_EQ(get_congestion(fd), "reno");

  vc->options.sockopt_flags = 0;
  ASSERT_EQ(vc->apply_options(), 0);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
  EXPECT_EQ(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len), 0);
  EXPECT_EQ(l.l_onoff, 0);
  EXPECT_EQ(get_int(fd, IPPROTO_IP, IP_TOS), 0);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT), 0);
  EXPECT_EQ(get_congestion(fd), "reno") << "an empty name leaves the algorithm alone";
}

TEST(ApplyOptions, ReportsWhatTheKernelRefusedAndAppliesTheRest)
{
  SocketListener listener;
  NetEnvironment env(1);
  Opener o;
  open_to(o, listener);
  ASSERT_EQ(o.result.load(), NET_EVENT_OPEN);
  MutexLock lock(o.mutex, nullptr);
  NetVConnection *vc             = o.vc;
  vc->options.congestion_control = "no-such-algorithm";
  vc->options.sockopt_flags      = SOCK_OPT_KEEP_ALIVE;
  EXPECT_EQ(vc->apply_options(), -ENOENT);
  EXPECT_EQ(get_int(vc->get_socket(), SOL_SOCKET, SO_KEEPALIVE), 1);
}

TEST(ApplyOptions, PacketMarkIsSetWithPrivilegeAndRefusedWithout)
{
  SocketListener listener;
  NetEnvironment env(1);
  Opener o;
  open_to(o, listener);
  ASSERT_EQ(o.result.load(), NET_EVENT_OPEN);
  MutexLock lock(o.mutex, nullptr);
  NetVConnection *vc        = o.vc;
  int fd                    = vc->get_socket();
  vc->options.sockopt_flags = SOCK_OPT_PACKET_MARK;
  vc->options.packet_mark   = 42;
  int probe                 = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int mark                  = 1;
  bool privileged           = ::setsockopt(probe, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == 0;
  ::close(probe);
  if (!privileged) {
    EXPECT_EQ(vc->apply_options(), -EPERM);
    return;
  }
  ASSERT_EQ(vc->apply_options(), 0);
  EXPECT_EQ(get_int(fd, SOL_SOCKET, SO_MARK), 42);
  vc->options.sockopt_flags = 0;
  ASSERT_EQ(vc->apply_options(), 0);
  EXPECT_EQ(get_int(fd, SOL_SOCKET, SO_MARK), 0);
}

TEST(ApplyOptions, TosIsTheTrafficClassOnIPv6)
{
  int v6         = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  IpEndpoint lo6 = IpEndpoint::loopback(AF_INET6, 0);
  bool have_v6   = v6 >= 0 && ::bind(v6, &lo6.sa, lo6.size()) == 0 && ::listen(v6, 4) == 0;
  if (!have_v6) {
    ::close(v6);
    GTEST_SKIP() << "no ::1 here";
  }
  socklen_t len = sizeof(lo6.sin6);
  ::getsockname(v6, &lo6.sa, &len);
  NetEnvironment env(1);
  Opener o;
  NetVCOptions opt;
  opt.sockopt_flags = SOCK_OPT_PACKET_TOS;
  opt.packet_tos    = 0x28;
  netProcessor.connect_re(&o, &lo6.sa, &opt);
  ASSERT_TRUE(o.done.wait_for(1));
  ASSERT_EQ(o.result.load(), NET_EVENT_OPEN);
  {
    MutexLock lock(o.mutex, nullptr);
    EXPECT_EQ(get_int(o.vc->get_socket(), IPPROTO_IPV6, IPV6_TCLASS), 0x28);
  }
  o.close();
  ::close(v6);
}

TEST(ApplyOptions, InitialCongestionWindowSaysWhenTheKernelHasNoSuchSetting)
{
  SocketListener listener;
  NetEnvironment env(1);
  Opener o;
  open_to(o, listener);
  ASSERT_EQ(o.result.load(), NET_EVENT_OPEN);
  MutexLock lock(o.mutex, nullptr);
#ifdef TCP_INIT_CWND
  EXPECT_EQ(o.vc->set_tcp_init_cwnd(10), 0);
#else
  EXPECT_EQ(o.vc->set_tcp_init_cwnd(10), -EOPNOTSUPP);
#endif
}
} // namespace
