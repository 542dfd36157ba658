// NetVCTest-style transfers over a Unix-domain socket path: each side writes a known pattern and
// checks every byte it reads, over a table of sizes and buffer sizes.
#include "support/NetTestHarness.h"
#include "support/TempDir.h"
#include "support/TesterServer.h"

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
struct UnixScenario {
  const char *name;
  VCTestSpec client;
  VCTestSpec server;
};

void
PrintTo(const UnixScenario &s, std::ostream *os)
{
  *os << s.name;
}

class UnixTransfer : public ::testing::TestWithParam<UnixScenario>
{
};

TEST_P(UnixTransfer, EveryByteArrivesOverAPath)
{
  const UnixScenario &sc = GetParam();
  TempDir dir;
  TesterServer server(sc.server);
  NetEnvironment env;
  std::string path = dir.file("t.sock");
  ASSERT_NE(server.listen(unix_options(path)), nullptr) << std::strerror(errno);
  VCTester *srv = nullptr;
  run_transfer(server, *SocketAddress::unix_path(path), sc.client, srv);
  ASSERT_NE(srv, nullptr);
  EXPECT_FALSE(srv->data_mismatch);
  EXPECT_EQ(srv->bytes_read.load(), std::min(sc.client.write_bytes, sc.server.read_nbytes));
  EXPECT_EQ(srv->bytes_written.load(), sc.server.write_bytes);
  if (sc.server.read_nbytes > 0) {
    EXPECT_EQ(srv->read_terminal.load(), VC_EVENT_EOS);
  }
}

const UnixScenario kUnixScenarios[] = {
    {"OneByteEachWay", transfer_spec(1, INT64_MAX), transfer_spec(1, INT64_MAX)},
    {"TinyBuffersBackpressure", transfer_spec(1 << 20, INT64_MAX, BUFFER_SIZE_INDEX_128, 100),
     transfer_spec(1 << 20, INT64_MAX, BUFFER_SIZE_INDEX_128, 77)},
    {"LargeBothWaysAtOnce", transfer_spec(8 << 20, INT64_MAX, BUFFER_SIZE_INDEX_4K),
     transfer_spec(8 << 20, INT64_MAX, BUFFER_SIZE_INDEX_4K)},
    {"ServerOnlyWrites", transfer_spec(0, INT64_MAX), transfer_spec(300000, 0)},
};

INSTANTIATE_TEST_SUITE_P(Scenarios, UnixTransfer, ::testing::ValuesIn(kUnixScenarios),
                         [](const ::testing::TestParamInfo<UnixScenario> &p) { return std::string(p.param.name); });
} // namespace
