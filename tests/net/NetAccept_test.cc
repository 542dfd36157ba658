// Listening and accepting: ephemeral ports, dedicated accept threads, cancel, a listener that breaks for
// good, max_connections_in, running out of descriptors and the accept throttle.
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
TEST(NetAccept, PortZeroBindsAnEphemeralPortThatAcceptPortReports)
{
  EchoServer server;
  NetEnvironment env;
  int port = server.acceptor.listen();
  ASSERT_GT(port, 0);
  auto p = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(p);
  EXPECT_TRUE(round_trip(*p, "ping"));
  EXPECT_EQ(NetProcessor::accept_port(nullptr), -1);
}

TEST(NetAccept, DedicatedAcceptThreadsHandConnectionsToNetThreads)
{
  EchoServer server;
  NetEnvironment env;
  NetProcessor::AcceptOptions opt;
  opt.accept_threads = 2;
  int port           = server.acceptor.listen(opt);
  ASSERT_GT(port, 0);
  std::vector<SocketPeer> peers;
  for (int i = 0; i < 20; ++i) {
    auto p = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(p);
    peers.push_back(std::move(*p));
  }
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(round_trip(peers[i], pattern(0, 1000, static_cast<uint8_t>(i))));
  }
  std::set<EThread *> threads;
  for (int i = 0; i < 20; ++i) {
    Echo *e = server.echo(static_cast<std::size_t>(i));
    ASSERT_NE(e, nullptr);
    threads.insert(e->vc->thread);
  }
  EXPECT_EQ(threads.size(), 2u) << "round-robin over both net threads";
}

TEST(NetAccept, CancelStopsListening)
{
  EchoServer server;
  NetEnvironment env;
  int port = server.acceptor.listen();
  ASSERT_TRUE(SocketPeer::connect_to(static_cast<uint16_t>(port)));
  ASSERT_TRUE(server.acceptor.accepted.wait_for(1));
  server.acceptor.stop();
  // Once both net threads have closed their sockets, connects are refused.
  bool refused = eventually([&] { return !SocketPeer::connect_to(static_cast<uint16_t>(port)).has_value(); });
  EXPECT_TRUE(refused);
}

/// The listening sockets of this process bound to `port` (found through /proc/self/fd).
std::vector<int>
listening_sockets_on(int port)
{
  std::vector<int> out;
  for (int fd = 0; fd < 4096; ++fd) {
    int listening = 0;
    socklen_t len = sizeof(listening);
    sockaddr_storage ss{};
    socklen_t slen = sizeof(ss);
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening != 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &slen) == 0) {
      IpEndpoint ep;
      ep.assign(reinterpret_cast<sockaddr *>(&ss));
      if (ep.port() == port) {
        out.push_back(fd);
      }
    }
  }
  return out;
}

/// An acceptor that records what it is told besides connections (which it closes).
class RecordingAcceptor : public Continuation
{
public:
  RecordingAcceptor() : Continuation(new_ProxyMutex()) { set_handler(&RecordingAcceptor::handle); }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) {
      static_cast<NetVConnection *>(data)->do_io_close();
    } else {
      std::lock_guard<std::mutex> g(m);
      others.emplace_back(event, reinterpret_cast<intptr_t>(data));
    }
    told.notify();
    return EVENT_DONE;
  }
  std::vector<std::pair<int, intptr_t>> snapshot()
  {
    std::lock_guard<std::mutex> g(m);
    return others;
  }
  std::mutex m;
  std::vector<std::pair<int, intptr_t>> others;
  EventWaiter told;
};

// A listening socket that breaks for good (here: shut down under the listener, so accept() says
// EINVAL) is reported to the acceptor once, as EVENT_ERROR with -errno, and the listener stops
// instead of retrying for ever. Both accept modes.
TEST(NetAccept, AListenerWhoseAcceptFailsForGoodTellsTheAcceptorOnceAndStops)
{
  for (int accept_threads : {0, 1}) {
    SCOPED_TRACE(accept_threads == 0 ? "per-thread accept" : "dedicated accept thread");
    RecordingAcceptor acceptor;
    NetEnvironment env;
    NetProcessor::AcceptOptions opt;
    opt.local_ip       = IpEndpoint::loopback(AF_INET);
    opt.accept_threads = accept_threads;
    Action *listener;
    {
      MutexLock lock(acceptor.mutex, nullptr);
      listener = netProcessor.accept(&acceptor, opt);
    }
    ASSERT_NE(listener, nullptr);
    int port             = NetProcessor::accept_port(listener);
    int64_t errors_was   = net_stats_snapshot().accept_errors;
    std::vector<int> fds = listening_sockets_on(port);
    ASSERT_FALSE(fds.empty());
    for (int fd : fds) {
      ::shutdown(fd, SHUT_RDWR);
    }
    ASSERT_TRUE(acceptor.told.wait_until([&] { return !acceptor.snapshot().empty(); }));
    // Stopped, not retrying: a listener that retried would have called accept() again (and
    // counted another error) within its 50 ms pause. Wait for timers set well after that.
    EventWaiter later;
    struct Marker : Continuation {
      EventWaiter &w;
      explicit Marker(EventWaiter &ew) : Continuation(new_ProxyMutex()), w(ew) { set_handler(&Marker::fire); }
      int fire(int, void *)
      {
        w.notify();
        return EVENT_DONE;
      }
    };
    std::vector<std::unique_ptr<Marker>> markers;
    std::mutex markers_m;
    eventProcessor.run_on_each_thread(ET_NET, [&](EThread *t) {
      std::lock_guard<std::mutex> g(markers_m);
      markers.push_back(std::make_unique<Marker>(later));
      t->schedule_in_local(markers.back().get(), HRTIME_MSECONDS(300));
    });
    ASSERT_TRUE(later.wait_for(eventProcessor.n_threads_for_type(ET_NET)));
    auto told = acceptor.snapshot();
    ASSERT_EQ(told.size(), 1u);
    EXPECT_EQ(told[0].first, EVENT_ERROR);
    EXPECT_EQ(told[0].second, -EINVAL);
    EXPECT_EQ(net_stats_snapshot().accept_errors, errors_was + 1);
    MutexLock lock(acceptor.mutex, nullptr);
    listener->cancel(); // still allowed, and harmless
  }
}

TEST(NetAccept, MaxConnectionsInLeavesNewConnectionsInTheKernelQueue)
{
  EchoServer server;
  NetEnvironment env(2, [](NetConfig &c) { c.max_connections_in = 2; });
  int port = server.acceptor.listen();
  auto a   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  auto b   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(round_trip(*a, "a"));
  ASSERT_TRUE(round_trip(*b, "b"));
  auto c = SocketPeer::connect_to(static_cast<uint16_t>(port)); // completes in the kernel
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_all("c"));
  EXPECT_EQ(c->recv_exact(1, 500ms), "") << "a third connection is not served while two are open";
  a->close();
  EXPECT_EQ(c->recv_exact(1, 10s), "c") << "served once room frees";
}

[[noreturn]] void
run_out_of_descriptors_child()
{
  rlimit rl{64, 64};
  setrlimit(RLIMIT_NOFILE, &rl);
  EchoServer server;
  NetEnvironment env(1);
  int port   = server.acceptor.listen();
  auto first = SocketPeer::connect_to(static_cast<uint16_t>(port));
  if (!first || !round_trip(*first, "1")) {
    _exit(10);
  }
  std::vector<int> hogs;
  for (;;) {
    int fd = ::dup(0);
    if (fd < 0) {
      break;
    }
    hogs.push_back(fd);
  }
  // Free one descriptor: the client side of a new connection takes it, the server side finds none.
  ::close(hogs.back());
  hogs.pop_back();
  auto second = SocketPeer::connect_to(static_cast<uint16_t>(port));
  if (!second) {
    _exit(11);
  }
  if (!eventually([] { return net_stats_snapshot().accept_errors > 0; }, 10s)) {
    _exit(12);
  }
  if (!round_trip(*first, "still served")) {
    _exit(13);
  }
  for (int fd : hogs) {
    ::close(fd);
  }
  if (!second->send_all("2") || second->recv_exact(1, 10s) != "2") {
    _exit(14);
  }
  _exit(0);
}

TEST(NetAccept, RunningOutOfDescriptorsPausesAcceptingAndRecovers)
{
  // In a child process (its own RLIMIT_NOFILE): fill the table, see accept fail and pause, free
  // descriptors, see accepting resume while an established connection keeps being served.
  EXPECT_EXIT(run_out_of_descriptors_child(), ::testing::ExitedWithCode(0), "");
}

// ATS check_net_throttle(ACCEPT): past throttle_connections less its 10 % headroom, accepted
// connections are closed at once (counted), and accepting goes on once connections close.
TEST(NetAccept, AcceptsOverTheThrottleAreClosedAtOnce)
{
  EchoServer server;
  NetEnvironment env(1, [](NetConfig &c) { c.throttle_connections = 4; });
  int port          = server.acceptor.listen();
  int64_t throttled = net_stats_snapshot().throttled_accepts;
  std::vector<SocketPeer> served;
  for (int i = 0; i < 4; ++i) {
    auto p = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(p && round_trip(*p, "x")) << i;
    served.push_back(std::move(*p));
  }
  auto over = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(over);
  EXPECT_TRUE(over->wait_closed()) << "4 open * 1.1 >= 4: throttled";
  EXPECT_EQ(net_stats_snapshot().throttled_accepts - throttled, 1);
  served.pop_back();
  ASSERT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 3; }));
  auto again = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(again);
  EXPECT_TRUE(round_trip(*again, "y")) << "served again once below the throttle";
}
} // namespace
