// Inactivity and active timeouts on real loopback connections: when they fire, what pushes them back,
// the configured default, and orphans (connections whose VIOs have nobody to tell) closed by the cop.
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

// --- Orphans: connections nobody will close ----------------------------------------------------------------

/// Accepts connections, stops both directions without a continuation (so nobody is left to tell)
/// and arms a timeout, as an SM that gives a connection up would.
std::unique_ptr<Session>
orphaning_session(const std::function<void(NetVConnection *)> &arm)
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
} // namespace
