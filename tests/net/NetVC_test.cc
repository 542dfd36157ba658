// Loopback transfers between an accepted and a connected UnixNetVConnection, NetVCTest style: each
// side writes a known pattern and checks every byte it reads, over a table of sizes, buffer sizes
// and shutdown patterns; the same over IPv6, and many transfers at once on four net threads.
#include "support/NetTestHarness.h"

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
struct Scenario {
  const char *name;
  VCTestSpec client;
  VCTestSpec server;
  int client_read_terminal; // expected terminal read event on the client (0: no read)
  int server_read_terminal;
};

// Short names in test listings (gtest_discover_tests reads them).
void
PrintTo(const Scenario &s, std::ostream *os)
{
  *os << s.name;
}

VCTestSpec
spec(int64_t write_bytes, int64_t read_nbytes, int64_t index = BUFFER_SIZE_INDEX_32K, int64_t chunk = INT64_MAX)
{
  VCTestSpec s;
  s.write_bytes  = write_bytes;
  s.read_nbytes  = read_nbytes;
  s.buffer_index = index;
  s.write_chunk  = chunk;
  return s;
}

/// A server that runs a VCTester per accepted connection; testers live until the fixture ends.
class Server
{
public:
  explicit Server(VCTestSpec s)
      : _spec(s), acceptor([this](NetVConnection *vc) {
          auto t             = std::make_unique<VCTester>(_spec);
          t->spec.write_seed = 2; // the server writes what the client expects to read
          t->spec.read_seed  = 1;
          VCTester *raw      = t.get();
          {
            std::lock_guard<std::mutex> g(_mutex);
            testers.push_back(std::move(t));
          }
          raw->start(vc);
        })
  {
  }
  VCTester *tester(std::size_t i)
  {
    std::lock_guard<std::mutex> g(_mutex);
    return i < testers.size() ? testers[i].get() : nullptr;
  }

  VCTestSpec _spec;
  std::mutex _mutex;
  std::vector<std::unique_ptr<VCTester>> testers;
  TestAcceptor acceptor;
};

class NetVCTransfer : public ::testing::TestWithParam<Scenario>
{
};

TEST_P(NetVCTransfer, EveryByteArrivesAndTerminalEventsMatch)
{
  const Scenario &sc     = GetParam();
  VCTestSpec client_spec = sc.client;
  client_spec.write_seed = 1;
  client_spec.read_seed  = 2;
  VCTester client(client_spec);
  Server server(sc.server);
  NetEnvironment env;
  int port = server.acceptor.listen();
  ASSERT_GT(port, 0);

  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(port));
  {
    MutexLock lock(client.mutex, nullptr);
    netProcessor.connect_re(&client, &ep.sa);
  }
  ASSERT_TRUE(client.wait_done()) << "client events: " << ::testing::PrintToString(client.events());
  ASSERT_TRUE(server.acceptor.accepted.wait_for(1));
  VCTester *srv = nullptr;
  ASSERT_TRUE(server.acceptor.accepted.wait_until([&] { return (srv = server.tester(0)) != nullptr; }));
  ASSERT_TRUE(srv->wait_done()) << "server events: " << ::testing::PrintToString(srv->events());

  EXPECT_FALSE(client.data_mismatch);
  EXPECT_FALSE(srv->data_mismatch);
  EXPECT_EQ(client.bytes_written.load(), sc.client.write_bytes);
  EXPECT_EQ(srv->bytes_written.load(), sc.server.write_bytes);
  EXPECT_EQ(srv->bytes_read.load(), std::min(sc.client.write_bytes, sc.server.read_nbytes));
  EXPECT_EQ(client.bytes_read.load(), std::min(sc.server.write_bytes, sc.client.read_nbytes));
  if (sc.client_read_terminal) {
    EXPECT_EQ(client.read_terminal.load(), sc.client_read_terminal) << ::testing::PrintToString(client.events());
  }
  if (sc.server_read_terminal) {
    EXPECT_EQ(srv->read_terminal.load(), sc.server_read_terminal) << ::testing::PrintToString(srv->events());
  }
  EXPECT_FALSE(client.events_after_close);
  EXPECT_FALSE(srv->events_after_close);
}

constexpr int64_t k128 = BUFFER_SIZE_INDEX_128;
constexpr int64_t k4K  = BUFFER_SIZE_INDEX_4K;

// Client writes then half-closes; server reads to EOS and echoes nothing unless it writes itself.
const Scenario kScenarios[] = {
    {"OneByteEachWay", spec(1, INT64_MAX), spec(1, INT64_MAX), VC_EVENT_EOS, VC_EVENT_EOS},
    {"ExactlyOneBlock", spec(32768, INT64_MAX), spec(32768, INT64_MAX), VC_EVENT_EOS, VC_EVENT_EOS},
    {"ManyBlocksTinyBuffersBackpressure", spec(1 << 20, INT64_MAX, k128, 100), spec(1 << 20, INT64_MAX, k128, 77), VC_EVENT_EOS,
     VC_EVENT_EOS},
    {"LargeBothWaysAtOnce", spec(8 << 20, INT64_MAX, k4K), spec(8 << 20, INT64_MAX, k4K), VC_EVENT_EOS, VC_EVENT_EOS},
    {"ReadCompleteAtExactNbytes", spec(5000, 5000), spec(5000, 5000), VC_EVENT_READ_COMPLETE, VC_EVENT_READ_COMPLETE},
    {"NbytesLargerThanSentEndsWithEos", spec(3000, 100000), spec(0, 100000), 0, VC_EVENT_EOS},
    {"ClientOnlyWrites", spec(200000, 0), spec(0, INT64_MAX), 0, VC_EVENT_EOS},
    {"ServerOnlyWrites", spec(0, INT64_MAX), spec(200000, 0), VC_EVENT_EOS, 0},
};

INSTANTIATE_TEST_SUITE_P(Scenarios, NetVCTransfer, ::testing::ValuesIn(kScenarios),
                         [](const ::testing::TestParamInfo<Scenario> &p) { return std::string(p.param.name); });

bool
has_ipv6_loopback()
{
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  IpEndpoint ep = IpEndpoint::loopback(AF_INET6, 0);
  bool ok       = ::bind(fd, &ep.sa, ep.size()) == 0;
  ::close(fd);
  return ok;
}

/// Where an accepted connection says it is: its addresses, as seen on its own thread.
struct Addresses {
  std::mutex m;
  std::string remote;
  std::string local;
  int remote_family = 0;
};

TEST(NetVCIPv6, AcceptAndConnectOverTheIPv6Loopback)
{
  if (!has_ipv6_loopback()) {
    GTEST_SKIP() << "no ::1 on this host";
  }
  Addresses seen;
  VCTester server(spec(1 << 20, INT64_MAX, k4K));
  server.spec.write_seed = 2;
  server.spec.read_seed  = 1;
  TestAcceptor acceptor([&](NetVConnection *vc) {
    IpEndpoint remote, local;
    remote.assign(vc->get_remote_addr());
    local.assign(vc->get_local_addr());
    {
      std::lock_guard<std::mutex> g(seen.m);
      seen.remote        = remote.host_string();
      seen.local         = local.to_string();
      seen.remote_family = remote.family();
    }
    server.start(vc);
  });
  VCTestSpec cs = spec(1 << 20, INT64_MAX, k4K);
  cs.write_seed = 1;
  cs.read_seed  = 2;
  VCTester client(cs);
  NetEnvironment env;
  NetProcessor::AcceptOptions opt;
  opt.ip_family = AF_INET6; // the acceptor listens on ::1 for this family
  int port      = acceptor.listen(opt);
  ASSERT_GT(port, 0);
  IpEndpoint ep = IpEndpoint::loopback(AF_INET6, static_cast<uint16_t>(port));
  {
    MutexLock lock(client.mutex, nullptr);
    netProcessor.connect_re(&client, &ep.sa);
  }
  ASSERT_TRUE(client.wait_done()) << ::testing::PrintToString(client.events());
  ASSERT_TRUE(server.wait_done()) << ::testing::PrintToString(server.events());
  EXPECT_FALSE(client.data_mismatch);
  EXPECT_FALSE(server.data_mismatch);
  EXPECT_EQ(client.bytes_read.load(), 1 << 20);
  EXPECT_EQ(server.bytes_read.load(), 1 << 20);
  EXPECT_EQ(client.read_terminal.load(), VC_EVENT_EOS);
  std::lock_guard<std::mutex> g(seen.m);
  EXPECT_EQ(seen.remote_family, AF_INET6);
  EXPECT_EQ(seen.remote, "::1");
  EXPECT_EQ(seen.local, "[::1]:" + std::to_string(port));
}

TEST(NetVCFourThreads, ConcurrentTransfersOnEveryNetThread)
{
  // Four net threads (more than the machine's cores), 64 connections at once, each moving 256 KiB
  // both ways through 4 KiB buffers. Connects are spread round-robin, accepts by the kernel over
  // the four listening sockets: every thread ends up on both sides of some transfers.
  constexpr int kThreads     = 4;
  constexpr int kConnections = 64;
  constexpr int64_t kBytes   = 256 * 1024;
  std::set<EThread *> server_threads, client_threads;
  Server server(spec(kBytes, INT64_MAX, k4K));
  std::vector<std::unique_ptr<VCTester>> clients;
  for (int i = 0; i < kConnections; ++i) {
    VCTestSpec cs = spec(kBytes, INT64_MAX, k4K);
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
