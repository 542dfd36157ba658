// Unix-domain sockets: listening on a path or an abstract name (stale files replaced, anything else
// left alone, the file removed on cancel), connecting through connect_re, transfers NetVCTest style,
// the addresses a connection reports, TCP options skipped, and the read shortcut on streams that
// stop at ancillary data or urgent data.
#include "support/NetTestHarness.h"

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
/// A private directory for socket files, removed with everything in it.
class TempDir
{
public:
  TempDir()
  {
    char tmpl[] = "/tmp/iocore-unix-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) {
      _path = tmpl;
    }
  }
  ~TempDir()
  {
    if (!_path.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(_path, ec);
    }
  }
  std::string file(const std::string &name) const { return _path + "/" + name; }

private:
  std::string _path;
};

bool
exists(const std::string &path)
{
  struct stat st {
  };
  return ::lstat(path.c_str(), &st) == 0;
}

bool
is_socket_file(const std::string &path)
{
  struct stat st {
  };
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

NetProcessor::AcceptOptions
unix_options(const std::string &path)
{
  NetProcessor::AcceptOptions opt;
  opt.ip_family  = AF_UNIX;
  opt.local_path = path;
  return opt;
}

/// Runs a VCTester per accepted connection and remembers what each connection reported.
class TesterServer
{
public:
  explicit TesterServer(VCTestSpec s)
      : _spec(s), acceptor([this](NetVConnection *vc) {
          auto t             = std::make_unique<VCTester>(_spec);
          t->spec.write_seed = 2;
          t->spec.read_seed  = 1;
          VCTester *raw      = t.get();
          {
            std::lock_guard<std::mutex> g(_mutex);
            testers.push_back(std::move(t));
            remotes.push_back(vc->get_remote_endpoint());
            locals.push_back(vc->get_local_endpoint());
            threads.insert(vc->thread);
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
  Action *listen(const NetProcessor::AcceptOptions &opt)
  {
    acceptor.action = netProcessor.accept(&acceptor, opt);
    return acceptor.action;
  }

  VCTestSpec _spec;
  std::mutex _mutex;
  std::vector<std::unique_ptr<VCTester>> testers;
  std::vector<SocketAddress> remotes;
  std::vector<SocketAddress> locals;
  std::set<EThread *> threads;
  TestAcceptor acceptor;
};

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

/// Connects a VCTester client to `to` and runs both sides to the end; the server's tester is
/// returned through `server_side`.
void
run_transfer(TesterServer &server, const SocketAddress &to, VCTestSpec client_spec, VCTester *&server_side,
             std::vector<int> *client_events = nullptr)
{
  client_spec.write_seed = 1;
  client_spec.read_seed  = 2;
  VCTester client(client_spec);
  {
    MutexLock lock(client.mutex, nullptr);
    netProcessor.connect_re(&client, to.sa());
  }
  ASSERT_TRUE(client.wait_done()) << ::testing::PrintToString(client.events());
  ASSERT_TRUE(server.acceptor.accepted.wait_until([&] { return (server_side = server.tester(0)) != nullptr; }));
  ASSERT_TRUE(server_side->wait_done()) << ::testing::PrintToString(server_side->events());
  EXPECT_FALSE(client.data_mismatch);
  EXPECT_EQ(client.bytes_written.load(), client_spec.write_bytes);
  EXPECT_EQ(client.bytes_read.load(), std::min(server._spec.write_bytes, client_spec.read_nbytes));
  EXPECT_EQ(client.read_terminal.load(), VC_EVENT_EOS);
  if (client_events) {
    *client_events = client.events();
  }
  ASSERT_NE(client.vc, nullptr);
}

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
    {"OneByteEachWay", spec(1, INT64_MAX), spec(1, INT64_MAX)},
    {"TinyBuffersBackpressure", spec(1 << 20, INT64_MAX, BUFFER_SIZE_INDEX_128, 100),
     spec(1 << 20, INT64_MAX, BUFFER_SIZE_INDEX_128, 77)},
    {"LargeBothWaysAtOnce", spec(8 << 20, INT64_MAX, BUFFER_SIZE_INDEX_4K), spec(8 << 20, INT64_MAX, BUFFER_SIZE_INDEX_4K)},
    {"ServerOnlyWrites", spec(0, INT64_MAX), spec(300000, 0)},
};

INSTANTIATE_TEST_SUITE_P(Scenarios, UnixTransfer, ::testing::ValuesIn(kUnixScenarios),
                         [](const ::testing::TestParamInfo<UnixScenario> &p) { return std::string(p.param.name); });

TEST(UnixSockets, ConnectionsReportTheirUnixAddresses)
{
  TempDir dir;
  TesterServer server(spec(10, INT64_MAX));
  NetEnvironment env;
  std::string path = dir.file("addr.sock");
  Action *a        = server.listen(unix_options(path));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(NetProcessor::accept_address(a).to_string(), "unix:" + path);
  EXPECT_EQ(NetProcessor::accept_port(a), -1);
  VCTester *srv = nullptr;
  run_transfer(server, *SocketAddress::unix_path(path), spec(10, INT64_MAX), srv);
  std::lock_guard<std::mutex> g(server._mutex);
  ASSERT_EQ(server.remotes.size(), 1u);
  EXPECT_TRUE(server.remotes[0].is_unnamed()) << server.remotes[0].to_string();
  EXPECT_EQ(server.locals[0].to_string(), "unix:" + path);
}

TEST(UnixSockets, ClientSideSeesThePathItConnectedTo)
{
  TempDir dir;
  std::string path = dir.file("client.sock");
  struct Opener : Continuation {
    Opener() : Continuation(new_ProxyMutex()) { set_handler(&Opener::handle); }
    int handle(int event, void *data)
    {
      if (event == NET_EVENT_OPEN) {
        auto *vc = static_cast<NetVConnection *>(data);
        remote   = vc->get_remote_endpoint().to_string();
        family   = vc->get_remote_addr()->sa_family;
        port     = vc->get_remote_port();
        vc->do_io_close();
      }
      result = event;
      done.notify();
      return EVENT_DONE;
    }
    std::string remote;
    int family = 0;
    int port   = -1;
    std::atomic<int> result{0};
    EventWaiter done;
  } opener;
  TesterServer server(spec(0, INT64_MAX));
  NetEnvironment env;
  ASSERT_NE(server.listen(unix_options(path)), nullptr);
  SocketAddress to = *SocketAddress::unix_path(path);
  {
    MutexLock lock(opener.mutex, nullptr);
    netProcessor.connect_re(&opener, to.sa());
  }
  ASSERT_TRUE(opener.done.wait_for(1));
  ASSERT_TRUE(server.acceptor.accepted.wait_for(1));
  MutexLock lock(opener.mutex, nullptr);
  EXPECT_EQ(opener.result.load(), NET_EVENT_OPEN);
  EXPECT_EQ(opener.remote, "unix:" + path);
  EXPECT_EQ(opener.family, AF_UNIX);
  EXPECT_EQ(opener.port, 0);
}

TEST(UnixSockets, AnAbstractNameLeavesNoFile)
{
  // A name of its own per run: a repeated run must not find the last run's listener, whose socket
  // its net thread may still be closing (a cancel is asynchronous).
  static int runs  = 0;
  std::string name = "iocore-test-" + std::to_string(::getpid()) + "-" + std::to_string(++runs);
  TesterServer server(spec(3000, INT64_MAX));
  NetEnvironment env;
  Action *a = server.listen(unix_options("@" + name));
  ASSERT_NE(a, nullptr) << std::strerror(errno);
  EXPECT_EQ(NetProcessor::accept_address(a).to_string(), "unix:@" + name);
  EXPECT_FALSE(exists(name)) << "nothing in the working directory";
  VCTester *srv = nullptr;
  run_transfer(server, *SocketAddress::unix_abstract(name), spec(5000, INT64_MAX), srv);
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->bytes_read.load(), 5000);
}

TEST(UnixSockets, CancelRemovesTheSocketFileAndStopsListening)
{
  TempDir dir;
  std::string path = dir.file("gone.sock");
  TesterServer server(spec(0, INT64_MAX));
  NetEnvironment env;
  ASSERT_NE(server.listen(unix_options(path)), nullptr);
  EXPECT_TRUE(is_socket_file(path));
  ASSERT_TRUE(SocketPeer::connect_to(*SocketAddress::unix_path(path)));
  ASSERT_TRUE(server.acceptor.accepted.wait_for(1));
  server.acceptor.stop();
  EXPECT_FALSE(exists(path));
  EXPECT_FALSE(SocketPeer::connect_to(*SocketAddress::unix_path(path)));
}

TEST(UnixSockets, ShutdownRemovesTheSocketFile)
{
  TempDir dir;
  std::string path = dir.file("shutdown.sock");
  TesterServer server(spec(0, INT64_MAX));
  {
    NetEnvironment env;
    ASSERT_NE(server.listen(unix_options(path)), nullptr);
    EXPECT_TRUE(is_socket_file(path));
  }
  EXPECT_FALSE(exists(path));
}

TEST(UnixSockets, AStaleSocketFileIsReplaced)
{
  TempDir dir;
  std::string path = dir.file("stale.sock");
  SocketAddress at = *SocketAddress::unix_path(path);
  {
    int old = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(::bind(old, at.sa(), at.size()), 0);
    ASSERT_EQ(::listen(old, 1), 0);
    ::close(old); // its process "died": the file stays, nobody accepts
  }
  ASSERT_TRUE(is_socket_file(path));
  TesterServer server(spec(4, INT64_MAX));
  NetEnvironment env;
  ASSERT_NE(server.listen(unix_options(path)), nullptr) << std::strerror(errno);
  VCTester *srv = nullptr;
  run_transfer(server, at, spec(4, INT64_MAX), srv);
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->bytes_read.load(), 4);
}

TEST(UnixSockets, ALiveListenerIsNotTakenOver)
{
  TempDir dir;
  std::string path = dir.file("live.sock");
  SocketAddress at = *SocketAddress::unix_path(path);
  int live         = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::bind(live, at.sa(), at.size()), 0);
  ASSERT_EQ(::listen(live, 4), 0);
  TesterServer server(spec(0, INT64_MAX));
  NetEnvironment env;
  errno = 0;
  EXPECT_EQ(server.listen(unix_options(path)), nullptr);
  EXPECT_EQ(errno, EADDRINUSE);
  ASSERT_TRUE(SocketPeer::connect_to(at)) << "the other listener still owns the path";
  int s = ::accept4(live, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(s, 0);
  ::close(s);
  ::close(live);
}

TEST(UnixSockets, APathThatIsNotASocketIsLeftUntouched)
{
  TempDir dir;
  std::string path = dir.file("data.txt");
  {
    std::ofstream f(path);
    f << "precious";
  }
  TesterServer server(spec(0, INT64_MAX));
  NetEnvironment env;
  errno = 0;
  EXPECT_EQ(server.listen(unix_options(path)), nullptr);
  EXPECT_EQ(errno, EEXIST);
  std::ifstream f(path);
  std::string content;
  f >> content;
  EXPECT_EQ(content, "precious");
}

TEST(UnixSockets, APathLongerThanSunPathIsRefused)
{
  TesterServer server(spec(0, INT64_MAX));
  NetEnvironment env;
  errno = 0;
  EXPECT_EQ(server.listen(unix_options("/tmp/" + std::string(SocketAddress::kMaxUnixPath, 'x'))), nullptr);
  EXPECT_EQ(errno, ENAMETOOLONG);
}

TEST(UnixSockets, OneSocketSpreadsItsConnectionsOverTheNetThreads)
{
  TempDir dir;
  std::string path = dir.file("spread.sock");
  TesterServer server(spec(0, INT64_MAX));
  NetEnvironment env(2);
  ASSERT_NE(server.listen(unix_options(path)), nullptr);
  std::vector<SocketPeer> peers;
  for (int i = 0; i < 8; ++i) {
    auto p = SocketPeer::connect_to(*SocketAddress::unix_path(path));
    ASSERT_TRUE(p);
    peers.push_back(std::move(*p));
  }
  ASSERT_TRUE(server.acceptor.accepted.wait_for(8));
  std::lock_guard<std::mutex> g(server._mutex);
  EXPECT_EQ(server.threads.size(), 2u) << "round-robin over both net threads";
}

TEST(UnixSockets, DedicatedAcceptThreadsServeAPath)
{
  TempDir dir;
  std::string path = dir.file("dedicated.sock");
  TesterServer server(spec(100, INT64_MAX));
  NetEnvironment env;
  NetProcessor::AcceptOptions opt = unix_options(path);
  opt.accept_threads              = 1;
  ASSERT_NE(server.listen(opt), nullptr);
  VCTester *srv = nullptr;
  run_transfer(server, *SocketAddress::unix_path(path), spec(100, INT64_MAX), srv);
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->bytes_read.load(), 100);
  server.acceptor.stop();
  EXPECT_FALSE(exists(path));
}

struct OpenResult : Continuation {
  OpenResult() : Continuation(new_ProxyMutex()) { set_handler(&OpenResult::handle); }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_OPEN) {
      vc = static_cast<NetVConnection *>(data);
    } else if (event == NET_EVENT_OPEN_FAILED) {
      err = static_cast<int>(-reinterpret_cast<intptr_t>(data));
    }
    result = event;
    done.notify();
    return EVENT_DONE;
  }
  void close()
  {
    MutexLock lock(mutex, nullptr);
    if (vc) {
      vc->do_io_close();
      vc = nullptr;
    }
  }
  NetVConnection *vc = nullptr;
  std::atomic<int> result{0};
  std::atomic<int> err{0};
  EventWaiter done;
};

TEST(UnixSockets, ConnectingToNoListenerFails)
{
  TempDir dir;
  NetEnvironment env;
  OpenResult missing;
  SocketAddress nowhere = *SocketAddress::unix_path(dir.file("missing.sock"));
  netProcessor.connect_re(&missing, nowhere.sa());
  ASSERT_TRUE(missing.done.wait_for(1));
  EXPECT_EQ(missing.result.load(), NET_EVENT_OPEN_FAILED);
  EXPECT_EQ(missing.err.load(), ENOENT);
}

TEST(UnixSockets, TcpOptionsAreSkippedButBindingIsRefused)
{
  TempDir dir;
  std::string path = dir.file("opts.sock");
  TesterServer server(spec(0, INT64_MAX));
  NetEnvironment env;
  NetProcessor::AcceptOptions aopt = unix_options(path);
  aopt.sockopt_flags               = SOCK_OPT_NO_DELAY | SOCK_OPT_KEEP_ALIVE | SOCK_OPT_TCP_FAST_OPEN;
  ASSERT_NE(server.listen(aopt), nullptr);
  SocketAddress to = *SocketAddress::unix_path(path);

  NetVCOptions tcp_only;
  tcp_only.sockopt_flags = SOCK_OPT_NO_DELAY | SOCK_OPT_KEEP_ALIVE | SOCK_OPT_LINGER_ON | SOCK_OPT_PACKET_TOS |
                           SOCK_OPT_TCP_NOTSENT_LOWAT | SOCK_OPT_TCP_FAST_OPEN;
  tcp_only.keep_alive_idle    = 5;
  tcp_only.congestion_control = "reno";
  OpenResult ok;
  netProcessor.connect_re(&ok, to.sa(), &tcp_only);
  ASSERT_TRUE(ok.done.wait_for(1));
  EXPECT_EQ(ok.result.load(), NET_EVENT_OPEN);
  // The server side joins its thread before the test ends (one in flight at shutdown would leak).
  ASSERT_TRUE(server.acceptor.accepted.wait_for(1));
  {
    MutexLock lock(ok.mutex, nullptr);
    ASSERT_NE(ok.vc, nullptr);
    EXPECT_EQ(ok.vc->apply_options(), 0);
  }
  ok.close();

  NetVCOptions bound;
  bound.addr_binding = NetVCOptions::INTF_ADDR;
  bound.local_ip     = IpEndpoint::loopback(AF_INET);
  OpenResult refused;
  netProcessor.connect_re(&refused, to.sa(), &bound);
  ASSERT_TRUE(refused.done.wait_for(1));
  EXPECT_EQ(refused.result.load(), NET_EVENT_OPEN_FAILED);
  EXPECT_EQ(refused.err.load(), EINVAL);
}
} // namespace

namespace {
/// Consumes everything it is given and counts it.
class CountingReader : public Continuation
{
public:
  CountingReader() : Continuation(new_ProxyMutex()) { set_handler(&CountingReader::handle); }
  ~CountingReader() override { free_MIOBuffer(buf); }
  int handle(int event, void *)
  {
    if (event == VC_EVENT_READ_READY) {
      seen += reader->read_avail();
      reader->consume(reader->read_avail());
      read_vio->reenable();
    }
    return EVENT_DONE;
  }
  MIOBuffer *buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *reader = buf->alloc_reader();
  VIO *read_vio          = nullptr;
  int64_t seen           = 0;
};

/// A hand-driven net thread (real epoll) reading one end of a Unix socket pair. populate() takes a
/// socket over without counting it in NetStats (the accept or connect that made it counts), while
/// closing the VC uncounts it: the fixture counts its VC as an accepted one and checks at the end
/// that the gauges are back where they were, for the tests that share the process after it.
class DrivenUnixRead : public ::testing::Test
{
protected:
  void SetUp() override
  {
    open_before    = net_counters().connections_currently_open.load();
    inbound_before = net_counters().inbound_currently_open.load();
    thread.set_current();
    thread.mutex->acquire(&thread);
    initialize_thread_for_net(&thread);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    peer = fds[1];
    vc   = UnixNetVConnection::alloc();
    ASSERT_EQ(vc->populate(fds[0], &sm), 0);
    net_count(net_counters().connections_currently_open);
    net_count(net_counters().inbound_currently_open);
    MutexLock lock(sm.mutex, &thread);
    sm.read_vio = vc->do_io_read(&sm, INT64_MAX, sm.buf);
  }
  void TearDown() override
  {
    if (vc != nullptr) {
      MutexLock lock(sm.mutex, &thread);
      vc->do_io_close();
    }
    if (peer >= 0) {
      ::close(peer);
    }
    thread.mutex->release();
    EThread::clear_current();
    EXPECT_EQ(net_counters().connections_currently_open.load(), open_before) << "connections_currently_open drifted";
    EXPECT_EQ(net_counters().inbound_currently_open.load(), inbound_before) << "inbound_currently_open drifted";
  }
  /// Passes (each waiting up to 10 ms in epoll) until n bytes were seen or 10 s passed.
  bool run_until_seen(int64_t n)
  {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (sm.seen < n && std::chrono::steady_clock::now() < deadline) {
      thread.run_one_iteration(HRTIME_MSECONDS(10));
    }
    return sm.seen >= n;
  }
  /// Send `data` with a descriptor attached (SCM_RIGHTS).
  void send_with_descriptor(const std::string &data)
  {
    int passed = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(passed, 0);
    iovec iov{const_cast<char *>(data.data()), data.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov        = &iov;
    msg.msg_iovlen     = 1;
    msg.msg_control    = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr *c         = CMSG_FIRSTHDR(&msg);
    c->cmsg_level      = SOL_SOCKET;
    c->cmsg_type       = SCM_RIGHTS;
    c->cmsg_len        = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passed, sizeof(int));
    ASSERT_EQ(::sendmsg(peer, &msg, 0), static_cast<ssize_t>(data.size()));
    ::close(passed);
  }

  int64_t open_before    = 0;
  int64_t inbound_before = 0;
  ManualClock clock;
  EThread thread{REGULAR, 0, &clock};
  int peer               = -1;
  UnixNetVConnection *vc = nullptr;
  CountingReader sm;
};

TEST_F(DrivenUnixRead, DataAfterAPassedDescriptorIsNotLeftBehind)
{
  // The read stops after "AAAA" because a descriptor rode with it, with "BBBB" still queued and no
  // further readiness edge to come: the VC must read on at once.
  send_with_descriptor("AAAA");
  ASSERT_EQ(::send(peer, "BBBB", 4, 0), 4);
  EXPECT_TRUE(run_until_seen(8)) << "saw " << sm.seen << " of 8 bytes";
}

TEST_F(DrivenUnixRead, DataBehindUrgentDataIsNotLeftBehind)
{
  ASSERT_EQ(::send(peer, "AAAA", 4, 0), 4);
  if (::send(peer, "U", 1, MSG_OOB) != 1) {
    GTEST_SKIP() << "no MSG_OOB on AF_UNIX in this kernel: " << std::strerror(errno);
  }
  ASSERT_EQ(::send(peer, "CCCC", 4, 0), 4);
  EXPECT_TRUE(run_until_seen(8)) << "saw " << sm.seen << " of the 8 in-band bytes";
}

TEST_F(DrivenUnixRead, APlainShortReadStillWaitsForTheNextEdge)
{
  thread.run_one_iteration(0);
  int64_t reads_before = net_counters().calls_to_read.load();
  ASSERT_EQ(::send(peer, "abc", 3, 0), 3);
  EXPECT_TRUE(run_until_seen(3));
  EXPECT_EQ(net_counters().calls_to_read.load() - reads_before, 1) << "a short read drained the socket: no second read";
}
} // namespace
