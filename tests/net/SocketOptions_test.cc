// Socket options that change on a live connection (apply_options), what the kernel refuses, TCP
// Fast Open (data in the SYN, in a network namespace of the test's own), and the connect and
// poll settings that used to be accepted and ignored: INTF_ADDR, f_blocking_connect,
// NetConfig::poll_timeout_ms.
#include "support/FakePoller.h"
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
/// Keeps the connection NET_EVENT_OPEN delivers (or the failure) for the test thread to look at.
struct Opener : Continuation {
  Opener() : Continuation(new_ProxyMutex()) { set_handler(&Opener::handle); }
  ~Opener() override { close(); }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_OPEN) {
      vc            = static_cast<NetVConnection *>(data);
      tcp_info info = {};
      socklen_t len = sizeof(info);
      if (::getsockopt(vc->get_socket(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0) {
        state_at_open = info.tcpi_state;
      }
    } else if (event == NET_EVENT_OPEN_FAILED) {
      err = static_cast<int>(-reinterpret_cast<intptr_t>(data));
    }
    result = event;
    done.notify();
    return EVENT_DONE;
  }
  void close()
  {
    MutexLock lock(mutex, nullptr);
    if (vc) {
      vc->do_io_close();
      vc = nullptr;
    }
  }
  NetVConnection *vc = nullptr;
  std::atomic<int> result{0};
  std::atomic<int> err{0};
  std::atomic<int> state_at_open{-1};
  EventWaiter done;
};

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

/// Opens a connection to `listener` with `opt` and waits for NET_EVENT_OPEN.
void
open_to(Opener &o, const SocketListener &listener, const NetVCOptions &opt = NetVCOptions())
{
  IpEndpoint to = IpEndpoint::loopback(AF_INET, listener.port());
  netProcessor.connect_re(&o, &to.sa, &opt);
  ASSERT_TRUE(o.done.wait_for(1));
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

/// The NetHandler of a hand-driven thread with a FakePoller, created under a given poll_timeout_ms.
class PollWait : public ::testing::Test
{
protected:
  void start(int poll_timeout_ms)
  {
    saved                        = net_config();
    net_config().poll_timeout_ms = poll_timeout_ms;
    thread.set_current();
    thread.mutex->acquire(&thread);
    auto p = std::make_unique<FakePoller>();
    poller = p.get();
    initialize_thread_for_net(&thread, std::move(p));
    started = true;
  }
  void TearDown() override
  {
    if (started) {
      thread.mutex->release();
      EThread::clear_current();
      net_config() = saved;
    }
  }

  NetConfig saved;
  bool started = false;
  ManualClock clock;
  EThread thread{REGULAR, 0, &clock};
  FakePoller *poller = nullptr;
};

TEST_F(PollWait, PollTimeoutBoundsTheWaitInThePoller)
{
  start(7);
  thread.run_one_iteration(HRTIME_SECONDS(5));
  ASSERT_FALSE(poller->waits().empty());
  EXPECT_EQ(poller->waits().back(), HRTIME_MSECONDS(7));
}

TEST_F(PollWait, ANegativePollTimeoutLeavesTheWaitToTheTimers)
{
  start(-1);
  thread.run_one_iteration(HRTIME_SECONDS(5));
  ASSERT_FALSE(poller->waits().empty());
  EXPECT_GT(poller->waits().back(), HRTIME_MSECONDS(500)) << "up to the InactivityCop's next pass";
}

TEST_F(PollWait, ZeroPollsWithoutWaiting)
{
  start(0);
  thread.run_one_iteration(HRTIME_SECONDS(5));
  ASSERT_FALSE(poller->waits().empty());
  EXPECT_EQ(poller->waits().back(), 0);
}
} // namespace

namespace {
// --- TCP Fast Open -------------------------------------------------------------------------------
// Server-side Fast Open needs net.ipv4.tcp_fastopen bit 2, off by default and host-wide; the test
// runs in a child process with a network namespace of its own, where it may set it.

constexpr int kSkip = 77;

bool
write_file(const char *path, const std::string &text)
{
  std::ofstream f(path);
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

/// Enter a new network namespace (with a user namespace when not privileged), bring loopback up
/// and enable Fast Open for clients and servers there. False when the system does not allow it.
bool
enter_private_network_with_fast_open()
{
  if (::unshare(CLONE_NEWNET) != 0) {
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
      return false;
    }
    write_file("/proc/self/setgroups", "deny");
    if (!write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return false;
    }
  }
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool up = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  up = up && ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  ::close(s);
  return up && write_file("/proc/sys/net/ipv4/tcp_fastopen", "3");
}

/// Whether the SYN of the connection on fd carried data that the other side took.
bool
syn_carried_data(int fd)
{
  tcp_info info{};
  socklen_t len = sizeof(info);
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && (info.tcpi_options & TCPI_OPT_SYN_DATA) != 0;
}

/// One client connection with `client_flags`, sending "hello" and half-closing; returns 1 when
/// the server saw the data in the SYN, 0 when not, negative on failure.
int
fast_open_round(TestAcceptor &acceptor, std::atomic<int> &server_syn_data, uint16_t port, uint32_t client_flags)
{
  server_syn_data = -1;
  VCTestSpec spec;
  spec.write_bytes = 5;
  spec.read_nbytes = 0;
  VCTester client(spec);
  NetVCOptions opt;
  opt.sockopt_flags = client_flags;
  IpEndpoint to     = IpEndpoint::loopback(AF_INET, port);
  int accepted      = acceptor.accepted.count();
  {
    MutexLock lock(client.mutex, nullptr);
    netProcessor.connect_re(&client, &to.sa, &opt);
  }
  if (!client.wait_done() || client.bytes_written.load() != 5) {
    return -1;
  }
  if (!acceptor.accepted.wait_for(accepted + 1) || !eventually([&] { return server_syn_data.load() >= 0; })) {
    return -2;
  }
  return server_syn_data.load();
}

[[noreturn]] void
fast_open_child()
{
  if (!enter_private_network_with_fast_open()) {
    _exit(kSkip);
  }
  std::atomic<int> server_syn_data{-1};
  std::vector<std::unique_ptr<VCTester>> servers;
  std::mutex m;
  TestAcceptor acceptor([&](NetVConnection *vc) {
    VCTestSpec spec;
    spec.read_nbytes = INT64_MAX;
    auto t           = std::make_unique<VCTester>(spec);
    t->start(vc);
    std::lock_guard<std::mutex> g(m);
    servers.push_back(std::move(t));
    server_syn_data = syn_carried_data(vc->get_socket()) ? 1 : 0;
  });
  NetEnvironment env(1);
  NetProcessor::AcceptOptions aopt;
  aopt.sockopt_flags = SOCK_OPT_TCP_FAST_OPEN;
  int port           = acceptor.listen(aopt);
  if (port <= 0) {
    _exit(10);
  }
  auto p = static_cast<uint16_t>(port);
  // The first Fast Open connection only fetches the server's cookie; its SYN has no data.
  if (fast_open_round(acceptor, server_syn_data, p, SOCK_OPT_NO_DELAY | SOCK_OPT_TCP_FAST_OPEN) != 0) {
    _exit(11);
  }
  // With the cookie, the data rides in the SYN.
  if (fast_open_round(acceptor, server_syn_data, p, SOCK_OPT_NO_DELAY | SOCK_OPT_TCP_FAST_OPEN) != 1) {
    _exit(12);
  }
  // Off by default: without the flag the same client sends a bare SYN.
  if (fast_open_round(acceptor, server_syn_data, p, SOCK_OPT_NO_DELAY) != 0) {
    _exit(13);
  }
  acceptor.stop();
  _exit(0);
}

TEST(FastOpen, DataRidesInTheSynOnceTheClientHasACookie)
{
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    fast_open_child();
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died: " << status;
  int code = WEXITSTATUS(status);
  if (code == kSkip) {
    GTEST_SKIP() << "no network namespace of our own here (unshare refused)";
  }
  const char *what[] = {"",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "listen failed",
                        "first connection (cookie) carried data or failed",
                        "second connection's SYN carried no data",
                        "a connection without the flag carried data in its SYN"};
  EXPECT_EQ(code, 0) << (code < 14 ? what[code] : "unknown");
}
} // namespace
