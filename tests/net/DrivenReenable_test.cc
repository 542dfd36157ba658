// reenable and reenable_re called inside READ_READY on a hand-driven net thread: whether the read runs
// again on the caller's stack (nesting the call-backs) or waits for the thread's next pass.
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
/// Reads through a tiny buffer and calls reenable_re from inside READ_READY, recording how deeply
/// the call-backs nest.
class Nester : public Continuation
{
public:
  Nester() : Continuation(new_ProxyMutex()) { set_handler(&Nester::handle); }
  ~Nester() override { free_MIOBuffer(buf); }
  int handle(int event, void *)
  {
    ++depth;
    max_depth = std::max(max_depth, depth);
    if (event == VC_EVENT_READ_READY) {
      received += reader->read_avail();
      reader->consume(reader->read_avail());
      if (use_re) {
        read_vio->reenable_re(); // may read again, and call back, right here
      } else {
        read_vio->reenable();
      }
    }
    --depth;
    return EVENT_DONE;
  }
  bool use_re            = true;
  int depth              = 0;
  int max_depth          = 0;
  int64_t received       = 0;
  MIOBuffer *buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_128);
  IOBufferReader *reader = buf->alloc_reader();
  VIO *read_vio          = nullptr;
};

class DrivenReenable : public ::testing::Test
{
protected:
  void SetUp() override
  {
    thread.set_current();
    thread.mutex->acquire(&thread);
    initialize_thread_for_net(&thread, std::make_unique<FakePoller>());
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    vc = UnixNetVConnection::alloc();
    ASSERT_EQ(vc->populate(fds[0], &nester), 0);
    counted.count();
  }
  void TearDown() override
  {
    {
      MutexLock lock(nester.mutex, &thread);
      vc->do_io_close();
    }
    ::close(fds[1]);
    thread.mutex->release();
    EThread::clear_current();
    counted.expect_balanced();
  }
  HandMadeVCCount counted;
  ManualClock clock;
  EThread thread{REGULAR, 0, &clock};
  int fds[2]             = {-1, -1};
  UnixNetVConnection *vc = nullptr;
  Nester nester;
};

TEST_F(DrivenReenable, ReenableReRunsTheReadOnThisStack)
{
  std::string data(1000, 'n'); // eight buffers' worth
  ASSERT_EQ(::write(fds[1], data.data(), data.size()), 1000);
  {
    MutexLock lock(nester.mutex, &thread);
    nester.read_vio = vc->do_io_read(&nester, INT64_MAX, nester.buf);
  }
  thread.run_one_iteration(0);
  EXPECT_EQ(nester.received, 1000);
  EXPECT_GT(nester.max_depth, 1) << "reenable_re called back before returning";
}

TEST_F(DrivenReenable, ReenableNeverRunsTheReadOnThisStack)
{
  nester.use_re = false;
  std::string data(1000, 'n');
  ASSERT_EQ(::write(fds[1], data.data(), data.size()), 1000);
  {
    MutexLock lock(nester.mutex, &thread);
    nester.read_vio = vc->do_io_read(&nester, INT64_MAX, nester.buf);
  }
  thread.run_one_iteration(0);
  EXPECT_EQ(nester.received, 1000) << "the same pass keeps reading after each reenable";
  EXPECT_EQ(nester.max_depth, 1);
}
} // namespace
