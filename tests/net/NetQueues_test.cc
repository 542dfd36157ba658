// The keep-alive and active queues: oldest-first eviction, a victim whose lock is busy, the keep-alive
// timeout, and an active queue that refuses when nothing can be evicted.
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
TEST(NetQueues, KeepAliveQueueEvictsTheOldestFirst)
{
  EchoServer server;
  server.on_start = [](Echo *e) { e->vc->add_to_keep_alive_queue(); };
  // One net thread and room for two connections: a third arriving pushes the oldest idle one out.
  NetEnvironment env(1, [](NetConfig &c) { c.max_connections_in = 2; });
  int port = server.acceptor.listen();
  auto a   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a && round_trip(*a, "a"));
  auto b = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(b && round_trip(*b, "b"));
  auto c = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(c && round_trip(*c, "c"));
  EXPECT_TRUE(a->wait_closed()) << "the oldest keep-alive connection is closed first";
  EXPECT_TRUE(round_trip(*b, "b2"));
  EXPECT_TRUE(round_trip(*c, "c2"));
  EXPECT_EQ(net_stats_snapshot().keep_alive_evictions, 1);
}

// ATS keeps a keep-alive victim whose lock is busy in the queue; it must not leave the queue
// untold (it would then never be evicted, nor closed by the keep-alive timeout).
TEST(NetQueues, AKeepAliveVictimWhoseLockIsBusyStaysQueued)
{
  EchoServer server;
  server.on_start = [](Echo *e) { e->vc->add_to_keep_alive_queue(); };
  NetEnvironment env(1, [](NetConfig &c) { c.max_connections_in = 2; });
  int port = server.acceptor.listen();
  auto a   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a && round_trip(*a, "a"));
  auto b = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(b && round_trip(*b, "b"));
  int64_t lock_failures = net_stats_snapshot().inactivity_cop_lock_acquire_failure;
  int64_t evictions     = net_stats_snapshot().keep_alive_evictions;
  std::optional<SocketPeer> c;
  {
    MutexLock busy(server.echo(0)->mutex, nullptr); // a, the oldest, cannot be told now
    c = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(c);
    EXPECT_TRUE(b->wait_closed()) << "the next oldest goes instead";
    EXPECT_GT(net_stats_snapshot().inactivity_cop_lock_acquire_failure, lock_failures);
  }
  EXPECT_TRUE(round_trip(*a, "a2")) << "a was passed over, not closed";
  auto d = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(d && round_trip(*d, "d"));
  EXPECT_TRUE(a->wait_closed()) << "a stayed queued: it is the oldest and goes now";
  EXPECT_TRUE(round_trip(*c, "c2"));
  EXPECT_EQ(net_stats_snapshot().keep_alive_evictions - evictions, 2);
}

TEST(NetQueues, IdleKeepAliveConnectionIsClosedAfterTheKeepAliveTimeout)
{
  EchoServer server;
  server.on_start = [](Echo *e) { e->vc->add_to_keep_alive_queue(); };
  NetEnvironment env(1, [](NetConfig &c) { c.keep_alive_no_activity_timeout_in = HRTIME_MSECONDS(200); });
  int port = server.acceptor.listen();
  // t0 before connect: the server may accept (and start its timer) before connect() returns here.
  auto t0 = std::chrono::steady_clock::now();
  auto a  = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->wait_closed());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
}

TEST(NetQueues, ActiveQueueRefusesWhenFullAndNothingCanBeEvicted)
{
  std::atomic<int> accepted_true{0};
  std::atomic<int> accepted_false{0};
  EchoServer server;
  server.on_start = [&](Echo *e) { (e->vc->add_to_active_queue() ? accepted_true : accepted_false)++; };
  NetEnvironment env(1, [](NetConfig &c) { c.max_requests_in = 1; });
  int port = server.acceptor.listen();
  auto a   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a && round_trip(*a, "a"));
  auto b = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(b && round_trip(*b, "b"));
  EXPECT_EQ(accepted_true.load(), 1);
  EXPECT_EQ(accepted_false.load(), 1);
}
} // namespace
