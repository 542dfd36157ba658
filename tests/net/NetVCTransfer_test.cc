// Loopback transfers between an accepted and a connected UnixNetVConnection, NetVCTest style: each side
// writes a known pattern and checks every byte it reads, over a table of sizes, buffer sizes and shutdowns.
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
  TesterServer server(sc.server);
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
    {"OneByteEachWay", transfer_spec(1, INT64_MAX), transfer_spec(1, INT64_MAX), VC_EVENT_EOS, VC_EVENT_EOS},
    {"ExactlyOneBlock", transfer_spec(32768, INT64_MAX), transfer_spec(32768, INT64_MAX), VC_EVENT_EOS, VC_EVENT_EOS},
    {"ManyBlocksTinyBuffersBackpressure", transfer_spec(1 << 20, INT64_MAX, k128, 100), transfer_spec(1 << 20, INT64_MAX, k128, 77),
     VC_EVENT_EOS, VC_EVENT_EOS},
    {"LargeBothWaysAtOnce", transfer_spec(8 << 20, INT64_MAX, k4K), transfer_spec(8 << 20, INT64_MAX, k4K), VC_EVENT_EOS,
     VC_EVENT_EOS},
    {"ReadCompleteAtExactNbytes", transfer_spec(5000, 5000), transfer_spec(5000, 5000), VC_EVENT_READ_COMPLETE,
     VC_EVENT_READ_COMPLETE},
    {"NbytesLargerThanSentEndsWithEos", transfer_spec(3000, 100000), transfer_spec(0, 100000), 0, VC_EVENT_EOS},
    {"ClientOnlyWrites", transfer_spec(200000, 0), transfer_spec(0, INT64_MAX), 0, VC_EVENT_EOS},
    {"ServerOnlyWrites", transfer_spec(0, INT64_MAX), transfer_spec(200000, 0), VC_EVENT_EOS, 0},
};

INSTANTIATE_TEST_SUITE_P(Scenarios, NetVCTransfer, ::testing::ValuesIn(kScenarios),
                         [](const ::testing::TestParamInfo<Scenario> &p) { return std::string(p.param.name); });
} // namespace
