// Moving a connection to another net thread (migrateToCurrentThread): there and straight back, and with
// bytes in flight both ways, none lost.
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
// A connection moved to another net thread and at once back: the move back runs on the first thread
// before its next wait, while the removal the first move made there (from the other thread) may be
// still queued. Every move must succeed and the connection stay whole.
TEST(NetMigrate, ThereAndStraightBackAgain)
{
  struct Move : Continuation {
    explicit Move(Ptr<ProxyMutex> m) : Continuation(std::move(m)) { set_handler(&Move::handle); }
    int handle(int, void *)
    {
      moved = vc->migrateToCurrentThread(this, this_ethread());
      if (moved != nullptr && next != nullptr) {
        next->vc = moved;
        next_thread->schedule_imm(next);
      }
      done.notify();
      return EVENT_DONE;
    }
    UnixNetVConnection *vc    = nullptr;
    UnixNetVConnection *moved = nullptr;
    Move *next                = nullptr;
    EThread *next_thread      = nullptr;
    EventWaiter done;
  };
  std::atomic<UnixNetVConnection *> accepted{nullptr};
  TestAcceptor acceptor([&](NetVConnection *vc) { accepted = static_cast<UnixNetVConnection *>(vc); }, false);
  NetEnvironment env(2);
  int port = acceptor.listen();
  for (int round = 0; round < 20; ++round) {
    accepted = nullptr;
    auto p   = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(p);
    ASSERT_TRUE(eventually([&] { return accepted.load() != nullptr; }));
    UnixNetVConnection *vc = accepted.load();
    EThread *first         = vc->thread;
    EThread *other =
        eventProcessor.thread(ET_NET, 0) == first ? eventProcessor.thread(ET_NET, 1) : eventProcessor.thread(ET_NET, 0);
    Move back(vc->mutex);
    Move there(vc->mutex);
    there.vc          = vc;
    there.next        = &back;
    there.next_thread = first;
    other->schedule_imm(&there);
    ASSERT_TRUE(there.done.wait_for(1));
    ASSERT_NE(there.moved, nullptr) << "round " << round;
    ASSERT_TRUE(back.done.wait_for(1));
    ASSERT_NE(back.moved, nullptr) << "round " << round << ": the move back failed";
    {
      MutexLock lock(back.moved->mutex, nullptr);
      EXPECT_EQ(back.moved->thread, first);
      back.moved->do_io_close();
    }
    EXPECT_TRUE(p->wait_closed()) << "round " << round;
  }
}

TEST(NetMigrate, ConnectionMovesToAnotherNetThreadWithoutLosingBytes)
{
  // The client streams without reading, so when the connection moves there are bytes in flight
  // both ways: sent by the client but not yet read by the echo, read by the echo but still in its
  // buffer, and echoed but not yet read by the client. Every byte must come back, in order.
  constexpr std::size_t kTotal = 4 << 20;
  struct InFlight {
    int64_t sent_not_read = 0; ///< client -> echo, still in the kernel
    int64_t buffered      = 0; ///< read by the echo, not yet written back
    int64_t echoed_unread = 0; ///< written back, not yet read by the client
  };
  // Both count the 6 bytes of the round trip before the stream, as the echo's VIOs do.
  std::atomic<int64_t> client_sent{6};
  std::atomic<int64_t> client_received{6};
  struct Mover : Continuation {
    Mover() : Continuation(new_ProxyMutex()) { set_handler(&Mover::handle); }
    int handle(int event, void *)
    {
      if (event == EVENT_IMMEDIATE) {
        auto *old          = static_cast<UnixNetVConnection *>(echo->vc);
        from               = old->thread;
        seen.buffered      = echo->reader->read_avail();
        seen.sent_not_read = sent->load() - echo->read_vio->ndone;
        seen.echoed_unread = echo->write_vio->ndone - received->load();
        auto *n            = old->migrateToCurrentThread(echo, this_ethread());
        if (n != nullptr) {
          to              = n->thread;
          echo->vc        = n;
          echo->write_vio = n->do_io_write(echo, INT64_MAX, echo->reader);
          echo->read_vio  = n->do_io_read(echo, INT64_MAX, echo->buf);
        }
        moved.notify();
      }
      return EVENT_DONE;
    }
    Echo *echo                           = nullptr;
    const std::atomic<int64_t> *sent     = nullptr;
    const std::atomic<int64_t> *received = nullptr;
    InFlight seen;
    EThread *from = nullptr;
    EThread *to   = nullptr;
    EventWaiter moved;
  };
  EchoServer server;
  NetEnvironment env(2);
  NetProcessor::AcceptOptions opt;
  opt.recv_bufsize = 65536; // small socket buffers: the client's stream soon fills every stage
  opt.send_bufsize = 65536;
  int port         = server.acceptor.listen(opt);
  auto p           = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(p && round_trip(*p, "before"));
  int small = 65536;
  ::setsockopt(p->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ::setsockopt(p->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  Echo *e = server.echo(0);
  ASSERT_NE(e, nullptr);

  const std::string stream = pattern(0, kTotal, 7);
  std::thread sender([&] {
    for (std::size_t off = 0; off < kTotal; off += 16384) {
      if (!p->send_all(stream.substr(off, 16384), 60s)) {
        return;
      }
      client_sent += 16384;
    }
  });
  // Until the pipeline is full: the echo holds unsent bytes that a whole pass of its thread could
  // not write (the socket is full: that lasts until the client reads), and the client has sent
  // more than the echo read.
  auto snapshot = [&] {
    MutexLock lock(e->mutex, nullptr);
    return std::make_tuple(e->vc->thread, e->reader->read_avail(), e->write_vio->ndone, e->read_vio->ndone);
  };
  bool full = eventually(
      [&] {
        auto [thread, buffered, written, read] = snapshot();
        if (buffered == 0 || written == 0 || client_sent.load() <= read || !settle(thread)) {
          return false;
        }
        auto [thread_after, buffered_after, written_after, read_after] = snapshot();
        return buffered_after > 0 && written_after == written;
      },
      30s);
  Mover mover;
  mover.echo     = e;
  mover.sent     = &client_sent;
  mover.received = &client_received;
  mover.mutex    = e->mutex; // the mover acts as the echo's state machine
  EThread *other = nullptr;
  if (full) {
    MutexLock lock(e->mutex, nullptr);
    other = e->vc->thread == eventProcessor.thread(ET_NET, 0) ? eventProcessor.thread(ET_NET, 1) : eventProcessor.thread(ET_NET, 0);
    other->schedule_imm(&mover);
  }
  bool moved = full && mover.moved.wait_for(1);
  // Read everything back (also when something failed above, so that the sender thread ends).
  std::string got;
  got.reserve(kTotal);
  while (got.size() < kTotal) {
    std::string chunk = p->recv_exact(std::min<std::size_t>(65536, kTotal - got.size()), 60s);
    if (chunk.empty()) {
      break;
    }
    got += chunk;
    client_received += static_cast<int64_t>(chunk.size());
  }
  if (got.size() < kTotal) {
    ::shutdown(p->fd(), SHUT_RDWR); // the sender may be stuck on a full socket
  }
  sender.join();
  ASSERT_TRUE(full) << "the echo never filled up";
  ASSERT_TRUE(moved);
  EXPECT_EQ(mover.to, other);
  EXPECT_NE(mover.from, mover.to);
  EXPECT_GT(mover.seen.sent_not_read, 0) << "nothing in flight towards the echo during the move";
  EXPECT_GT(mover.seen.buffered, 0) << "nothing in the echo's buffer during the move";
  EXPECT_GT(mover.seen.echoed_unread, 0) << "nothing in flight towards the client during the move";
  ASSERT_EQ(got.size(), kTotal);
  EXPECT_TRUE(got == stream) << "bytes lost, duplicated or reordered across the move";
  EXPECT_TRUE(round_trip(*p, "after the move"));
}
} // namespace
