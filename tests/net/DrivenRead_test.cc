// The read step on a hand-driven net thread, over a socketpair or a real TCP connection: a message kept
// in a shrunk block does not cap the buffer, and urgent data leaves no bytes behind a short read.
#include "net/NetHandler.h"
#include "support/HandMadeVCCount.h"
#include "net/NetStats.h"
#include "net/UnixNetVConnection.h"
#include "support/FakePoller.h"
#include "support/ManualClock.h"

#include "iocore/iocore.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

using namespace iocore;
using namespace iocore::test;

namespace {
/// Consumes only whole kFrame-byte messages, leaving a partial one in the buffer (an SM that waits
/// for a complete message before it consumes).
class FrameReader : public Continuation
{
public:
  static constexpr int64_t kFrame = 200;
  FrameReader() : Continuation(new_ProxyMutex()) { set_handler(&FrameReader::handle); }
  ~FrameReader() override { free_MIOBuffer(buf); }
  int handle(int event, void *)
  {
    if (event == VC_EVENT_READ_READY) {
      while (reader->read_avail() >= kFrame) {
        reader->consume(kFrame);
        ++frames;
      }
      seen = reader->read_avail() + frames * kFrame;
      read_vio->reenable();
    }
    return EVENT_DONE;
  }
  MIOBuffer *buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *reader = buf->alloc_reader();
  VIO *read_vio          = nullptr;
  int64_t frames         = 0;
  int64_t seen           = 0;
};

/// A hand-driven thread over a socket pair (FakePoller) or a real TCP connection (epoll).
class DrivenRead : public ::testing::Test
{
protected:
  void start(int server_fd)
  {
    vc = UnixNetVConnection::alloc();
    ASSERT_EQ(vc->populate(server_fd, &sm), 0);
    counted.count();
    MutexLock lock(sm.mutex, &thread);
    sm.read_vio = vc->do_io_read(&sm, INT64_MAX, sm.buf);
  }
  void start_pair()
  {
    auto p = std::make_unique<FakePoller>();
    poller = p.get();
    initialize_thread_for_net(&thread, std::move(p));
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    peer = fds[1];
    start(fds[0]);
  }
  void start_tcp()
  {
    initialize_thread_for_net(&thread); // the real epoll poller
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(l, 0);
    IpEndpoint any = IpEndpoint::loopback(AF_INET, 0);
    ASSERT_EQ(::bind(l, &any.sa, any.size()), 0);
    ASSERT_EQ(::listen(l, 1), 0);
    IpEndpoint bound;
    socklen_t len = sizeof(bound.sin6);
    ASSERT_EQ(::getsockname(l, &bound.sa, &len), 0);
    peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(::connect(peer, &bound.sa, bound.size()), 0);
    int s = ::accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ::close(l);
    ASSERT_GE(s, 0);
    start(s);
  }
  void SetUp() override
  {
    thread.set_current();
    thread.mutex->acquire(&thread);
  }
  void TearDown() override
  {
    if (vc != nullptr) {
      MutexLock lock(sm.mutex, &thread);
      vc->do_io_close();
    }
    if (peer >= 0) {
      ::close(peer);
    }
    thread.mutex->release();
    EThread::clear_current();
    counted.expect_balanced();
  }
  /// Run passes (each waiting up to 10 ms for the poller) until sm has seen n bytes or 10 s passed.
  bool run_until_seen(int64_t n)
  {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (sm.seen < n && std::chrono::steady_clock::now() < deadline) {
      thread.run_one_iteration(HRTIME_MSECONDS(10));
    }
    return sm.seen >= n;
  }

  HandMadeVCCount counted;
  ManualClock clock;
  EThread thread{REGULAR, 0, &clock};
  FakePoller *poller     = nullptr;
  int peer               = -1;
  UnixNetVConnection *vc = nullptr;
  FrameReader sm;
};

TEST_F(DrivenRead, AMessageKeptInAShrunkBlockDoesNotCapWhatTheBufferTakes)
{
  start_pair();
  sm.buf->release_when_drained = true;
  thread.run_one_iteration(0); // nothing to read: the buffer lets its block go
  ASSERT_EQ(sm.buf->writer_block(), nullptr);
  std::string part1(120, 'a'), part2(130, 'b'); // one 200-byte frame split unevenly, and 50 more
  ASSERT_EQ(::write(peer, part1.data(), part1.size()), 120);
  poller->make_ready(vc->fd, kReadable);
  thread.run_one_iteration(0); // 120 bytes, kept unconsumed in a 128-byte block
  ASSERT_EQ(sm.buf->writer_block()->block_size(), 128);
  ASSERT_EQ(::write(peer, part2.data(), part2.size()), 130);
  poller->make_ready(vc->fd, kReadable);
  EXPECT_TRUE(run_until_seen(250)) << "saw " << sm.seen << " of 250 bytes";
  EXPECT_EQ(sm.frames, 1);
}

TEST_F(DrivenRead, UrgentDataDoesNotLeaveBytesBehindAShortRead)
{
  start_tcp();
  // TCP stops a read at the urgent mark: "AAAA" comes back short with "CCCC" still queued, and no
  // further edge will announce it. EPOLLPRI makes the VC read on until EAGAIN.
  ASSERT_EQ(::send(peer, "AAAA", 4, 0), 4);
  ASSERT_EQ(::send(peer, "B", 1, MSG_OOB), 1);
  ASSERT_EQ(::send(peer, "CCCC", 4, 0), 4);
  EXPECT_TRUE(run_until_seen(8)) << "saw " << sm.seen << " of the 8 in-band bytes";
}
} // namespace
