// TLS through sslNetProcessor: real OpenSSL on both ends over loopback, certificates made by a
// throw-away CA per test. Handshake in the NetHandler's pass, plaintext VIOs, close_notify half-close,
// SNI, ALPN, peer verification, handshake failures and timeout, migration, TLS 1.2 peers, renegotiation.
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
std::shared_ptr<const TLSServerContext>
make_server(const std::vector<TestPKI::Leaf> &leaves, const std::string &alpn = "",
            ink_hrtime handshake_timeout = HRTIME_SECONDS(30))
{
  TLSServerConfig cfg;
  for (const auto &l : leaves) {
    cfg.certificates.push_back({l.cert_file, l.key_file, {}});
  }
  cfg.alpn_protocols    = alpn;
  cfg.handshake_timeout = handshake_timeout;
  std::string error;
  auto ctx = TLSServerContext::create(cfg, &error);
  EXPECT_TRUE(ctx) << error;
  return ctx;
}

/// A VCTester that also records what tls_info() says (in each call-back, on the VC's thread) and
/// the inactivity timeout the VC reports once data flows.
class InfoTester : public VCTester
{
public:
  explicit InfoTester(VCTestSpec s) : VCTester(s) { set_handler(&InfoTester::on_event); }

  int on_event(int event, void *data)
  {
    if (event != NET_EVENT_OPEN && event != NET_EVENT_OPEN_FAILED && vc != nullptr) {
      std::lock_guard<std::mutex> g(_m);
      _info           = tls_info(vc);
      bool data_event = event == VC_EVENT_READ_READY || event == VC_EVENT_READ_COMPLETE || event == VC_EVENT_WRITE_READY ||
                        event == VC_EVENT_WRITE_COMPLETE || event == VC_EVENT_EOS;
      if (data_event && _info && !_info->handshake_complete) {
        _event_before_handshake = event;
      }
      if (event == VC_EVENT_READ_READY || event == VC_EVENT_READ_COMPLETE) {
        _timeout_with_data = vc->get_inactivity_timeout();
      }
    }
    return handle(event, data);
  }
  std::optional<TLSInfo> info() const
  {
    std::lock_guard<std::mutex> g(_m);
    return _info;
  }
  ink_hrtime timeout_with_data() const
  {
    std::lock_guard<std::mutex> g(_m);
    return _timeout_with_data;
  }
  /// A data event (READY, COMPLETE, EOS) that came while the handshake was not done; 0: none.
  int event_before_handshake() const
  {
    std::lock_guard<std::mutex> g(_m);
    return _event_before_handshake;
  }

private:
  mutable std::mutex _m;
  std::optional<TLSInfo> _info;
  ink_hrtime _timeout_with_data = -1;
  int _event_before_handshake   = 0;
};

int
listen_tls(TestAcceptor &acceptor, std::shared_ptr<const TLSServerContext> ctx)
{
  NetProcessor::AcceptOptions opt;
  opt.tls_context = std::move(ctx);
  return acceptor.listen(opt, sslNetProcessor);
}

NetVCOptions
client_options(const TestPKI &pki, const std::string &sni, const std::string &alpn = "")
{
  NetVCOptions o;
  o.sni_servername = sni;
  o.alpn_protocols = alpn;
  o.ca_file        = pki.ca_file();
  o.verify_peer    = true;
  return o;
}

VCTestSpec
spec(int64_t write_bytes, uint8_t write_seed, uint8_t read_seed)
{
  VCTestSpec s;
  s.write_bytes = write_bytes;
  s.write_seed  = write_seed;
  s.read_seed   = read_seed;
  return s;
}

std::string
events_of(const VCTester &t)
{
  return ::testing::PrintToString(t.events());
}

/// One client and one server exchanging data; both InfoTesters.
struct Exchange {
  Exchange(VCTestSpec client_spec, VCTestSpec server_spec)
      : client(client_spec), server(server_spec), acceptor([this](NetVConnection *vc) { server.start(vc); })
  {
  }
  /// Listen with ctx, connect with opt, and wait until both ends are done (or failed).
  ::testing::AssertionResult run(std::shared_ptr<const TLSServerContext> ctx, const NetVCOptions &opt,
                                 std::chrono::seconds deadline = std::chrono::seconds(30))
  {
    int port = listen_tls(acceptor, std::move(ctx));
    if (port <= 0) {
      return ::testing::AssertionFailure() << "cannot listen";
    }
    connect_tls(client, port, opt);
    if (!client.wait_done(deadline)) {
      return ::testing::AssertionFailure() << "client not done: " << events_of(client);
    }
    if (!server.wait_done(deadline)) {
      return ::testing::AssertionFailure() << "server not done: " << events_of(server);
    }
    return ::testing::AssertionSuccess();
  }
  InfoTester client;
  InfoTester server;
  TestAcceptor acceptor;
};

TEST(TLS, DataCrossesBothWaysAndCloseNotifyHalfClosesEachDirection)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  // Unequal sizes: the client half-closes (close_notify + FIN) long before the server is done, and
  // the server must still be able to write after it has seen the client's close_notify.
  Exchange x(spec(int64_t{64} * 1024, 1, 2), spec(int64_t{4} * 1024 * 1024, 2, 1));
  ASSERT_TRUE(x.run(make_server({leaf}), client_options(pki, "localhost")));
  EXPECT_FALSE(x.client.data_mismatch);
  EXPECT_FALSE(x.server.data_mismatch);
  EXPECT_EQ(x.server.bytes_read.load(), 64 * 1024);
  EXPECT_EQ(x.client.bytes_read.load(), 4 * 1024 * 1024);
  EXPECT_EQ(x.client.read_terminal.load(), VC_EVENT_EOS);
  EXPECT_EQ(x.server.read_terminal.load(), VC_EVENT_EOS);
  EXPECT_EQ(x.client.write_terminal.load(), VC_EVENT_WRITE_COMPLETE);
  EXPECT_EQ(x.server.write_terminal.load(), VC_EVENT_WRITE_COMPLETE);
  EXPECT_FALSE(x.client.events_after_close);
  auto ci = x.client.info();
  ASSERT_TRUE(ci.has_value());
  EXPECT_TRUE(ci->handshake_complete);
  EXPECT_EQ(ci->version, "TLSv1.3");
  EXPECT_FALSE(ci->cipher.empty());
  EXPECT_EQ(ci->server_name, "localhost");
  EXPECT_TRUE(ci->error.empty()) << ci->error;
  // Both ends closed their side with close_notify, not a bare FIN.
  EXPECT_TRUE(ci->close_notify_received);
  ASSERT_TRUE(x.server.info());
  EXPECT_TRUE(x.server.info()->close_notify_received);
}

TEST(TLS, NoEventReachesTheUserBeforeTheHandshakeIsDone)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  // 100 bytes per WRITE_READY of 100,000: over plain TCP the first WRITE_READY would come at once.
  VCTestSpec cs  = spec(100000, 1, 2);
  VCTestSpec ss  = spec(100000, 2, 1);
  cs.write_chunk = 100;
  ss.write_chunk = 100;
  Exchange x(cs, ss);
  ASSERT_TRUE(x.run(make_server({leaf}), client_options(pki, "localhost")));
  std::vector<int> ev = x.client.events();
  EXPECT_EQ(ev.front(), NET_EVENT_OPEN);
  EXPECT_NE(std::find(ev.begin(), ev.end(), VC_EVENT_WRITE_READY), ev.end()) << events_of(x.client);
  EXPECT_EQ(x.client.event_before_handshake(), 0) << events_of(x.client);
  EXPECT_EQ(x.server.event_before_handshake(), 0) << events_of(x.server);
  EXPECT_FALSE(x.client.data_mismatch);
  EXPECT_EQ(x.server.bytes_read.load(), 100000);
  EXPECT_EQ(x.client.bytes_read.load(), 100000);
}

TEST(TLS, OneWayTransfersArriveWholeAndEndWithCloseNotify)
{
  // A client that only writes never reads the TLS 1.3 session tickets the server sent: closing
  // with them unread must not reset the connection (the kernel would drop the unsent tail).
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  auto ctx = make_server({leaf});
  for (int round = 0; round < 6; ++round) {
    bool client_writes = round % 2 == 0;
    SCOPED_TRACE(client_writes ? "client writes" : "server writes");
    VCTestSpec writer  = spec(200000, 1, 2);
    writer.read_nbytes = 0;
    VCTestSpec reader  = spec(0, 2, 1);
    Exchange x(client_writes ? writer : reader, client_writes ? reader : writer);
    ASSERT_TRUE(x.run(ctx, client_options(pki, "localhost")));
    InfoTester &r = client_writes ? x.server : x.client;
    EXPECT_EQ(r.bytes_read.load(), 200000) << events_of(r);
    EXPECT_EQ(r.read_terminal.load(), VC_EVENT_EOS) << events_of(r);
    EXPECT_FALSE(r.data_mismatch);
    ASSERT_TRUE(r.info());
    EXPECT_TRUE(r.info()->close_notify_received);
    x.acceptor.stop();
  }
}

TEST(TLS, AFailedHandshakeIsReportedOnceAndNeverRunsAgain)
{
  TestPKI pki;
  TestPKI other;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  VCTestSpec cs        = spec(100, 1, 2);
  cs.close_in_callback = false; // the state machine keeps the connection after the error
  Exchange x(cs, spec(100, 2, 1));
  ASSERT_TRUE(x.run(make_server({leaf}), client_options(other, "localhost")));
  EXPECT_EQ(x.client.lerrno.load(), ENET_SSL_FAILED);
  std::string first_error = x.client.info()->error;
  // The server gave up and closed: its FIN reaches the client, whose handshake must not be
  // driven again (no second ERROR, the reason kept).
  auto errors = [&] {
    auto ev = x.client.events();
    return std::count(ev.begin(), ev.end(), VC_EVENT_ERROR);
  };
  EXPECT_FALSE(eventually([&] { return errors() > 1; }, std::chrono::milliseconds(500))) << events_of(x.client);
  {
    MutexLock lock(x.client.mutex, nullptr);
    EXPECT_EQ(tls_info(x.client.vc)->error, first_error);
    x.client.vc->do_io_close();
  }
  EXPECT_NE(first_error.find("certificate verify failed"), std::string::npos) << first_error;
}

TEST(TLS, HandshakesAndTheirFailuresAreCountedInNetStats)
{
  TestPKI pki;
  TestPKI other;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  NetStats before = net_stats_snapshot();
  {
    Exchange x(spec(100, 1, 2), spec(100, 2, 1));
    ASSERT_TRUE(x.run(make_server({leaf}), client_options(pki, "localhost")));
  }
  // Both ends of the exchange are in this process: two handshakes, no failure.
  NetStats ok = net_stats_snapshot();
  EXPECT_EQ(ok.tls_handshakes - before.tls_handshakes, 2);
  EXPECT_EQ(ok.tls_handshake_failures - before.tls_handshake_failures, 0);
  {
    Exchange x(spec(100, 1, 2), spec(100, 2, 1));
    ASSERT_TRUE(x.run(make_server({leaf}), client_options(other, "localhost")));
    EXPECT_EQ(x.client.lerrno.load(), ENET_SSL_FAILED);
  }
  // The client refuses the certificate; the server reads the client's alert: both fail, once each.
  EXPECT_TRUE(eventually([&] { return net_stats_snapshot().tls_handshake_failures - ok.tls_handshake_failures == 2; }))
      << net_stats_snapshot().tls_handshake_failures - ok.tls_handshake_failures;
  EXPECT_EQ(net_stats_snapshot().tls_handshakes, ok.tls_handshakes);
}

TEST(TLS, SniChoosesTheCertificateAndAlpnTheServersPreference)
{
  TestPKI pki;
  auto a = pki.issue("a.test", {"DNS:a.test"});
  auto b = pki.issue("b.test", {"DNS:b.test", "DNS:*.wild.test"});
  NetEnvironment env;
  auto ctx = make_server({a, b}, "h2,http/1.1");
  for (std::string name : {"b.test", "B.Test", "x.wild.test", "a.test"}) {
    SCOPED_TRACE(name);
    // Verification against the name passes only if the certificate for that name was served.
    Exchange x(spec(100, 1, 2), spec(100, 2, 1));
    ASSERT_TRUE(x.run(ctx, client_options(pki, name, "http/1.1,h2")));
    EXPECT_EQ(x.client.bytes_read.load(), 100) << events_of(x.client) << " lerrno " << x.client.lerrno;
    auto ci = x.client.info();
    auto si = x.server.info();
    ASSERT_TRUE(ci && si);
    EXPECT_EQ(ci->alpn, "h2");
    EXPECT_EQ(si->alpn, "h2");
    EXPECT_EQ(si->server_name, name);
    x.acceptor.stop();
  }
}

TEST(TLS, AlpnWithNothingInCommonGoesOnWithoutAProtocol)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  Exchange x(spec(10, 1, 2), spec(10, 2, 1));
  ASSERT_TRUE(x.run(make_server({leaf}, "h2"), client_options(pki, "localhost", "spdy/3")));
  EXPECT_EQ(x.client.bytes_read.load(), 10);
  ASSERT_TRUE(x.client.info());
  EXPECT_EQ(x.client.info()->alpn, "");
}

TEST(TLS, ClientRefusesACertificateItCannotVerify)
{
  TestPKI pki;
  TestPKI other;
  auto leaf = pki.issue("localhost", {"DNS:localhost", "IP:127.0.0.1"});
  NetEnvironment env;
  auto ctx = make_server({leaf});
  struct Case {
    const char *what;
    NetVCOptions opt;
    const char *error_part;
  };
  NetVCOptions unknown_ca = client_options(other, "localhost");
  NetVCOptions wrong_name = client_options(pki, "elsewhere.test");
  for (const Case &c :
       {Case{"unknown CA", unknown_ca, "certificate verify failed"}, Case{"wrong name", wrong_name, "certificate verify failed"}}) {
    SCOPED_TRACE(c.what);
    Exchange x(spec(100, 1, 2), spec(100, 2, 1));
    // The server sees the client's alert as a failed handshake (or the close as the end).
    ASSERT_TRUE(x.run(ctx, c.opt));
    EXPECT_EQ(x.client.read_terminal.load(), VC_EVENT_ERROR) << events_of(x.client);
    EXPECT_EQ(x.client.lerrno.load(), ENET_SSL_FAILED);
    EXPECT_EQ(x.client.bytes_read.load(), 0);
    auto ci = x.client.info();
    ASSERT_TRUE(ci);
    EXPECT_FALSE(ci->handshake_complete);
    EXPECT_NE(ci->error.find(c.error_part), std::string::npos) << ci->error;
    EXPECT_EQ(x.server.bytes_read.load(), 0);
    x.acceptor.stop();
  }
}

TEST(TLS, WithoutSniTheCertificateMustNameTheAddress)
{
  TestPKI pki;
  auto with_ip    = pki.issue("localhost", {"DNS:localhost", "IP:127.0.0.1"});
  auto without_ip = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  for (bool has_ip : {true, false}) {
    SCOPED_TRACE(has_ip ? "certificate names 127.0.0.1" : "certificate without the address");
    Exchange x(spec(10, 1, 2), spec(10, 2, 1));
    ASSERT_TRUE(x.run(make_server({has_ip ? with_ip : without_ip}), client_options(pki, "")));
    if (has_ip) {
      EXPECT_EQ(x.client.bytes_read.load(), 10) << events_of(x.client);
    } else {
      EXPECT_EQ(x.client.lerrno.load(), ENET_SSL_FAILED) << events_of(x.client);
    }
    x.acceptor.stop();
  }
}

TEST(TLS, VerificationCanBeTurnedOff)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  Exchange x(spec(10, 1, 2), spec(10, 2, 1));
  NetVCOptions opt = client_options(pki, "not-the-name.test");
  opt.verify_peer  = false;
  opt.ca_file      = "/nonexistent/ca.pem"; // not even read when nothing is verified
  ASSERT_TRUE(x.run(make_server({leaf}), opt));
  EXPECT_EQ(x.client.bytes_read.load(), 10) << events_of(x.client);
}

TEST(TLS, PlainTextFromAClientIsAHandshakeErrorAndTheConnectionCloses)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  VCTestSpec s = spec(0, 2, 1);
  InfoTester server(s);
  TestAcceptor acceptor([&](NetVConnection *vc) { server.start(vc); });
  int port  = listen_tls(acceptor, make_server({leaf}));
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(peer->send_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  ASSERT_TRUE(server.wait_done()) << events_of(server);
  EXPECT_EQ(server.read_terminal.load(), VC_EVENT_ERROR);
  EXPECT_EQ(server.lerrno.load(), ENET_SSL_FAILED);
  EXPECT_EQ(server.bytes_read.load(), 0);
  ASSERT_TRUE(server.info());
  EXPECT_FALSE(server.info()->error.empty());
  EXPECT_TRUE(peer->wait_closed());
}

TEST(TLS, SilentClientRunsIntoTheHandshakeTimeout)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  InfoTester server(spec(0, 2, 1));
  TestAcceptor acceptor([&](NetVConnection *vc) {
    vc->set_inactivity_timeout(HRTIME_SECONDS(3600)); // the handshake timeout takes precedence
    server.start(vc);
  });
  int port   = listen_tls(acceptor, make_server({leaf}, "", HRTIME_MSECONDS(500)));
  auto start = std::chrono::steady_clock::now();
  auto peer  = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(server.wait_done()) << events_of(server);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(server.read_terminal.load(), VC_EVENT_INACTIVITY_TIMEOUT) << events_of(server);
  EXPECT_GE(elapsed, std::chrono::milliseconds(500));
  EXPECT_TRUE(peer->wait_closed());
}

TEST(TLS, TheConnectionsOwnInactivityTimeoutReturnsAfterTheHandshake)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  Exchange x(spec(100, 1, 2), spec(100, 2, 1));
  TestAcceptor acceptor([&](NetVConnection *vc) {
    vc->set_inactivity_timeout(HRTIME_SECONDS(77));
    x.server.start(vc);
  });
  int port = listen_tls(acceptor, make_server({leaf}, "", HRTIME_SECONDS(5)));
  connect_tls(x.client, port, client_options(pki, "localhost"));
  ASSERT_TRUE(x.client.wait_done()) << events_of(x.client);
  ASSERT_TRUE(x.server.wait_done()) << events_of(x.server);
  EXPECT_EQ(x.server.timeout_with_data(), HRTIME_SECONDS(77));
}

TEST(TLS, BulkTransferThroughSmallBuffersKeepsEveryByte)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env;
  VCTestSpec cs   = spec(int64_t{8} * 1024 * 1024, 1, 2);
  VCTestSpec ss   = spec(int64_t{8} * 1024 * 1024, 2, 1);
  cs.buffer_index = BUFFER_SIZE_INDEX_4K;
  ss.buffer_index = BUFFER_SIZE_INDEX_4K;
  cs.write_chunk  = 1000; // many small WRITE_READY top-ups: SSL_write retries with the socket full
  Exchange x(cs, ss);
  ASSERT_TRUE(x.run(make_server({leaf}), client_options(pki, "localhost"), std::chrono::seconds(60)));
  EXPECT_FALSE(x.client.data_mismatch);
  EXPECT_FALSE(x.server.data_mismatch);
  EXPECT_EQ(x.client.bytes_read.load(), 8 * 1024 * 1024);
  EXPECT_EQ(x.server.bytes_read.load(), 8 * 1024 * 1024);
}

TEST(TLS, ManyConcurrentConnectionsOnTwoThreads)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env(2);
  constexpr int kConns = 40;
  std::vector<std::unique_ptr<VCTester>> servers;
  std::mutex servers_mutex;
  TestAcceptor acceptor(
      [&](NetVConnection *vc) {
        std::lock_guard<std::mutex> g(servers_mutex);
        servers.push_back(std::make_unique<VCTester>(spec(int64_t{64} * 1024, 2, 1)));
        servers.back()->start(vc);
      },
      /*serialised=*/false);
  int port = listen_tls(acceptor, make_server({leaf}));
  std::vector<std::unique_ptr<VCTester>> clients;
  for (int i = 0; i < kConns; ++i) {
    clients.push_back(std::make_unique<VCTester>(spec(int64_t{64} * 1024, 1, 2)));
    connect_tls(*clients.back(), port, client_options(pki, "localhost"));
  }
  for (auto &c : clients) {
    ASSERT_TRUE(c->wait_done(std::chrono::seconds(60))) << events_of(*c);
    EXPECT_FALSE(c->data_mismatch);
    EXPECT_EQ(c->bytes_read.load(), 64 * 1024) << events_of(*c);
  }
  ASSERT_TRUE(acceptor.accepted.wait_for(kConns));
  std::lock_guard<std::mutex> g(servers_mutex);
  for (auto &s : servers) {
    ASSERT_TRUE(s->wait_done(std::chrono::seconds(60))) << events_of(*s);
    EXPECT_EQ(s->bytes_read.load(), 64 * 1024);
  }
}

/// A TLS echo state machine for the migration test: what is read is written back.
struct TLSEcho : Continuation {
  TLSEcho() : Continuation(new_ProxyMutex()) { set_handler(&TLSEcho::handle); }
  ~TLSEcho() override { free_MIOBuffer(buf); }
  void start(NetVConnection *v)
  {
    MutexLock lock(mutex, this_ethread());
    vc        = v;
    write_vio = vc->do_io_write(this, INT64_MAX, reader);
    read_vio  = vc->do_io_read(this, INT64_MAX, buf);
    started.notify();
  }
  int handle(int event, void *)
  {
    if (event == VC_EVENT_READ_READY) {
      write_vio->reenable();
    } else if (event == VC_EVENT_WRITE_READY) {
      read_vio->reenable();
    } else if (event != VC_EVENT_WRITE_COMPLETE && vc != nullptr) {
      vc->do_io_close();
      vc = nullptr;
    }
    return EVENT_CONT;
  }
  NetVConnection *vc     = nullptr;
  MIOBuffer *buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *reader = buf->alloc_reader();
  VIO *read_vio          = nullptr;
  VIO *write_vio         = nullptr;
  EventWaiter started;
};

/// SocketPeer's sockets are non-blocking; the OpenSSL peers here block, bounded by 10 s socket
/// timeouts.
void
make_blocking(int fd)
{
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval limit{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
}

/// A blocking OpenSSL client on a SocketPeer's socket (the test thread's side).
struct BlockingTLSClient {
  explicit BlockingTLSClient(SocketPeer &peer)
  {
    int fd = peer.fd();
    make_blocking(fd);
    ctx = SSL_CTX_new(TLS_client_method());
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
  }
  ~BlockingTLSClient()
  {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  bool echo(const std::string &msg)
  {
    if (SSL_write(ssl, msg.data(), static_cast<int>(msg.size())) != static_cast<int>(msg.size())) {
      return false;
    }
    std::string got(msg.size(), '\0');
    std::size_t n = 0;
    while (n < got.size()) {
      int r = SSL_read(ssl, got.data() + n, static_cast<int>(got.size() - n));
      if (r <= 0) {
        return false;
      }
      n += static_cast<std::size_t>(r);
    }
    return got == msg;
  }
  SSL_CTX *ctx = nullptr;
  SSL *ssl     = nullptr;
};

TEST(TLS, ConnectionMigratesToAnotherThreadWithItsSession)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env(2);
  TLSEcho echo;
  TestAcceptor acceptor([&](NetVConnection *vc) { echo.start(vc); });
  int port  = listen_tls(acceptor, make_server({leaf}));
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(peer);
  BlockingTLSClient client(*peer);
  ASSERT_EQ(SSL_connect(client.ssl), 1);
  ASSERT_TRUE(echo.started.wait_for(1));
  ASSERT_TRUE(client.echo("before the move"));

  struct Mover : Continuation {
    Mover() : Continuation(new_ProxyMutex()) { set_handler(&Mover::handle); }
    int handle(int, void *)
    {
      auto *old = static_cast<UnixNetVConnection *>(echo->vc);
      from      = old->thread;
      if (auto *n = old->migrateToCurrentThread(echo, this_ethread())) {
        to              = n->thread;
        echo->vc        = n;
        echo->write_vio = n->do_io_write(echo, INT64_MAX, echo->reader);
        echo->read_vio  = n->do_io_read(echo, INT64_MAX, echo->buf);
        info            = tls_info(n);
      }
      moved.notify();
      return EVENT_DONE;
    }
    TLSEcho *echo = nullptr;
    EThread *from = nullptr;
    EThread *to   = nullptr;
    std::optional<TLSInfo> info;
    EventWaiter moved;
  } mover;
  mover.echo  = &echo;
  mover.mutex = echo.mutex; // the mover acts as the echo's state machine
  EThread *other;
  {
    MutexLock lock(echo.mutex, nullptr);
    auto *vc = static_cast<UnixNetVConnection *>(echo.vc);
    other    = vc->thread == eventProcessor.thread(ET_NET, 0) ? eventProcessor.thread(ET_NET, 1) : eventProcessor.thread(ET_NET, 0);
  }
  other->schedule_imm(&mover);
  ASSERT_TRUE(mover.moved.wait_for(1));
  EXPECT_EQ(mover.to, other);
  EXPECT_NE(mover.from, mover.to);
  ASSERT_TRUE(mover.info);
  EXPECT_TRUE(mover.info->handshake_complete);
  // The same TLS session goes on over the moved connection.
  EXPECT_TRUE(client.echo("after the move, same session"));
  {
    MutexLock lock(echo.mutex, nullptr);
    echo.vc->do_io_close();
    echo.vc = nullptr;
  }
}

TEST(TLS, TLS12ClientTransfersBothWaysAndItsRenegotiationIsRefused)
{
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  NetEnvironment env(2);
  const NetStats before = net_stats_snapshot();
  TLSEcho echo;
  TestAcceptor acceptor([&](NetVConnection *vc) { echo.start(vc); });
  int port  = listen_tls(acceptor, make_server({leaf}));
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(peer);
  BlockingTLSClient client(*peer);
  ASSERT_EQ(SSL_set_max_proto_version(client.ssl, TLS1_2_VERSION), 1);
  ASSERT_EQ(SSL_connect(client.ssl), 1);
  EXPECT_EQ(SSL_version(client.ssl), TLS1_2_VERSION);
  ASSERT_TRUE(echo.started.wait_for(1));
  for (int i = 0; i < 16; ++i) { // 256 KiB through the TLS 1.2 record layer, both ways
    ASSERT_TRUE(client.echo(pattern(static_cast<uint64_t>(i) * 16384, 16384, 3))) << "piece " << i;
  }
  std::optional<TLSInfo> info;
  {
    MutexLock lock(echo.mutex, nullptr);
    info = tls_info(echo.vc);
  }
  ASSERT_TRUE(info);
  EXPECT_EQ(info->version, "TLSv1.2");
  // The client asks to renegotiate: the server answers no_renegotiation (it never reads or writes
  // a second handshake in the middle of a transfer), the client gives up with a fatal alert, and
  // the server closes.
  ASSERT_EQ(SSL_renegotiate(client.ssl), 1);
  ERR_clear_error();
  int r = SSL_do_handshake(client.ssl);
  EXPECT_LE(r, 0);
  EXPECT_EQ(SSL_get_error(client.ssl, r), SSL_ERROR_SSL);
  EXPECT_EQ(ERR_GET_REASON(ERR_peek_error()), SSL_R_NO_RENEGOTIATION) << ERR_error_string(ERR_peek_error(), nullptr);
  EXPECT_TRUE(peer->wait_closed());
  {
    // The server closed on its net thread under echo's mutex; taking it orders everything that
    // thread did with echo's buffer before echo is destroyed here (TSan: a closed socket seen by
    // the peer is no synchronisation it knows of).
    MutexLock lock(echo.mutex, nullptr);
    EXPECT_EQ(echo.vc, nullptr);
  }
  EXPECT_EQ(net_stats_snapshot().tls_handshakes - before.tls_handshakes, 1) << "one handshake, never a second";
}

TEST(TLS, TLS12ServerTakesTheLibrarysClientThroughBothWays)
{
  // The library as the client, against a server that speaks at most TLS 1.2 (OpenSSL in a thread
  // here): the client writes a pattern and half-closes (close_notify), the server echoes it all
  // back and closes; every byte must come back.
  constexpr int64_t kBytes = 300000;
  TestPKI pki;
  auto leaf = pki.issue("localhost", {"DNS:localhost"});
  SocketListener listener;
  std::atomic<int64_t> echoed{-1};
  std::string server_version;
  std::thread server([&] {
    auto conn = listener.accept_one(std::chrono::seconds(30));
    if (!conn) {
      return;
    }
    make_blocking(conn->fd());
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_use_certificate_chain_file(ctx, leaf.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, leaf.key_file.c_str(), SSL_FILETYPE_PEM);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, conn->fd());
    int64_t n = 0;
    if (SSL_accept(ssl) == 1) {
      server_version = SSL_get_version(ssl);
      char buf[16384];
      for (int r; (r = SSL_read(ssl, buf, sizeof(buf))) > 0; n += r) {
        if (SSL_write(ssl, buf, r) != r) {
          break;
        }
      }
      SSL_shutdown(ssl);
    }
    echoed = n;
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  });
  NetEnvironment env(2);
  VCTestSpec cs = spec(kBytes, 1, 1); // reads back its own pattern
  InfoTester client(cs);
  connect_tls(client, listener.port(), client_options(pki, "localhost"));
  bool done = client.wait_done(std::chrono::seconds(30));
  server.join();
  ASSERT_TRUE(done) << events_of(client);
  EXPECT_EQ(echoed.load(), kBytes);
  EXPECT_EQ(server_version, "TLSv1.2");
  EXPECT_FALSE(client.data_mismatch);
  EXPECT_EQ(client.bytes_written.load(), kBytes);
  EXPECT_EQ(client.bytes_read.load(), kBytes);
  EXPECT_EQ(client.read_terminal.load(), VC_EVENT_EOS) << events_of(client);
  ASSERT_TRUE(client.info());
  EXPECT_EQ(client.info()->version, "TLSv1.2");
}
} // namespace
