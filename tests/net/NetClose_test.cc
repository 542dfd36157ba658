// Closing loopback connections: the peer's close or reset, a close inside a call-back or from another
// thread (also with a foreign reenable pending), and the lingering close that keeps the peer's data whole.
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
} // namespace
