// Many NetVCTest-style transfers at once, on every one of four net threads: each side writes a
// known pattern and checks every byte it reads, and both ends of the connections spread over the threads.
#include "support/NetTestHarness.h"
#include "support/TesterServer.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
TEST(NetVCFourThreads, ConcurrentTransfersOnEveryNetThread)
{
  // Four net threads (more than the machine's cores), 64 connections at once, each moving 256 KiB
  // both ways through 4 KiB buffers. Connects are spread round-robin, accepts by the kernel over
  // the four listening sockets: every thread ends up on both sides of some transfers.
  constexpr int kThreads     = 4;
  constexpr int kConnections = 64;
  constexpr int64_t kBytes   = int64_t{256} * 1024;
  std::set<EThread *> server_threads, client_threads;
  TesterServer server(transfer_spec(kBytes, INT64_MAX, BUFFER_SIZE_INDEX_4K));
  std::vector<std::unique_ptr<VCTester>> clients;
  for (int i = 0; i < kConnections; ++i) {
    VCTestSpec cs = transfer_spec(kBytes, INT64_MAX, BUFFER_SIZE_INDEX_4K);
    cs.write_seed = 1;
    cs.read_seed  = 2;
    clients.push_back(std::make_unique<VCTester>(cs));
  }
  NetEnvironment env(kThreads);
  ASSERT_EQ(eventProcessor.n_threads_for_type(ET_NET), kThreads);
  int port = server.acceptor.listen();
  ASSERT_GT(port, 0);
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(port));
  for (auto &c : clients) {
    MutexLock lock(c->mutex, nullptr);
    netProcessor.connect_re(c.get(), &ep.sa);
  }
  for (int i = 0; i < kConnections; ++i) {
    VCTester &c = *clients[static_cast<std::size_t>(i)];
    ASSERT_TRUE(c.wait_done(60s)) << "client " << i << ": " << ::testing::PrintToString(c.events());
    EXPECT_FALSE(c.data_mismatch) << "client " << i;
    EXPECT_EQ(c.bytes_read.load(), kBytes) << "client " << i;
    EXPECT_EQ(c.bytes_written.load(), kBytes) << "client " << i;
  }
  ASSERT_TRUE(server.acceptor.accepted.wait_for(kConnections, 60s));
  for (int i = 0; i < kConnections; ++i) {
    VCTester *srv = server.tester(static_cast<std::size_t>(i));
    ASSERT_NE(srv, nullptr);
    ASSERT_TRUE(srv->wait_done(60s)) << "server " << i << ": " << ::testing::PrintToString(srv->events());
    EXPECT_FALSE(srv->data_mismatch) << "server " << i;
    EXPECT_EQ(srv->bytes_read.load(), kBytes) << "server " << i;
  }
  // Which threads did the work: each tester remembers the thread of its first call-back.
  for (auto &c : clients) {
    client_threads.insert(c->first_thread.load());
  }
  for (int i = 0; i < kConnections; ++i) {
    server_threads.insert(server.tester(static_cast<std::size_t>(i))->first_thread.load());
  }
  EXPECT_EQ(client_threads.size(), static_cast<std::size_t>(kThreads));
  EXPECT_EQ(server_threads.size(), static_cast<std::size_t>(kThreads));
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
}
} // namespace
