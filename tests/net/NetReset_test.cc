// A peer's reset: every byte it sent before it is read before the error is reported, and the write
// side learns of the reset whatever the read side does.
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
streaming_session(const std::shared_ptr<ResetOutcome> &out, bool read_from_start)
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
} // namespace
