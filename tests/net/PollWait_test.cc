// NetConfig::poll_timeout_ms: how long a net thread may wait in the poller (bounded, left to the timers,
// or not at all).
#include "support/FakePoller.h"
#include "support/ManualClock.h"
#include "support/NetTestHarness.h"

#include "net/NetHandler.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <string>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
/// The NetHandler of a hand-driven thread with a FakePoller, created under a given poll_timeout_ms.
class PollWait : public ::testing::Test
{
protected:
  void start(int poll_timeout_ms)
  {
    saved                        = net_config();
    net_config().poll_timeout_ms = poll_timeout_ms;
    thread.set_current();
    thread.mutex->acquire(&thread);
    auto p = std::make_unique<FakePoller>();
    poller = p.get();
    initialize_thread_for_net(&thread, std::move(p));
    started = true;
  }
  void TearDown() override
  {
    if (started) {
      thread.mutex->release();
      EThread::clear_current();
      net_config() = saved;
    }
  }

  NetConfig saved;
  bool started = false;
  ManualClock clock;
  EThread thread{REGULAR, 0, &clock};
  FakePoller *poller = nullptr;
};

TEST_F(PollWait, PollTimeoutBoundsTheWaitInThePoller)
{
  start(7);
  thread.run_one_iteration(HRTIME_SECONDS(5));
  ASSERT_FALSE(poller->waits().empty());
  EXPECT_EQ(poller->waits().back(), HRTIME_MSECONDS(7));
}

TEST_F(PollWait, ANegativePollTimeoutLeavesTheWaitToTheTimers)
{
  start(-1);
  thread.run_one_iteration(HRTIME_SECONDS(5));
  ASSERT_FALSE(poller->waits().empty());
  EXPECT_GT(poller->waits().back(), HRTIME_MSECONDS(500)) << "up to the InactivityCop's next pass";
}

TEST_F(PollWait, ZeroPollsWithoutWaiting)
{
  start(0);
  thread.run_one_iteration(HRTIME_SECONDS(5));
  ASSERT_FALSE(poller->waits().empty());
  EXPECT_EQ(poller->waits().back(), 0);
}
} // namespace
