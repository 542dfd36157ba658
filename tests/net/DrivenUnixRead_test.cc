// The read shortcut on a Unix-domain stream on a hand-driven net thread: data after a passed
// descriptor or behind urgent data is not left behind, and a plain short read still waits for the next edge.
#include "support/NetTestHarness.h"

#include "net/NetHandler.h"
#include "net/NetStats.h"
#include "net/UnixNetVConnection.h"
#include "support/ManualClock.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
/// Consumes everything it is given and counts it.
class CountingReader : public Continuation
{
public:
  CountingReader() : Continuation(new_ProxyMutex()) { set_handler(&CountingReader::handle); }
  ~CountingReader() override { free_MIOBuffer(buf); }
  int handle(int event, void *)
  {
    if (event == VC_EVENT_READ_READY) {
      seen += reader->read_avail();
      reader->consume(reader->read_avail());
      read_vio->reenable();
    }
    return EVENT_DONE;
  }
  MIOBuffer *buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *reader = buf->alloc_reader();
  VIO *read_vio          = nullptr;
  int64_t seen           = 0;
};

/// A hand-driven net thread (real epoll) reading one end of a Unix socket pair. populate() takes a
/// socket over without counting it in NetStats (the accept or connect that made it counts), while
/// closing the VC uncounts it: the fixture counts its VC as an accepted one and checks at the end
/// that the gauges are back where they were, for the tests that share the process after it.
class DrivenUnixRead : public ::testing::Test
{
protected:
  void SetUp() override
  {
    open_before    = net_counters().connections_currently_open.load();
    inbound_before = net_counters().inbound_currently_open.load();
    thread.set_current();
    thread.mutex->acquire(&thread);
    initialize_thread_for_net(&thread);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    peer = fds[1];
    vc   = UnixNetVConnection::alloc();
    ASSERT_EQ(vc->populate(fds[0], &sm), 0);
    net_count(net_counters().connections_currently_open);
    net_count(net_counters().inbound_currently_open);
    MutexLock lock(sm.mutex, &thread);
    sm.read_vio = vc->do_io_read(&sm, INT64_MAX, sm.buf);
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
    EXPECT_EQ(net_counters().connections_currently_open.load(), open_before) << "connections_currently_open drifted";
    EXPECT_EQ(net_counters().inbound_currently_open.load(), inbound_before) << "inbound_currently_open drifted";
  }
  /// Passes (each waiting up to 10 ms in epoll) until n bytes were seen or 10 s passed.
  bool run_until_seen(int64_t n)
  {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (sm.seen < n && std::chrono::steady_clock::now() < deadline) {
      thread.run_one_iteration(HRTIME_MSECONDS(10));
    }
    return sm.seen >= n;
  }
  /// Send `data` with a descriptor attached (SCM_RIGHTS).
  void send_with_descriptor(const std::string &data)
  {
    int passed = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(passed, 0);
    iovec iov{const_cast<char *>(data.data()), data.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov        = &iov;
    msg.msg_iovlen     = 1;
    msg.msg_control    = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr *c         = CMSG_FIRSTHDR(&msg);
    c->cmsg_level      = SOL_SOCKET;
    c->cmsg_type       = SCM_RIGHTS;
    c->cmsg_len        = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passed, sizeof(int));
    ASSERT_EQ(::sendmsg(peer, &msg, 0), static_cast<ssize_t>(data.size()));
    ::close(passed);
  }

  int64_t open_before    = 0;
  int64_t inbound_before = 0;
  ManualClock clock;
  EThread thread{REGULAR, 0, &clock};
  int peer               = -1;
  UnixNetVConnection *vc = nullptr;
  CountingReader sm;
};

TEST_F(DrivenUnixRead, DataAfterAPassedDescriptorIsNotLeftBehind)
{
  // The read stops after "AAAA" because a descriptor rode with it, with "BBBB" still queued and no
  // further readiness edge to come: the VC must read on at once.
  send_with_descriptor("AAAA");
  ASSERT_EQ(::send(peer, "BBBB", 4, 0), 4);
  EXPECT_TRUE(run_until_seen(8)) << "saw " << sm.seen << " of 8 bytes";
}

TEST_F(DrivenUnixRead, DataBehindUrgentDataIsNotLeftBehind)
{
  ASSERT_EQ(::send(peer, "AAAA", 4, 0), 4);
  if (::send(peer, "U", 1, MSG_OOB) != 1) {
    GTEST_SKIP() << "no MSG_OOB on AF_UNIX in this kernel: " << std::strerror(errno);
  }
  ASSERT_EQ(::send(peer, "CCCC", 4, 0), 4);
  EXPECT_TRUE(run_until_seen(8)) << "saw " << sm.seen << " of the 8 in-band bytes";
}

TEST_F(DrivenUnixRead, APlainShortReadStillWaitsForTheNextEdge)
{
  thread.run_one_iteration(0);
  int64_t reads_before = net_counters().calls_to_read.load();
  ASSERT_EQ(::send(peer, "abc", 3, 0), 3);
  EXPECT_TRUE(run_until_seen(3));
  EXPECT_EQ(net_counters().calls_to_read.load() - reads_before, 1) << "a short read drained the socket: no second read";
}
} // namespace
