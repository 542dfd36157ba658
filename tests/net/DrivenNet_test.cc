// The NetHandler and InactivityCop on a hand-driven EThread with a manual clock and the FakePoller:
// readiness edges, the pass budget, buffer release and timeout deadlines are checked exactly, without
// sleeping. The socket is a real socketpair.
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
class Recorder : public Continuation
{
public:
  Recorder() : Continuation(new_ProxyMutex()) { set_handler(&Recorder::handle); }
  ~Recorder() override { free_MIOBuffer(buf); }
  int handle(int event, void *)
  {
    events.push_back(event);
    if (event == VC_EVENT_READ_READY) {
      received += reader->read_avail();
      reader->consume(reader->read_avail());
      read_vio->reenable();
      if (on_read_ready) {
        on_read_ready();
      }
    }
    return EVENT_DONE;
  }
  std::function<void()> on_read_ready;
  std::vector<int> events;
  MIOBuffer *buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *reader = buf->alloc_reader();
  VIO *read_vio          = nullptr;
  int64_t received       = 0;
};

class DrivenNet : public ::testing::Test
{
protected:
  void SetUp() override
  {
    saved                                   = net_config();
    net_config().inactivity_check_frequency = HRTIME_SECONDS(1);
    thread.set_current();
    thread.mutex->acquire(&thread);
    auto p = std::make_unique<FakePoller>();
    poller = p.get();
    initialize_thread_for_net(&thread, std::move(p));
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    vc = UnixNetVConnection::alloc();
    ASSERT_EQ(vc->populate(fds[0], &rec), 0);
    counted.count();
    MutexLock lock(rec.mutex, &thread);
    rec.read_vio = vc->do_io_read(&rec, INT64_MAX, rec.buf);
  }
  void TearDown() override
  {
    {
      MutexLock lock(rec.mutex, &thread);
      vc->do_io_close();
    }
    ::close(fds[1]);
    thread.mutex->release();
    EThread::clear_current();
    net_config() = saved;
    counted.expect_balanced();
  }
  void run() { thread.run_one_iteration(0); }

  NetConfig saved;
  HandMadeVCCount counted;
  ManualClock clock;
  EThread thread{REGULAR, 0, &clock};
  FakePoller *poller     = nullptr;
  int fds[2]             = {-1, -1};
  UnixNetVConnection *vc = nullptr;
  Recorder rec;
};

TEST_F(DrivenNet, DataIsReadOnlyAfterAReadinessEdge)
{
  run(); // the first pass reads until EAGAIN: nothing there yet
  ASSERT_EQ(::write(fds[1], "hello", 5), 5);
  run();
  EXPECT_EQ(rec.received, 0) << "edge-triggered: no edge reported, no read";
  poller->make_ready(fds[0], kReadable);
  run();
  EXPECT_EQ(rec.received, 5);
  EXPECT_EQ(rec.events, (std::vector<int>{VC_EVENT_READ_READY}));
}

TEST_F(DrivenNet, APassStopsTakingRoundsAfterItsTimeBudgetAndTheNextPassGoesOn)
{
  // A connection that always has more to read must not hold the thread: each read takes 0.3 ms
  // of (manual) time, so the 1 ms pass budget allows four rounds; later passes continue without a
  // new readiness edge (the VC stays triggered) until EAGAIN.
  run();
  std::vector<char> data(std::size_t{16} * 4096, 'd');
  ASSERT_EQ(::write(fds[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  rec.on_read_ready = [this] { clock.advance(HRTIME_USECONDS(300)); };
  poller->make_ready(fds[0], kReadable);
  run();
  EXPECT_EQ(rec.events.size(), 4u);
  EXPECT_LT(rec.received, static_cast<int64_t>(data.size()));
  for (int pass = 0; pass < 20 && rec.received < static_cast<int64_t>(data.size()); ++pass) {
    run();
  }
  EXPECT_EQ(rec.received, static_cast<int64_t>(data.size()));
}

TEST_F(DrivenNet, ABufferMarkedReleaseWhenDrainedHoldsNoBlockAfterAReadFindsNothing)
{
  rec.buf->release_when_drained = true;
  run();
  ASSERT_EQ(::write(fds[1], "ping", 4), 4);
  poller->make_ready(fds[0], kReadable);
  run(); // read "ping" (consumed in READ_READY), read again: EAGAIN -> blocks dropped
  EXPECT_EQ(rec.received, 4);
  EXPECT_EQ(rec.buf->writer_block(), nullptr);
  ASSERT_EQ(::write(fds[1], "pong!", 5), 5);
  poller->make_ready(fds[0], kReadable);
  run(); // the read path allocates a block again
  EXPECT_EQ(rec.received, 9);
  EXPECT_EQ(rec.events, (std::vector<int>{VC_EVENT_READ_READY, VC_EVENT_READ_READY}));
}

TEST_F(DrivenNet, ASmallReadIntoAReleasedBufferIsKeptInASmallBlock)
{
  rec.buf->release_when_drained = true;
  run(); // nothing to read: the buffer lets its block go
  ASSERT_EQ(rec.buf->writer_block(), nullptr);
  IOBufferReader *slow = rec.buf->alloc_reader(); // keeps the bytes unread after READ_READY
  ASSERT_EQ(::write(fds[1], "ping", 4), 4);
  poller->make_ready(fds[0], kReadable);
  run();
  EXPECT_EQ(rec.received, 4);
  ASSERT_NE(rec.buf->writer_block(), nullptr);
  EXPECT_EQ(rec.buf->writer_block()->block_size(), 128) << "4 bytes do not hold on to a 4 KiB block";
  char got[8] = {};
  EXPECT_EQ(slow->read(got, sizeof(got)), 4);
  EXPECT_EQ(std::string(got, 4), "ping");
  rec.buf->dealloc_reader(slow);
}

TEST_F(DrivenNet, UnreadDataKeepsTheBlocksAndDefaultBuffersKeepThemAlways)
{
  run();
  ASSERT_EQ(::write(fds[1], "ping", 4), 4);
  poller->make_ready(fds[0], kReadable);
  run();
  EXPECT_NE(rec.buf->writer_block(), nullptr) << "off by default, as in ATS";
  rec.buf->release_when_drained = true;
  IOBufferReader *slow          = rec.buf->alloc_reader(); // a second reader that never reads
  slow->consume(slow->read_avail());                       // it starts at the block's start: skip "ping"
  ASSERT_EQ(::write(fds[1], "data", 4), 4);
  poller->make_ready(fds[0], kReadable);
  run();
  EXPECT_EQ(rec.received, 8);
  EXPECT_EQ(slow->read_avail(), 4);
  EXPECT_NE(rec.buf->writer_block(), nullptr) << "a reader still has unread bytes";
  rec.buf->dealloc_reader(slow);
}

TEST_F(DrivenNet, ABufferMarkedReleaseWhenDrainedHoldsNoBlockOnceItsLastByteIsSent)
{
  MIOBuffer *out            = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  out->release_when_drained = true;
  IOBufferReader *reader    = out->alloc_reader();
  out->write("reply", 5);
  {
    MutexLock lock(rec.mutex, &thread);
    vc->do_io_write(&rec, INT64_MAX, reader);
  }
  poller->make_ready(fds[0], kWritable);
  run();
  char got[8] = {};
  EXPECT_EQ(::read(fds[1], got, sizeof(got)), 5);
  EXPECT_EQ(std::string(got, 5), "reply");
  EXPECT_EQ(out->writer_block(), nullptr);
  {
    MutexLock lock(rec.mutex, &thread);
    vc->do_io_write(nullptr, 0, nullptr);
  }
  free_MIOBuffer(out);
}

TEST_F(DrivenNet, AShortReadWaitsForTheNextEdgeInsteadOfReadingAgain)
{
  run();
  int64_t nodata_before = net_counters().calls_to_read_nodata.load();
  int64_t reads_before  = net_counters().calls_to_read.load();
  ASSERT_EQ(::write(fds[1], "abc", 3), 3);
  poller->make_ready(fds[0], kReadable);
  run();
  run();
  EXPECT_EQ(rec.received, 3);
  EXPECT_EQ(net_counters().calls_to_read.load() - reads_before, 1) << "3 bytes into 4 KiB of room: drained";
  EXPECT_EQ(net_counters().calls_to_read_nodata.load(), nodata_before);
  ASSERT_EQ(::write(fds[1], "de", 2), 2);
  poller->make_ready(fds[0], kReadable); // the next edge
  run();
  EXPECT_EQ(rec.received, 5);
}

TEST_F(DrivenNet, AfterAReadHangupAShortReadIsFollowedByTheReadThatSeesEos)
{
  run();
  ASSERT_EQ(::write(fds[1], "last", 4), 4);
  ::shutdown(fds[1], SHUT_WR);
  poller->make_ready(fds[0], kReadable | kReadHangup);
  run(); // no further edge will come: EOS must be found in this pass or the next, unasked
  run();
  EXPECT_EQ(rec.received, 4);
  EXPECT_EQ(rec.events, (std::vector<int>{VC_EVENT_READ_READY, VC_EVENT_EOS}));
}

TEST_F(DrivenNet, PeerCloseIsEosAfterTheData)
{
  run();
  ASSERT_EQ(::write(fds[1], "bye", 3), 3);
  ::shutdown(fds[1], SHUT_WR);
  poller->make_ready(fds[0], kReadable | kReadHangup); // what epoll reports (PollerContract)
  run();
  EXPECT_EQ(rec.received, 3);
  EXPECT_EQ(rec.events, (std::vector<int>{VC_EVENT_READ_READY, VC_EVENT_EOS}));
}

TEST_F(DrivenNet, InactivityTimeoutFiresOncePastTheDeadlineNeverBefore)
{
  {
    MutexLock lock(rec.mutex, &thread);
    vc->set_inactivity_timeout(HRTIME_SECONDS(5));
  }
  run();
  clock.advance(HRTIME_SECONDS(4));
  run();
  EXPECT_EQ(rec.events, std::vector<int>{});
  clock.advance(HRTIME_SECONDS(1)); // exactly at the deadline: not yet past it
  run();
  EXPECT_EQ(rec.events, std::vector<int>{});
  clock.advance(HRTIME_SECONDS(1));
  run();
  EXPECT_EQ(rec.events, (std::vector<int>{VC_EVENT_INACTIVITY_TIMEOUT}));
  // Once: the connection stays idle for many more timeouts and cop passes, and nothing more comes.
  for (int i = 0; i < 6; ++i) {
    clock.advance(HRTIME_SECONDS(5));
    run();
  }
  EXPECT_EQ(rec.events, (std::vector<int>{VC_EVENT_INACTIVITY_TIMEOUT}));
}

TEST_F(DrivenNet, ActivityRestartsTheInactivityClock)
{
  {
    MutexLock lock(rec.mutex, &thread);
    vc->set_inactivity_timeout(HRTIME_SECONDS(5));
  }
  run();
  clock.advance(HRTIME_SECONDS(4));
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  poller->make_ready(fds[0], kReadable);
  run(); // read at t = 4 s: the deadline moves to 9 s
  clock.advance(HRTIME_SECONDS(3));
  run();
  EXPECT_EQ(rec.events, (std::vector<int>{VC_EVENT_READ_READY}));
  clock.advance(HRTIME_SECONDS(3));
  run();
  EXPECT_EQ(rec.events, (std::vector<int>{VC_EVENT_READ_READY, VC_EVENT_INACTIVITY_TIMEOUT}));
}

TEST_F(DrivenNet, ActiveTimeoutFiresDespiteTraffic)
{
  {
    MutexLock lock(rec.mutex, &thread);
    vc->set_active_timeout(HRTIME_SECONDS(3));
  }
  auto timeouts = [&] { return std::count(rec.events.begin(), rec.events.end(), VC_EVENT_ACTIVE_TIMEOUT); };
  for (int i = 1; i <= 5; ++i) { // a byte every second: the connection is never idle
    clock.advance(HRTIME_SECONDS(1));
    ASSERT_EQ(::write(fds[1], "y", 1), 1);
    poller->make_ready(fds[0], kReadable);
    run();
    EXPECT_EQ(timeouts(), i <= 3 ? 0 : 1) << "at t = " << i << " s";
  }
  EXPECT_EQ(rec.received, 5);
}
} // namespace
