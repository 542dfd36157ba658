// A NetVCTest-style transfer accepted and connected over the IPv6 loopback, each side checking
// every byte and the addresses the connection reports (skipped where the machine has no ::1).
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
  VCTester server(transfer_spec(1 << 20, INT64_MAX, BUFFER_SIZE_INDEX_4K));
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
  VCTestSpec cs = transfer_spec(1 << 20, INT64_MAX, BUFFER_SIZE_INDEX_4K);
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
} // namespace
