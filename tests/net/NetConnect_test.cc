// Outgoing connects: refused, black-holed, throttled and cancelled ones, and which failures
// NetStats::connect_failures counts (a handshake that finished unseen is not one).
#include "net/LingeringClose.h"
#include "support/Session.h"
#include "support/NetTestHarness.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
TEST(NetConnect, RefusedConnectIsReportedNeverSilent)
{
  Session client([](Session &s, int event, void *data) {
    if (event == NET_EVENT_OPEN) {
      return reading_reaction(s, event, data);
    }
    if (event == VC_EVENT_ERROR) {
      s.close();
    }
    return EVENT_DONE;
  });
  NetEnvironment env;
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, unused_port());
  {
    MutexLock lock(client.mutex, nullptr);
    netProcessor.connect_re(&client, &ep.sa);
  }
  ASSERT_TRUE(client.got.wait_until([&] { return client.saw(NET_EVENT_OPEN_FAILED) || client.saw(VC_EVENT_ERROR); }));
  if (client.saw(NET_EVENT_OPEN_FAILED)) {
    EXPECT_EQ(client.open_failed_errno.load(), ECONNREFUSED);
  } else {
    EXPECT_EQ(client.error_lerrno.load(), ECONNREFUSED);
  }
}

TEST(NetConnect, BlackHoleConnectTimesOut)
{
  // A listener whose accept queue is full drops new SYNs: the connect never completes.
  int lfd       = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, 0);
  ASSERT_EQ(::bind(lfd, &ep.sa, ep.size()), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  sockaddr_in sin{};
  socklen_t len = sizeof(sin);
  ::getsockname(lfd, reinterpret_cast<sockaddr *>(&sin), &len);
  ep.set_port(ntohs(sin.sin_port));
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int f = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    (void)::connect(f, &ep.sa, ep.size()); // EINPROGRESS: it completes in the kernel's queue
    fillers.push_back(f);
  }
  Session client([](Session &s, int event, void *data) {
    if (event == NET_EVENT_OPEN) {
      s.vc->set_inactivity_timeout(HRTIME_MSECONDS(300));
      s.wbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
      s.wr   = s.wbuf->alloc_reader();
      s.wbuf->write("ping", 4);
      s.write_vio = s.vc->do_io_write(&s, 4, s.wr);
      return EVENT_DONE;
    }
    return reading_reaction(s, event, data);
  });
  {
    NetEnvironment env;
    {
      MutexLock lock(client.mutex, nullptr);
      netProcessor.connect_re(&client, &ep.sa);
    }
    ASSERT_TRUE(client.got.wait_until([&] {
      return client.saw(VC_EVENT_INACTIVITY_TIMEOUT) || client.saw(VC_EVENT_ERROR) || client.saw(NET_EVENT_OPEN_FAILED);
    }));
    EXPECT_TRUE(client.saw(VC_EVENT_INACTIVITY_TIMEOUT)) << ::testing::PrintToString(client.event_list());
  }
  for (int f : fillers) {
    ::close(f);
  }
  ::close(lfd);
}

TEST(NetConnect, ThrottledConnectFailsWithEnetThrottling)
{
  SessionServer server([] { return reading_session(); });
  Session first([](Session &s, int event, void *data) { return reading_reaction(s, event, data); });
  Session second([](Session &, int, void *) { return EVENT_DONE; });
  NetEnvironment env(2, [](NetConfig &c) { c.throttle_connections = 2; });
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(server.acceptor.listen()));
  {
    MutexLock lock(first.mutex, nullptr);
    netProcessor.connect_re(&first, &ep.sa);
  }
  ASSERT_TRUE(first.wait_event(NET_EVENT_OPEN));
  ASSERT_NE(server.wait_session(0), nullptr); // two connections open now: ours and the accepted one
  {
    MutexLock lock(second.mutex, nullptr);
    netProcessor.connect_re(&second, &ep.sa);
  }
  ASSERT_TRUE(second.wait_event(NET_EVENT_OPEN_FAILED));
  EXPECT_EQ(second.open_failed_errno.load(), ENET_THROTTLING);
  EXPECT_GE(net_stats_snapshot().throttled, 1);
  MutexLock lock(first.mutex, nullptr);
  first.close();
}

// As ATS's free(): a VC that never reached a net thread (its connect was cancelled before
// startEvent ran) is freed quietly: no call-back, no leak (ASan), no socket.
TEST(NetConnect, CancelledBeforeItStartsIsFreedQuietly)
{
  Session client([](Session &, int, void *) { return EVENT_DONE; });
  NetEnvironment env;
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, unused_port());
  {
    MutexLock lock(client.mutex, nullptr); // the connect's call-back cannot run while we hold this
    Action *a = netProcessor.connect_re(&client, &ep.sa);
    ASSERT_NE(a, ACTION_RESULT_DONE) << "from a non-net thread the connect is scheduled";
    a->cancel();
  }
  // The start event may have missed the client's lock (held above) and been re-queued
  // kLockRetryDelay later. A timer set on every net thread for after that retry fires after it
  // (timers fire in time order), so once all have fired the cancelled start has been processed.
  struct Marker : Continuation {
    EventWaiter &fired;
    explicit Marker(EventWaiter &w) : Continuation(new_ProxyMutex()), fired(w) { set_handler(&Marker::on_fire); }
    int on_fire(int, void *)
    {
      fired.notify();
      return EVENT_DONE;
    }
  };
  EventWaiter fired;
  std::vector<std::unique_ptr<Marker>> markers;
  std::mutex markers_m;
  eventProcessor.run_on_each_thread(ET_NET, [&](EThread *t) {
    std::lock_guard<std::mutex> g(markers_m);
    markers.push_back(std::make_unique<Marker>(fired));
    t->schedule_in_local(markers.back().get(), 2 * kLockRetryDelay);
  });
  ASSERT_TRUE(fired.wait_for(eventProcessor.n_threads_for_type(ET_NET)));
  EXPECT_TRUE(client.event_list().empty());
  EXPECT_EQ(net_stats_snapshot().connections_currently_open, 0);
}

// --- Connect failures, counted ----------------------------------------------------------------------------

/// A listener whose accept queue is full: further SYNs are dropped, so connects to it hang.
class BlackHole
{
public:
  BlackHole()
  {
    _lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ep   = IpEndpoint::loopback(AF_INET, 0);
    (void)::bind(_lfd, &ep.sa, ep.size());
    (void)::listen(_lfd, 0);
    sockaddr_in sin{};
    socklen_t len = sizeof(sin);
    ::getsockname(_lfd, reinterpret_cast<sockaddr *>(&sin), &len);
    ep.set_port(ntohs(sin.sin_port));
    for (int i = 0; i < 4; ++i) {
      int f = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      (void)::connect(f, &ep.sa, ep.size());
      _fillers.push_back(f);
    }
  }
  ~BlackHole()
  {
    for (int f : _fillers) {
      ::close(f);
    }
    ::close(_lfd);
  }
  IpEndpoint ep;

private:
  int _lfd = -1;
  std::vector<int> _fillers;
};

/// Connect to ep with `on_open` run in the NET_EVENT_OPEN call-back, then wait until the
/// connection is gone; returns how much NetStats::connect_failures grew.
int64_t
connect_failures_of(const IpEndpoint &ep, const std::function<void(Session &)> &on_open)
{
  int64_t before = net_stats_snapshot().connect_failures;
  Session client([on_open](Session &s, int event, void *data) {
    if (event == NET_EVENT_OPEN) {
      on_open(s);
      return EVENT_DONE;
    }
    return reading_reaction(s, event, data);
  });
  {
    MutexLock lock(client.mutex, nullptr);
    netProcessor.connect_re(&client, &ep.sa);
  }
  EXPECT_TRUE(client.got.wait_until([&] { return client.saw(NET_EVENT_OPEN) || client.saw(NET_EVENT_OPEN_FAILED); }));
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }))
      << ::testing::PrintToString(client.event_list());
  MutexLock settled(client.mutex, nullptr); // the last call-back (and its lock) is over: client may go
  return net_stats_snapshot().connect_failures - before;
}

// A connect that never completes counts once in NetStats::connect_failures, however it ends: a
// refusal, a timeout before the handshake, or the user giving up with an error. A connect that
// completed, or that the user cancels without an error, does not count.
TEST(NetConnect, EveryFailedConnectCountsOnceAndNoOtherDoes)
{
  NetEnvironment env;
  IpEndpoint refused = IpEndpoint::loopback(AF_INET, unused_port());
  EXPECT_EQ(connect_failures_of(refused, [](Session &s) { reading_reaction(s, NET_EVENT_OPEN, nullptr); }), 1) << "refused";

  BlackHole hole;
  EXPECT_EQ(connect_failures_of(hole.ep,
                                [](Session &s) {
                                  reading_reaction(s, NET_EVENT_OPEN, nullptr);
                                  s.vc->set_inactivity_timeout(HRTIME_MSECONDS(200));
                                }),
            1)
      << "timed out";
  EXPECT_EQ(connect_failures_of(hole.ep,
                                [](Session &s) {
                                  s.closed = true;
                                  s.vc->do_io_close(ETIMEDOUT);
                                }),
            1)
      << "given up with an error";
  EXPECT_EQ(connect_failures_of(hole.ep,
                                [](Session &s) {
                                  s.closed = true;
                                  s.vc->do_io_close();
                                }),
            0)
      << "cancelled";

  SocketListener listener;
  IpEndpoint ok = IpEndpoint::loopback(AF_INET, listener.port());
  EXPECT_EQ(connect_failures_of(ok,
                                [](Session &s) {
                                  reading_reaction(s, NET_EVENT_OPEN, nullptr);
                                  s.vc->set_active_timeout(HRTIME_MSECONDS(300)); // long after the handshake
                                }),
            0)
      << "connected";
}

// A connect whose handshake finished while its net thread was busy elsewhere (a loaded machine) has
// not failed, even if a timeout comes due before the poller reports the socket writable: the
// thread runs its due timers (the InactivityCop) before it waits in the poller, so the timeout is
// seen first. Here the thread is kept busy in NET_EVENT_OPEN until the kernel has completed the
// handshake and two cop periods have passed.
TEST(NetConnect, AHandshakeThatFinishedUnseenIsNotAFailedConnect)
{
  NetEnvironment env;
  SocketListener listener;
  IpEndpoint ok = IpEndpoint::loopback(AF_INET, listener.port());
  EXPECT_EQ(connect_failures_of(ok,
                                [](Session &s) {
                                  reading_reaction(s, NET_EVENT_OPEN, nullptr);
                                  s.vc->set_active_timeout(HRTIME_MSECONDS(1));
                                  auto busy_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
                                  sockaddr_storage peer{};
                                  socklen_t len  = sizeof(peer);
                                  bool connected = false;
                                  while (!connected || std::chrono::steady_clock::now() < busy_until) {
                                    len       = sizeof(peer);
                                    connected = ::getpeername(s.vc->get_socket(), reinterpret_cast<sockaddr *>(&peer), &len) == 0;
                                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                  }
                                }),
            0)
      << "the handshake had completed when the timeout came";
}
} // namespace
