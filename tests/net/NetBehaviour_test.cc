// Loopback tests of single behaviours of the net layer: timeouts, close paths, resets, connect
// failures, cross-thread reenable, queues, throttling, migration and OOB.
#include "net/LingeringClose.h"
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
/// A session that records the events it gets (with the time) and runs a scripted reaction.
class Session : public Continuation
{
public:
  using React = std::function<int(Session &, int event, void *data)>;
  explicit Session(React react = {}) : Continuation(new_ProxyMutex()), react(std::move(react)) { set_handler(&Session::handle); }
  ~Session() override
  {
    if (rbuf) {
      free_MIOBuffer(rbuf);
    }
    if (wbuf) {
      free_MIOBuffer(wbuf);
    }
  }

  int handle(int event, void *data)
  {
    {
      std::lock_guard<std::mutex> g(_m);
      events.push_back(event);
      times.push_back(std::chrono::steady_clock::now());
    }
    if (event == NET_EVENT_OPEN || event == NET_EVENT_ACCEPT) {
      vc = static_cast<NetVConnection *>(data);
    }
    if (event == NET_EVENT_OPEN_FAILED) {
      open_failed_errno = static_cast<int>(-reinterpret_cast<intptr_t>(data));
    }
    if (event == VC_EVENT_ERROR) {
      error_lerrno = vc->lerrno;
    }
    // Marked seen only once the event's details are stored: a waiter woken by an earlier
    // notify polls saw() and must never find the event without its errno.
    if (event >= 0 && event < static_cast<int>(_seen.size())) {
      _seen[event].store(true);
    }
    int r = react ? react(*this, event, data) : EVENT_DONE;
    got.notify();
    return r;
  }

  void close()
  {
    if (vc && !closed) {
      closed = true;
      vc->do_io_close();
    }
  }

  /// Lock-free, so it can be used in EventWaiter predicates.
  bool saw(int event) { return event >= 0 && event < static_cast<int>(_seen.size()) && _seen[event].load(); }
  bool wait_event(int event, std::chrono::milliseconds d = 10s)
  {
    return got.wait_until([&] { return saw(event); }, d);
  }
  std::chrono::steady_clock::time_point time_of(int event)
  {
    std::lock_guard<std::mutex> g(_m);
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i] == event) {
        return times[i];
      }
    }
    return {};
  }
  /// When `event` last came no later than `limit` (a default time_point: never).
  std::chrono::steady_clock::time_point last_time_before(int event, std::chrono::steady_clock::time_point limit)
  {
    std::lock_guard<std::mutex> g(_m);
    std::chrono::steady_clock::time_point last{};
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i] == event && times[i] <= limit) {
        last = times[i];
      }
    }
    return last;
  }
  bool saw_before(int event, std::chrono::steady_clock::time_point limit)
  {
    return last_time_before(event, limit) != std::chrono::steady_clock::time_point{};
  }
  std::vector<int> event_list()
  {
    std::lock_guard<std::mutex> g(_m);
    return events;
  }

  React react;
  NetVConnection *vc = nullptr;
  MIOBuffer *rbuf    = nullptr;
  IOBufferReader *rr = nullptr;
  MIOBuffer *wbuf    = nullptr;
  IOBufferReader *wr = nullptr;
  VIO *read_vio      = nullptr;
  VIO *write_vio     = nullptr;
  bool closed        = false;
  std::atomic<int> open_failed_errno{0};
  std::atomic<int> error_lerrno{0};
  std::atomic<int64_t> received{0};
  EventWaiter got;

private:
  std::array<std::atomic<bool>, 256> _seen{};
  std::mutex _m;
  std::vector<int> events;
  std::vector<std::chrono::steady_clock::time_point> times;
};

/// Server side: one Session per accepted connection, created with `make`.
class SessionServer
{
public:
  explicit SessionServer(std::function<std::unique_ptr<Session>()> make, bool serialised = true)
      : _make(std::move(make)), acceptor(
                                    [this](NetVConnection *vc) {
                                      std::unique_ptr<Session> s = _make();
                                      Session *raw               = s.get();
                                      // Locked before it is published: a test that finds the
                                      // session and takes its lock sees the accept handled.
                                      MutexLock lock(raw->mutex, this_ethread());
                                      {
                                        std::lock_guard<std::mutex> g(_m);
                                        sessions.push_back(std::move(s));
                                      }
                                      raw->handle(NET_EVENT_ACCEPT, vc);
                                    },
                                    serialised)
  {
  }
  Session *session(std::size_t i)
  {
    std::lock_guard<std::mutex> g(_m);
    return i < sessions.size() ? sessions[i].get() : nullptr;
  }
  Session *wait_session(std::size_t i)
  {
    Session *s = nullptr;
    (void)acceptor.accepted.wait_until([&] { return (s = session(i)) != nullptr; });
    return s;
  }

  std::function<std::unique_ptr<Session>()> _make;
  std::mutex _m;
  std::vector<std::unique_ptr<Session>> sessions;
  TestAcceptor acceptor;
};

/// The common reaction: read into a buffer, consuming and reenabling; close on EOS / ERROR / timeout.
int
reading_reaction(Session &s, int event, void *)
{
  switch (event) {
  case NET_EVENT_ACCEPT:
  case NET_EVENT_OPEN:
    s.rbuf     = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
    s.rr       = s.rbuf->alloc_reader();
    s.read_vio = s.vc->do_io_read(&s, INT64_MAX, s.rbuf);
    break;
  case VC_EVENT_READ_READY:
    s.received += s.rr->read_avail();
    s.rr->consume(s.rr->read_avail());
    s.read_vio->reenable();
    break;
  case VC_EVENT_EOS:
  case VC_EVENT_ERROR:
  case VC_EVENT_INACTIVITY_TIMEOUT:
  case VC_EVENT_ACTIVE_TIMEOUT:
    s.close();
    break;
  default:
    break;
  }
  return EVENT_DONE;
}

std::unique_ptr<Session>
reading_session(std::function<void(Session &)> after_accept = {})
{
  return std::make_unique<Session>([after_accept](Session &s, int event, void *data) {
    int r = reading_reaction(s, event, data);
    if (event == NET_EVENT_ACCEPT && after_accept) {
      after_accept(s);
    }
    return r;
  });
}

double
ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b)
{
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Tolerance for "fires no later than": the cop period (100 ms in tests) plus scheduling slack on a
// loaded 2-core machine.
constexpr double kLateSlackMs = 100 + 1500;

TEST(NetTimeouts, InactivityTimeoutFiresWithinTimeoutAndCheckPeriod)
{
  SessionServer server([] { return reading_session([](Session &s) { s.vc->set_inactivity_timeout(HRTIME_MSECONDS(300)); }); });
  NetEnvironment env;
  int port  = server.acceptor.listen();
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(peer);
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->wait_event(VC_EVENT_INACTIVITY_TIMEOUT));
  double ms = ms_between(s->time_of(NET_EVENT_ACCEPT), s->time_of(VC_EVENT_INACTIVITY_TIMEOUT));
  EXPECT_GE(ms, 300.0);
  EXPECT_LE(ms, 300.0 + kLateSlackMs);
  EXPECT_TRUE(peer->wait_closed()) << "the session closed on the timeout";
  EXPECT_GE(net_stats_snapshot().inactivity_timeouts, 1);
}

TEST(NetTimeouts, TrafficPushesTheInactivityDeadlineBack)
{
  // Real clock, so nothing here depends on how promptly the threads run: each byte read moves the
  // deadline to "that read + timeout", so the timeout can never come sooner than one timeout after
  // the last byte read before it, however late any thread was. Without traffic pushing it back, it
  // would come one timeout after the accept, in the middle of the bytes sent every 50 ms. (The
  // exact deadline is DrivenNet.ActivityRestartsTheInactivityClock's, on a manual clock.)
  constexpr auto kTimeout = 1000ms;
  SessionServer server([] { return reading_session([](Session &s) { s.vc->set_inactivity_timeout(HRTIME_MSECONDS(1000)); }); });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  // Traffic for 3.5 timeouts, a byte every 50 ms (bounded: at most 70 bytes). Stops early if the
  // session timed out anyway (a thread stalled for a whole timeout): the checks below still hold.
  const auto traffic_start = std::chrono::steady_clock::now();
  int sent                 = 0;
  while (std::chrono::steady_clock::now() - traffic_start < 3500ms && sent < 70 && !s->saw(VC_EVENT_INACTIVITY_TIMEOUT)) {
    if (!peer->send_all("x")) {
      break;
    }
    ++sent;
    std::this_thread::sleep_for(50ms);
  }
  const auto traffic_end = std::chrono::steady_clock::now();
  ASSERT_TRUE(s->wait_event(VC_EVENT_INACTIVITY_TIMEOUT));
  const auto fired     = s->time_of(VC_EVENT_INACTIVITY_TIMEOUT);
  const auto last_read = s->last_time_before(VC_EVENT_READ_READY, fired);
  ASSERT_NE(last_read, std::chrono::steady_clock::time_point{}) << "no byte was read before the timeout";
  // The read's call-back runs a little after the read that moved the deadline (longer on a loaded
  // machine), so half a timeout is the bound; a deadline not pushed back would fire at most a cop
  // period (100 ms) after a read, the bytes being 50 ms apart.
  EXPECT_GE(ms_between(last_read, fired), 500.0) << "fired before one timeout had passed since the last byte";
  EXPECT_LE(ms_between(last_read, fired), 3 * 1000.0) << "fired far too late after the last byte";
  if (!s->saw_before(VC_EVENT_INACTIVITY_TIMEOUT, traffic_end)) {
    // The usual case: the connection outlived 3.5 timeouts of traffic, and read every byte sent.
    EXPECT_GE(fired - traffic_start, 3 * kTimeout);
    EXPECT_EQ(s->received.load(), sent);
  }
}

TEST(NetTimeouts, ActiveTimeoutFiresAndZeroInactivityMeansNone)
{
  SessionServer server([] {
    return reading_session([](Session &s) {
      s.vc->set_inactivity_timeout(0);
      s.vc->set_active_timeout(HRTIME_MSECONDS(300));
    });
  });
  NetEnvironment env(2, [](NetConfig &c) { c.default_inactivity_timeout = HRTIME_MSECONDS(100); });
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->wait_event(VC_EVENT_ACTIVE_TIMEOUT));
  double ms = ms_between(s->time_of(NET_EVENT_ACCEPT), s->time_of(VC_EVENT_ACTIVE_TIMEOUT));
  EXPECT_GE(ms, 300.0);
  EXPECT_LE(ms, 300.0 + kLateSlackMs);
  EXPECT_FALSE(s->saw(VC_EVENT_INACTIVITY_TIMEOUT)) << "set_inactivity_timeout(0) must disable the default";
}

TEST(NetTimeouts, DefaultInactivityTimeoutAppliesWhenNoneWasSet)
{
  SessionServer server([] { return reading_session(); });
  NetEnvironment env(2, [](NetConfig &c) { c.default_inactivity_timeout = HRTIME_MSECONDS(250); });
  int port = server.acceptor.listen();
  // The library arms the default before the ACCEPT call-back, so measure from before connect().
  auto t0   = std::chrono::steady_clock::now();
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(peer);
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->wait_event(VC_EVENT_INACTIVITY_TIMEOUT));
  EXPECT_GE(ms_between(t0, s->time_of(VC_EVENT_INACTIVITY_TIMEOUT)), 250.0);
}

TEST(NetClose, PeerCloseAfterDataDeliversDataThenEos)
{
  SessionServer server([] { return reading_session(); });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(peer->send_all(std::string(100000, 'a')));
  peer->close();
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->wait_event(VC_EVENT_EOS));
  EXPECT_EQ(s->received.load(), 100000) << "EOS must come after every byte read before it";
}

TEST(NetClose, PeerResetMidTransferIsReportedNotSilent)
{
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *data) {
      if (event == NET_EVENT_ACCEPT) {
        // Stream to the peer until it resets.
        s.wbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
        s.wr   = s.wbuf->alloc_reader();
        std::string chunk(32768, 'z');
        s.wbuf->write(chunk.data(), static_cast<int64_t>(chunk.size()));
        s.write_vio = s.vc->do_io_write(&s, INT64_MAX, s.wr);
        return reading_reaction(s, event, data);
      }
      if (event == VC_EVENT_WRITE_READY) {
        std::string chunk(32768, 'z');
        s.wbuf->write(chunk.data(), static_cast<int64_t>(chunk.size()));
        s.write_vio->reenable();
        return EVENT_DONE;
      }
      return reading_reaction(s, event, data);
    });
  });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  ASSERT_GT(peer->recv_exact(100000).size(), 0u);
  peer->reset();
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->got.wait_until([&] { return s->saw(VC_EVENT_ERROR) || s->saw(VC_EVENT_EOS); }))
      << ::testing::PrintToString(s->event_list());
}

TEST(NetClose, CloseInsideReadCallbackFreesAfterItReturns)
{
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *data) {
      if (event == VC_EVENT_READ_READY) {
        s.close(); // inside the call-back: deferred until it returns
        return EVENT_DONE;
      }
      return reading_reaction(s, event, data);
    });
  });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(peer->send_all("hello"));
  EXPECT_TRUE(peer->wait_closed());
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->event_list().back(), VC_EVENT_READ_READY) << "no event after do_io_close";
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
}

TEST(NetClose, CloseFromAnotherThreadClosesPromptly)
{
  // A foreign close is handed to the owner through the enable list. The InactivityCop would also
  // free a closed VC, at its next pass: an hour away here, so only the enable list can be in time.
  SessionServer server([] { return reading_session(); });
  NetEnvironment env(2, [](NetConfig &c) { c.inactivity_check_frequency = HRTIME_SECONDS(3600); });
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  // Idle first: a byte read, the read gone on to EAGAIN, so the VC is on no ready list whose next
  // walk would free it anyway.
  ASSERT_TRUE(peer->send_all("x"));
  ASSERT_TRUE(eventually([&] { return s->received.load() == 1; }));
  ASSERT_TRUE(settle(s->vc->thread));
  auto t0 = std::chrono::steady_clock::now();
  {
    MutexLock lock(s->mutex, nullptr); // the test thread is not the connection's thread
    s->close();
  }
  EXPECT_TRUE(peer->wait_closed());
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
  EXPECT_LT(ms_between(t0, std::chrono::steady_clock::now()), 10000.0) << "freed through the enable list, not the cop";
}

// ATS's in_enabled_list is not updated atomically with the enable list: reenable from a foreign
// thread puts the VC on the atomic enable list; closing it right after must not free it while linked.
void
close_while_foreign_reenable_pending(int threads, int connections)
{
  const int kConnections = connections;
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *data) {
      if (event == VC_EVENT_READ_READY) {
        return EVENT_DONE; // leave the buffer full: the test thread reenables
      }
      return reading_reaction(s, event, data);
    });
  });
  NetEnvironment env(threads);
  int port = server.acceptor.listen();
  std::vector<SocketPeer> peers;
  for (int i = 0; i < kConnections; ++i) {
    auto p = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->send_all(std::string(5000, 'q')));
    peers.push_back(std::move(*p));
  }
  for (int i = 0; i < kConnections; ++i) {
    Session *s = server.wait_session(static_cast<std::size_t>(i));
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->wait_event(VC_EVENT_READ_READY));
    MutexLock lock(s->mutex, nullptr);
    s->rr->consume(s->rr->read_avail());
    s->read_vio->reenable();
    s->close();
  }
  for (auto &p : peers) {
    EXPECT_TRUE(p.wait_closed());
  }
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
}

TEST(NetClose, CloseWhileForeignReenablePendingDoesNotUseFreedMemory)
{
  close_while_foreign_reenable_pending(2, 50);
}

TEST(NetClose, CloseWhileForeignReenablePendingOnFourThreads)
{
  close_while_foreign_reenable_pending(4, 100);
}

TEST(NetReenable, ReenableFromAForeignThreadResumesReading)
{
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *data) {
      if (event == NET_EVENT_ACCEPT) {
        s.rbuf     = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
        s.rr       = s.rbuf->alloc_reader();
        s.read_vio = s.vc->do_io_read(&s, 20000, s.rbuf);
        return EVENT_DONE;
      }
      (void)data;
      return EVENT_DONE; // consume nothing here: the test thread does it
    });
  });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(peer->send_all(std::string(20000, 'r')));
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  int64_t total = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (total < 20000 && std::chrono::steady_clock::now() < deadline) {
    int seen = s->got.count();
    {
      MutexLock lock(s->mutex, nullptr);
      int64_t n = s->rr->read_avail();
      s->rr->consume(n);
      total += n;
      s->read_vio->reenable();
    }
    if (total < 20000) {
      (void)s->got.wait_for(seen + 1, 5s);
    }
  }
  EXPECT_EQ(total, 20000);
  EXPECT_TRUE(s->wait_event(VC_EVENT_READ_COMPLETE));
  MutexLock lock(s->mutex, nullptr);
  s->close();
}

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
    ::connect(f, &ep.sa, ep.size());
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

TEST(NetScale, ThousandConcurrentConnectionsEachEchoed)
{
  constexpr int kClients = 1000;
  SessionServer server(
      [] {
        return std::make_unique<Session>([](Session &s, int event, void *) {
          switch (event) {
          case NET_EVENT_ACCEPT:
            s.rbuf      = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
            s.rr        = s.rbuf->alloc_reader();
            s.wr        = s.rbuf->alloc_reader();
            s.read_vio  = s.vc->do_io_read(&s, 64, s.rbuf);
            s.write_vio = s.vc->do_io_write(&s, 64, s.wr);
            break;
          case VC_EVENT_READ_READY:
          case VC_EVENT_READ_COMPLETE:
            s.rr->consume(s.rr->read_avail());
            s.write_vio->reenable();
            break;
          case VC_EVENT_WRITE_COMPLETE:
          case VC_EVENT_EOS:
          case VC_EVENT_ERROR:
          case VC_EVENT_INACTIVITY_TIMEOUT:
            s.close();
            break;
          default:
            break;
          }
          return EVENT_DONE;
        });
      },
      /*serialised=*/false);
  NetEnvironment env;
  int port = server.acceptor.listen();
  std::vector<SocketPeer> peers;
  peers.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    auto p = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(p) << "client " << i;
    peers.push_back(std::move(*p));
  }
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(peers[i].send_all(pattern(0, 64, static_cast<uint8_t>(i))));
  }
  for (int i = 0; i < kClients; ++i) {
    ASSERT_EQ(peers[i].recv_exact(64), pattern(0, 64, static_cast<uint8_t>(i))) << "client " << i;
  }
  for (auto &p : peers) {
    EXPECT_TRUE(p.wait_closed());
  }
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
}
} // namespace

namespace {
// ATS's write path cannot tell that a VC was closed asynchronously. A VC closed from another thread
// while its write is waiting for the socket to drain must be freed by the next write pass, not
// written to.
TEST(NetVC, WriteAfterForeignCloseFreesInsteadOfWriting)
{
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *) {
      if (event == NET_EVENT_ACCEPT) {
        s.wbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
        s.wr   = s.wbuf->alloc_reader();
        std::string chunk(1 << 20, 'w'); // far more than the socket buffers hold
        s.wbuf->write(chunk.data(), static_cast<int64_t>(chunk.size()));
        s.write_vio = s.vc->do_io_write(&s, static_cast<int64_t>(chunk.size()), s.wr);
      }
      return EVENT_DONE;
    });
  });
  // The InactivityCop also frees closed VCs: an hour away here, so the free below is the write
  // path's (or the enable list's), not the cop's.
  NetEnvironment env(2, [](NetConfig &c) { c.inactivity_check_frequency = HRTIME_SECONDS(3600); });
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  // Wait until the write is stuck on a full socket (nothing more is being written).
  int64_t written = -1;
  ASSERT_TRUE(eventually([&] {
    int64_t before = net_stats_snapshot().write_bytes;
    std::this_thread::sleep_for(20ms);
    return before > 0 && net_stats_snapshot().write_bytes == before;
  }));
  {
    MutexLock lock(s->mutex, nullptr);
    written = s->write_vio->ndone;
    s->close(); // from the test thread: deferred to the connection's thread
  }
  // Freed: the connection is gone from the books and its socket closed, with the peer not reading.
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
  bool eof      = false;
  std::string r = peer->recv_until_eof(&eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(static_cast<int64_t>(r.size()), written) << "no byte may be written after do_io_close";
}

// The state machine may change the VIO's mutex in the write-buffer-empty call-back (ATS's write path
// does not look); the write step must notice and not touch the VIO under the old lock.
TEST(NetVC, MutexChangedInWriteBufferEmptyCallbackIsHonoured)
{
  struct Second : Continuation {
    Second() : Continuation(new_ProxyMutex()) { set_handler(&Second::handle); }
    int handle(int event, void *)
    {
      if (!mutex->is_held_by_current_thread()) {
        wrong_lock = true;
      }
      if (event == VC_EVENT_WRITE_COMPLETE) {
        complete.notify();
      }
      return EVENT_DONE;
    }
    std::atomic<bool> wrong_lock{false};
    EventWaiter complete;
  } second;
  SessionServer server([&second] {
    return std::make_unique<Session>([&second](Session &s, int event, void *) {
      if (event == NET_EVENT_ACCEPT) {
        s.wbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
        s.wr   = s.wbuf->alloc_reader();
        s.wbuf->write("first", 5);
        s.vc->trap_write_buffer_empty(VC_EVENT_WRITE_READY + 1000);
        s.write_vio = s.vc->do_io_write(&s, 10, s.wr);
      } else if (event == VC_EVENT_WRITE_READY + 1000 || event == VC_EVENT_WRITE_READY) {
        // Hand the VIO to another continuation with another mutex, and finish the write.
        if (s.write_vio->get_continuation() == &s) {
          s.write_vio->set_continuation(&second);
          s.wbuf->write("-done", 5);
          MutexLock now_its(second.mutex, this_ethread()); // the VIO's mutex is second's from here on
          s.write_vio->reenable();
        }
      }
      return EVENT_DONE;
    });
  });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->recv_exact(10), "first-done");
  ASSERT_TRUE(second.complete.wait_for(1));
  EXPECT_FALSE(second.wrong_lock) << "the new continuation is called with its own mutex held";
  Session *s = server.wait_session(0);
  MutexLock lock(second.mutex, nullptr);
  s->close();
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
// --- Data that arrived before a reset ---------------------------------------------------------------------

/// What a reset-test session saw: the write side's error and the read side's end.
struct ResetOutcome {
  std::atomic<int> write_lerrno{0};
  std::atomic<int> read_end{0}; ///< VC_EVENT_EOS or VC_EVENT_ERROR on the read VIO
  std::atomic<int> read_lerrno{0};
};

/// A session that streams to its peer until the write side fails, reads everything the peer sent
/// (starting the read at accept, or only once the write side has failed) and closes once both
/// sides have ended: either may learn of the reset first, and neither end closes the other.
std::unique_ptr<Session>
streaming_session(std::shared_ptr<ResetOutcome> out, bool read_from_start)
{
  return std::make_unique<Session>([out, read_from_start](Session &s, int event, void *data) {
    auto start_reading = [&s] {
      s.rbuf     = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
      s.rr       = s.rbuf->alloc_reader();
      s.read_vio = s.vc->do_io_read(&s, INT64_MAX, s.rbuf);
    };
    auto top_up = [&s] {
      std::string chunk(32768, 'z');
      s.wbuf->write(chunk.data(), static_cast<int64_t>(chunk.size()));
    };
    switch (event) {
    case NET_EVENT_ACCEPT:
      s.wbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
      s.wr   = s.wbuf->alloc_reader();
      top_up();
      s.write_vio = s.vc->do_io_write(&s, INT64_MAX, s.wr);
      if (read_from_start) {
        start_reading();
      }
      break;
    case VC_EVENT_WRITE_READY:
      top_up();
      s.write_vio->reenable();
      break;
    case VC_EVENT_READ_READY:
      s.received += s.rr->read_avail();
      s.rr->consume(s.rr->read_avail());
      s.read_vio->reenable();
      break;
    case VC_EVENT_ERROR:
    case VC_EVENT_EOS:
      if (data == s.write_vio && event == VC_EVENT_ERROR) {
        out->write_lerrno = s.vc->lerrno;
        if (s.read_vio == nullptr) {
          start_reading();
        }
      } else if (data == s.read_vio) {
        out->read_lerrno = event == VC_EVENT_ERROR ? s.vc->lerrno : 0;
        out->read_end    = event;
      }
      if (out->write_lerrno != 0 && out->read_end != 0) {
        s.close();
      }
      break;
    default:
      break;
    }
    return EVENT_DONE;
  });
}

/// The peer of the reset tests: sends `payload` bytes, waits until our side's kernel holds them,
/// reads a little of our stream, then closes with the rest unread, so its kernel resets.
void
send_then_close_with_unread_input(SocketPeer &peer, std::size_t payload)
{
  ASSERT_TRUE(peer.send_all(pattern(0, payload, 7)));
  ASSERT_TRUE(peer.wait_acknowledged());
  ASSERT_EQ(peer.recv_exact(10).size(), 10u);
  peer.close();
}

// Rule: the read side drains what the socket holds before it reports the reset. Deterministic: the
// read starts only after the write side has reported the reset, so the reset is certainly known
// (captured from the poller) when the data is read.
TEST(NetReset, DataQueuedBeforeAResetIsReadBeforeTheError)
{
  for (std::size_t payload : {std::size_t{10}, std::size_t{60000}}) {
    auto out = std::make_shared<ResetOutcome>();
    SessionServer server([out] { return streaming_session(out, false); });
    NetEnvironment env;
    auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
    ASSERT_TRUE(peer);
    send_then_close_with_unread_input(*peer, payload);
    Session *s = server.wait_session(0);
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->got.wait_until([&] { return out->read_end.load() != 0; })) << ::testing::PrintToString(s->event_list());
    EXPECT_EQ(s->received.load(), static_cast<int64_t>(payload)) << "every byte sent before the reset is delivered";
    EXPECT_EQ(s->event_list().back(), out->read_end.load()) << "the end comes after the data";
    EXPECT_TRUE(out->write_lerrno == ECONNRESET || out->write_lerrno == EPIPE) << out->write_lerrno.load();
    if (out->read_end == VC_EVENT_ERROR) {
      EXPECT_EQ(out->read_lerrno.load(), ECONNRESET);
    }
  }
}

// The same with both directions running from the start (the race the rule is about: whether the
// data or the reset is seen first); repeated, each on a new connection.
TEST(NetReset, NoByteBeforeAResetIsLostWhileBothDirectionsRun)
{
  constexpr int kRounds = 20;
  for (int i = 0; i < kRounds; ++i) {
    auto out = std::make_shared<ResetOutcome>();
    SessionServer server([out] { return streaming_session(out, true); });
    NetEnvironment env;
    auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
    ASSERT_TRUE(peer);
    send_then_close_with_unread_input(*peer, 10);
    Session *s = server.wait_session(0);
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->got.wait_until([&] { return out->read_end.load() != 0 && out->write_lerrno.load() != 0; }))
        << "round " << i << ": " << ::testing::PrintToString(s->event_list());
    ASSERT_EQ(s->received.load(), 10) << "round " << i;
  }
}

// The write side learns of the reset whatever the read side does: here its buffer is full and
// nobody consumes it, so the read side is stopped.
TEST(NetReset, WriteSideReportsTheResetWhileTheReadSideIsStopped)
{
  auto out = std::make_shared<std::atomic<int>>(0);
  SessionServer server([out] {
    return std::make_unique<Session>([out](Session &s, int event, void *data) {
      if (event == NET_EVENT_ACCEPT) {
        s.rbuf     = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
        s.rr       = s.rbuf->alloc_reader();
        s.read_vio = s.vc->do_io_read(&s, INT64_MAX, s.rbuf); // never consumed: stops when full
        s.wbuf     = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
        s.wr       = s.wbuf->alloc_reader();
        std::string chunk(32768, 'z');
        s.wbuf->write(chunk.data(), static_cast<int64_t>(chunk.size()));
        s.write_vio = s.vc->do_io_write(&s, INT64_MAX, s.wr);
      } else if (event == VC_EVENT_WRITE_READY) {
        std::string chunk(32768, 'z');
        s.wbuf->write(chunk.data(), static_cast<int64_t>(chunk.size()));
        s.write_vio->reenable();
      } else if (event == VC_EVENT_ERROR && data == s.write_vio) {
        *out = s.vc->lerrno;
        s.close();
      }
      return EVENT_DONE;
    });
  });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(peer->send_all(std::string(20000, 'p'))); // more than the 4 KiB read buffer holds
  ASSERT_TRUE(peer->wait_acknowledged());
  ASSERT_EQ(peer->recv_exact(10).size(), 10u);
  peer->close(); // our stream unread: a reset
  ASSERT_TRUE(s->got.wait_until([&] { return out->load() != 0; })) << ::testing::PrintToString(s->event_list());
  EXPECT_TRUE(*out == ECONNRESET || *out == EPIPE) << out->load();
}

// Closing a connection whose peer is still sending must not cost the peer the end of what we
// wrote: a socket closed with unread input resets, and a reset drops what the kernel had not sent.
TEST(NetClose, CloseWithUnreadInputStillDeliversEverythingWritten)
{
  constexpr int64_t kBytes = 300000;
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *) {
      if (event == NET_EVENT_ACCEPT) {
        s.wbuf          = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
        s.wr            = s.wbuf->alloc_reader();
        std::string all = pattern(0, kBytes, 3);
        s.wbuf->write(all.data(), kBytes);
        s.write_vio = s.vc->do_io_write(&s, kBytes, s.wr);
      } else if (event == VC_EVENT_WRITE_COMPLETE) {
        s.close(); // the peer's input is unread, part of ours is still in the kernel
      }
      return EVENT_DONE;
    });
  });
  NetProcessor::AcceptOptions opt;
  opt.send_bufsize = 1 << 20; // everything fits in our kernel buffer: WRITE_COMPLETE comes at once
  NetEnvironment env;
  int port = server.acceptor.listen(opt);
  // A peer with a small receive buffer, so most of our data is still unsent when we close.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  int small = 16384;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(port));
  ASSERT_EQ(::connect(fd, &ep.sa, ep.size()), 0);
  ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  SocketPeer peer(fd);
  ASSERT_TRUE(peer.send_all(std::string(1000, 'u')));
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->wait_event(VC_EVENT_WRITE_COMPLETE));
  ASSERT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; })) << "the VC is closed";
  bool eof         = false;
  std::string data = peer.recv_until_eof(&eof);
  EXPECT_TRUE(eof) << "a FIN, not a reset";
  ASSERT_EQ(static_cast<int64_t>(data.size()), kBytes);
  EXPECT_EQ(data, pattern(0, kBytes, 3));
}

/// A peer socket with a small receive buffer that will never read: what is written to it stays
/// unacknowledged once its window is full.
SocketPeer
connect_non_reading_peer(int port)
{
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  int small = 16384;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(port));
  EXPECT_EQ(::connect(fd, &ep.sa, ep.size()), 0);
  return SocketPeer(fd);
}

/// The peer socket's TCP state (TCP_ESTABLISHED, TCP_CLOSE after a reset...), read without
/// reading its data.
int
tcp_state(int fd)
{
  tcp_info info{};
  socklen_t len = sizeof(info);
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 ? info.tcpi_state : -1;
}

/// A session that streams to its peer (topping up on every WRITE_READY) and closes on its
/// inactivity timeout.
std::unique_ptr<Session>
streaming_until_timeout(ink_hrtime inactivity_timeout)
{
  return std::make_unique<Session>([inactivity_timeout](Session &s, int event, void *) {
    auto top_up = [&s] {
      std::string chunk(32768, 'z');
      s.wbuf->write(chunk.data(), static_cast<int64_t>(chunk.size()));
    };
    if (event == NET_EVENT_ACCEPT) {
      s.vc->set_inactivity_timeout(inactivity_timeout);
      s.wbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
      s.wr   = s.wbuf->alloc_reader();
      top_up();
      s.write_vio = s.vc->do_io_write(&s, INT64_MAX, s.wr);
    } else if (event == VC_EVENT_WRITE_READY) {
      top_up();
      s.write_vio->reenable();
    } else if (event == VC_EVENT_INACTIVITY_TIMEOUT) {
      s.close();
    }
    return EVENT_DONE;
  });
}

// A lingering socket whose peer takes nothing during the whole linger is reset at its end: closed
// plainly, it would stay with the kernel in FIN-WAIT-1, holding the unsent data and probing a
// window that never opens for minutes, and the peer would never learn that the connection ended.
TEST(NetClose, ALingeringSocketWhosePeerTakesNothingIsResetWhenItsTimeIsUp)
{
  constexpr int64_t kBytes = 300000;
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *) {
      if (event == NET_EVENT_ACCEPT) {
        s.wbuf          = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
        s.wr            = s.wbuf->alloc_reader();
        std::string all = pattern(0, kBytes, 5);
        s.wbuf->write(all.data(), kBytes);
        s.write_vio = s.vc->do_io_write(&s, kBytes, s.wr);
      } else if (event == VC_EVENT_WRITE_COMPLETE) {
        s.close(); // most of it still unsent: the peer's window is full and it never reads
      }
      return EVENT_DONE;
    });
  });
  NetProcessor::AcceptOptions opt;
  opt.send_bufsize = 1 << 20; // everything fits in our kernel buffer: WRITE_COMPLETE comes at once
  NetEnvironment env;
  int port        = server.acceptor.listen(opt);
  SocketPeer peer = connect_non_reading_peer(port);
  Session *s      = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->wait_event(VC_EVENT_WRITE_COMPLETE));
  ASSERT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; })) << "the VC is closed";
  auto linger = std::chrono::milliseconds(kLingerTime / HRTIME_MSECONDS(1));
  EXPECT_TRUE(eventually([&] { return tcp_state(peer.fd()) == TCP_CLOSE; }, 3 * linger))
      << "the peer is reset at the end of the linger; its TCP state is " << tcp_state(peer.fd());
}

// A connection closed on its inactivity timeout does not linger: its peer took nothing for the
// whole timeout, so what it has not taken is reset at once instead of after kLingerTime.
TEST(NetClose, AConnectionClosedOnItsTimeoutIsResetAtOnce)
{
  SessionServer server([] { return streaming_until_timeout(HRTIME_MSECONDS(300)); });
  NetEnvironment env;
  int port        = server.acceptor.listen();
  SocketPeer peer = connect_non_reading_peer(port);
  Session *s      = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->wait_event(VC_EVENT_INACTIVITY_TIMEOUT));
  ASSERT_TRUE(eventually([&] { return tcp_state(peer.fd()) == TCP_CLOSE; }))
      << "the peer is reset; its TCP state is " << tcp_state(peer.fd());
  auto took = std::chrono::steady_clock::now() - s->time_of(VC_EVENT_INACTIVITY_TIMEOUT);
  EXPECT_LT(took, std::chrono::milliseconds(kLingerTime / HRTIME_MSECONDS(1))) << "reset at the close, not at the end of a linger";
}

// --- Orphans: connections nobody will close ----------------------------------------------------------------

/// Accepts connections, stops both directions without a continuation (so nobody is left to tell)
/// and arms a timeout, as an SM that gives a connection up would.
std::unique_ptr<Session>
orphaning_session(std::function<void(NetVConnection *)> arm)
{
  return std::make_unique<Session>([arm](Session &s, int event, void *) {
    if (event == NET_EVENT_ACCEPT) {
      s.rbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
      (void)s.vc->do_io_read(&s, INT64_MAX, s.rbuf);
      s.vc->do_io_read(nullptr, 0, nullptr);
      s.vc->do_io_write(nullptr, 0, nullptr);
      arm(s.vc);
    }
    return EVENT_DONE;
  });
}

// ATS's rule (TS-4131): a connection whose VIOs have no continuation closes itself on a
// timeout. Disabling both directions stopped the clock; the explicit setter arms it again.
TEST(NetTimeouts, AnOrphanWithAnInactivityTimeoutIsClosedByTheCop)
{
  SessionServer server(
      [] { return orphaning_session([](NetVConnection *vc) { vc->set_inactivity_timeout(HRTIME_MSECONDS(200)); }); });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(peer->wait_closed()) << "the orphan was never closed";
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
  EXPECT_EQ(s->event_list(), std::vector<int>{NET_EVENT_ACCEPT}) << "nobody is told: there is nobody";
}

TEST(NetTimeouts, AnOrphanWithAnActiveTimeoutIsClosedByTheCop)
{
  SessionServer server([] { return orphaning_session([](NetVConnection *vc) { vc->set_active_timeout(HRTIME_MSECONDS(200)); }); });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  ASSERT_NE(server.wait_session(0), nullptr);
  EXPECT_TRUE(peer->wait_closed()) << "the orphan was never closed";
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
}

// Not ATS: a read side stopped without a continuation does not close a connection whose write side
// still has someone to tell; the writer gets the timeout and decides.
TEST(NetTimeouts, AStoppedReadSideDoesNotCloseUnderALiveWriter)
{
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *) {
      if (event == NET_EVENT_ACCEPT) {
        s.vc->do_io_read(nullptr, 0, nullptr);
        // More than the kernel takes while the peer does not read: the write stays enabled.
        s.wbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_2M);
        s.wr   = s.wbuf->alloc_reader();
        std::string block(1 << 20, 'w');
        for (int i = 0; i < 16; ++i) {
          s.wbuf->write(block.data(), static_cast<int64_t>(block.size()));
        }
        s.write_vio = s.vc->do_io_write(&s, 16 << 20, s.wr);
        s.vc->set_inactivity_timeout(HRTIME_MSECONDS(300));
      } else if (event == VC_EVENT_INACTIVITY_TIMEOUT) {
        s.close();
      }
      return EVENT_DONE;
    });
  });
  NetEnvironment env;
  // Small buffers both ways: the kernel soon holds all it will take, and the write makes no more
  // progress (with the system's autotuned buffers a non-reading peer kept taking a little more
  // for seconds now and then, each bit pushing the inactivity deadline back).
  NetProcessor::AcceptOptions opt;
  opt.send_bufsize = 65536;
  SocketPeer peer  = connect_non_reading_peer(server.acceptor.listen(opt));
  Session *s       = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->wait_event(VC_EVENT_INACTIVITY_TIMEOUT)) << "the writer is told, not left with a freed VC";
  EXPECT_TRUE(peer.wait_closed());
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
connect_failures_of(const IpEndpoint &ep, std::function<void(Session &)> on_open)
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
// --- Misuse: debug builds abort with a message naming the broken rule --------------------------------------

/// Accepts one connection with a reading session, then runs `misuse` on the test thread with the
/// session. Only returns if the misuse went unnoticed.
void
accept_then(const std::function<void(Session &)> &misuse)
{
  SessionServer server([] { return reading_session(); });
  NetEnvironment env;
  auto peer  = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  Session *s = server.wait_session(0);
  if (peer && s != nullptr && s->wait_event(NET_EVENT_ACCEPT)) {
    misuse(*s);
    (void)peer->wait_closed(std::chrono::seconds(2)); // time for a net thread to trip over it
  }
}

class NetMisuseDeathTest : public ::testing::Test
{
protected:
  void SetUp() override
  {
#ifdef NDEBUG
    GTEST_SKIP() << "the usage checks are compiled into debug builds only";
#endif
    GTEST_FLAG_SET(death_test_style, "threadsafe"); // the net threads make fork() alone unsafe
  }
};

TEST_F(NetMisuseDeathTest, ReenableWithoutTheViosMutexAborts)
{
  EXPECT_DEATH(accept_then([](Session &s) { s.read_vio->reenable(); }),
               "misuse: vc [0-9]+: reenable of its read VIO without holding");
}

TEST_F(NetMisuseDeathTest, ATimeoutSetOffTheConnectionsThreadAborts)
{
  EXPECT_DEATH(accept_then([](Session &s) {
                 MutexLock lock(s.mutex, nullptr);
                 s.vc->set_inactivity_timeout(HRTIME_SECONDS(1));
               }),
               "misuse: vc [0-9]+ used off its own thread");
}

TEST_F(NetMisuseDeathTest, DataForAReadVioWithNoContinuationAborts)
{
  EXPECT_DEATH(
      {
        SessionServer server([] {
          return std::make_unique<Session>([](Session &s, int event, void *) {
            if (event == NET_EVENT_ACCEPT) {
              s.rbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
              MutexLock lock(s.vc->mutex, this_ethread()); // the VIO's mutex when it has no continuation
              s.vc->do_io_read(nullptr, 100, s.rbuf);      // a buffer but nobody to tell
            }
            return EVENT_DONE;
          });
        });
        NetEnvironment env;
        auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
        if (peer && peer->send_all("data")) {
          (void)peer->wait_closed(std::chrono::seconds(5));
        }
      },
      "misuse: vc [0-9]+: VC_EVENT_READ_READY for a read VIO that has no continuation");
}
} // namespace
