// Unix-domain sockets: listening on a path or an abstract name (stale files replaced, anything else
// left alone, the file removed on cancel), connecting through connect_re, the addresses a connection
// reports, and TCP options skipped.
#include "support/NetTestHarness.h"
#include "support/Opener.h"
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

TEST(UnixSockets, ConnectionsReportTheirUnixAddresses)
{
  TempDir dir;
  TesterServer server(transfer_spec(10, INT64_MAX));
  NetEnvironment env;
  std::string path = dir.file("addr.sock");
  Action *a        = server.listen(unix_options(path));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(NetProcessor::accept_address(a).to_string(), "unix:" + path);
  EXPECT_EQ(NetProcessor::accept_port(a), -1);
  VCTester *srv = nullptr;
  run_transfer(server, *SocketAddress::unix_path(path), transfer_spec(10, INT64_MAX), srv);
  std::lock_guard<std::mutex> g(server._mutex);
  ASSERT_EQ(server.remotes.size(), 1u);
  EXPECT_TRUE(server.remotes[0].is_unnamed()) << server.remotes[0].to_string();
  EXPECT_EQ(server.locals[0].to_string(), "unix:" + path);
}

TEST(UnixSockets, ClientSideSeesThePathItConnectedTo)
{
  TempDir dir;
  std::string path = dir.file("client.sock");
  struct PathRecorder : Continuation {
    PathRecorder() : Continuation(new_ProxyMutex()) { set_handler(&PathRecorder::handle); }
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
  TesterServer server(transfer_spec(0, INT64_MAX));
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
  TesterServer server(transfer_spec(3000, INT64_MAX));
  NetEnvironment env;
  Action *a = server.listen(unix_options("@" + name));
  ASSERT_NE(a, nullptr) << std::strerror(errno);
  EXPECT_EQ(NetProcessor::accept_address(a).to_string(), "unix:@" + name);
  EXPECT_FALSE(exists(name)) << "nothing in the working directory";
  VCTester *srv = nullptr;
  run_transfer(server, *SocketAddress::unix_abstract(name), transfer_spec(5000, INT64_MAX), srv);
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->bytes_read.load(), 5000);
}

TEST(UnixSockets, CancelRemovesTheSocketFileAndStopsListening)
{
  TempDir dir;
  std::string path = dir.file("gone.sock");
  TesterServer server(transfer_spec(0, INT64_MAX));
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
  TesterServer server(transfer_spec(0, INT64_MAX));
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
  TesterServer server(transfer_spec(4, INT64_MAX));
  NetEnvironment env;
  ASSERT_NE(server.listen(unix_options(path)), nullptr) << std::strerror(errno);
  VCTester *srv = nullptr;
  run_transfer(server, at, transfer_spec(4, INT64_MAX), srv);
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
  TesterServer server(transfer_spec(0, INT64_MAX));
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
  TesterServer server(transfer_spec(0, INT64_MAX));
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
  TesterServer server(transfer_spec(0, INT64_MAX));
  NetEnvironment env;
  errno = 0;
  EXPECT_EQ(server.listen(unix_options("/tmp/" + std::string(SocketAddress::kMaxUnixPath, 'x'))), nullptr);
  EXPECT_EQ(errno, ENAMETOOLONG);
}

TEST(UnixSockets, OneSocketSpreadsItsConnectionsOverTheNetThreads)
{
  TempDir dir;
  std::string path = dir.file("spread.sock");
  TesterServer server(transfer_spec(0, INT64_MAX));
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
  TesterServer server(transfer_spec(100, INT64_MAX));
  NetEnvironment env;
  NetProcessor::AcceptOptions opt = unix_options(path);
  opt.accept_threads              = 1;
  ASSERT_NE(server.listen(opt), nullptr);
  VCTester *srv = nullptr;
  run_transfer(server, *SocketAddress::unix_path(path), transfer_spec(100, INT64_MAX), srv);
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->bytes_read.load(), 100);
  server.acceptor.stop();
  EXPECT_FALSE(exists(path));
}

TEST(UnixSockets, ConnectingToNoListenerFails)
{
  TempDir dir;
  NetEnvironment env;
  Opener missing;
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
  TesterServer server(transfer_spec(0, INT64_MAX));
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
  Opener ok;
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
  Opener refused;
  netProcessor.connect_re(&refused, to.sa(), &bound);
  ASSERT_TRUE(refused.done.wait_for(1));
  EXPECT_EQ(refused.result.load(), NET_EVENT_OPEN_FAILED);
  EXPECT_EQ(refused.err.load(), EINVAL);
}
} // namespace
