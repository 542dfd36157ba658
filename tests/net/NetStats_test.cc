// The NetStats counters add up for one echoed connection: accepts, connections open, bytes and
// calls to read and write while it is open.
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
TEST(NetStats, CountersAddUpForOneEchoedConnection)
{
  EchoServer server;
  NetEnvironment env;
  NetStats before = net_stats_snapshot();
  auto p          = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(p && round_trip(*p, std::string(10000, 's')));
  ASSERT_TRUE(eventually([&] { return net_stats_snapshot().write_bytes - before.write_bytes >= 10000; }));
  NetStats during = net_stats_snapshot();
  EXPECT_EQ(during.accepts - before.accepts, 1);
  EXPECT_EQ(during.connections_currently_open, 1);
  EXPECT_EQ(during.read_bytes - before.read_bytes, 10000);
  EXPECT_EQ(during.write_bytes - before.write_bytes, 10000);
  EXPECT_GE(during.calls_to_read - before.calls_to_read, 1);
  EXPECT_GE(during.calls_to_write - before.calls_to_write, 1);
  // Steps are counted whether or not they make a system call; those of the pass after a poll too.
  EXPECT_GE(during.calls_to_readfromnet - before.calls_to_readfromnet, 1);
  EXPECT_GE(during.calls_to_writetonet_afterpoll - before.calls_to_writetonet_afterpoll, 1);
  EXPECT_GE(during.calls_to_writetonet - before.calls_to_writetonet,
            during.calls_to_writetonet_afterpoll - before.calls_to_writetonet_afterpoll);
  p->close();
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
}
} // namespace
