// TLS configuration: bad server and client settings are refused with the reason, the processor refuses
// what it cannot use, and plain connections report no TLS info.
#include "iocore/iocore.h"

#include "support/NetTestHarness.h"
#include "net/UnixNetVConnection.h"
#include "support/TestCerts.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace iocore;
using namespace iocore::test;

namespace {
TEST(TLSConfig, BadConfigurationsAreRefusedWithTheReason)
{
  TestPKI pki;
  auto a = pki.issue("a.test", {"DNS:a.test"});
  auto b = pki.issue("b.test", {"DNS:b.test"});
  struct Case {
    const char *what;
    TLSServerConfig cfg;
    const char *error_part;
  };
  auto config = [](std::string cert, std::string key, std::string alpn = "", std::string ciphers = "") {
    TLSServerConfig c;
    c.certificates.push_back({std::move(cert), std::move(key), {}});
    c.alpn_protocols = std::move(alpn);
    c.ciphers        = std::move(ciphers);
    return c;
  };
  std::vector<Case> cases = {
      {"no certificate", TLSServerConfig{}, "no certificate"},
      {"missing file", config("/nonexistent/cert.pem", a.key_file), "/nonexistent/cert.pem"},
      {"missing key", config(a.cert_file, "/nonexistent/key.pem"), "/nonexistent/key.pem"},
      {"key of another certificate", config(a.cert_file, b.key_file), "does not match"},
      {"bad ALPN list", config(a.cert_file, a.key_file, "h2,,http/1.1"), "ALPN"},
      {"bad cipher list", config(a.cert_file, a.key_file, "", "NOT-A-CIPHER"), "cipher"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.what);
    std::string error;
    EXPECT_EQ(TLSServerContext::create(c.cfg, &error), nullptr);
    EXPECT_NE(error.find(c.error_part), std::string::npos) << error;
  }
  std::string error;
  EXPECT_NE(TLSServerContext::create(config(a.cert_file, a.key_file, "h2"), &error), nullptr) << error;
}

TEST(TLSConfig, ProcessorRefusesWhatItCannotUse)
{
  NetEnvironment env;
  TestAcceptor acceptor([](NetVConnection *vc) { vc->do_io_close(); });
  errno = 0;
  NetProcessor::AcceptOptions opt; // no tls_context
  opt.local_ip = IpEndpoint::loopback(AF_INET);
  EXPECT_EQ(sslNetProcessor.accept(&acceptor, opt), nullptr);
  EXPECT_EQ(errno, EINVAL);

  VCTester client(transfer_spec(10, INT64_MAX));
  NetVCOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  connect_tls(client, unused_port(), o);
  ASSERT_TRUE(client.wait_done());
  EXPECT_EQ(client.read_terminal.load(), NET_EVENT_OPEN_FAILED);
  EXPECT_EQ(client.lerrno.load(), ENET_SSL_FAILED);

  VCTester long_sni(transfer_spec(10, INT64_MAX));
  NetVCOptions o3;
  o3.verify_peer    = false;
  o3.sni_servername = std::string(300, 'a');
  connect_tls(long_sni, unused_port(), o3);
  ASSERT_TRUE(long_sni.wait_done());
  EXPECT_EQ(long_sni.read_terminal.load(), NET_EVENT_OPEN_FAILED);
  EXPECT_EQ(long_sni.lerrno.load(), EINVAL);

  VCTester bad_alpn(transfer_spec(10, INT64_MAX));
  NetVCOptions o2;
  o2.verify_peer    = false;
  o2.alpn_protocols = ",";
  connect_tls(bad_alpn, unused_port(), o2);
  ASSERT_TRUE(bad_alpn.wait_done());
  EXPECT_EQ(bad_alpn.read_terminal.load(), NET_EVENT_OPEN_FAILED);
}

TEST(TLSConfig, PlainConnectionsHaveNoTLSInfo)
{
  NetEnvironment env;
  std::optional<TLSInfo> seen = TLSInfo{};
  TestAcceptor acceptor([&](NetVConnection *vc) {
    seen = tls_info(vc); // before accepted.notify(), which the test thread waits for
    vc->do_io_close();
  });
  int port  = acceptor.listen();
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(acceptor.accepted.wait_for(1));
  EXPECT_FALSE(seen.has_value());
}
} // namespace
