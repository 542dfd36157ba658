// Misuse of a connection (a reenable without the VIO's lock, a timeout set off the connection's thread,
// data for a read VIO with no continuation): debug builds abort with a message naming the broken rule.
// A suite of its own: gtest wants death-test suites to end in DeathTest.
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
