// TCP Fast Open: data rides in the SYN once the client has a cookie, in a network namespace the test
// makes for itself.
#include "support/FakePoller.h"
#include "support/ManualClock.h"
#include "support/NetTestHarness.h"

#include "net/NetHandler.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <string>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
// Server-side Fast Open needs net.ipv4.tcp_fastopen bit 2, off by default and host-wide; the test
// runs in a child process with a network namespace of its own, where it may set it.

constexpr int kSkip = 77;

bool
write_file(const char *path, const std::string &text)
{
  std::ofstream f(path);
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

/// Enter a new network namespace (with a user namespace when not privileged), bring loopback up
/// and enable Fast Open for clients and servers there. False when the system does not allow it.
bool
enter_private_network_with_fast_open()
{
  if (::unshare(CLONE_NEWNET) != 0) {
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
      return false;
    }
    write_file("/proc/self/setgroups", "deny");
    if (!write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return false;
    }
  }
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool up = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  up = up && ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  ::close(s);
  return up && write_file("/proc/sys/net/ipv4/tcp_fastopen", "3");
}

/// Whether the SYN of the connection on fd carried data that the other side took.
bool
syn_carried_data(int fd)
{
  tcp_info info{};
  socklen_t len = sizeof(info);
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && (info.tcpi_options & TCPI_OPT_SYN_DATA) != 0;
}

/// One client connection with `client_flags`, sending "hello" and half-closing; returns 1 when
/// the server saw the data in the SYN, 0 when not, negative on failure.
int
fast_open_round(TestAcceptor &acceptor, std::atomic<int> &server_syn_data, uint16_t port, uint32_t client_flags)
{
  server_syn_data = -1;
  VCTestSpec spec;
  spec.write_bytes = 5;
  spec.read_nbytes = 0;
  VCTester client(spec);
  NetVCOptions opt;
  opt.sockopt_flags = client_flags;
  IpEndpoint to     = IpEndpoint::loopback(AF_INET, port);
  int accepted      = acceptor.accepted.count();
  {
    MutexLock lock(client.mutex, nullptr);
    netProcessor.connect_re(&client, &to.sa, &opt);
  }
  if (!client.wait_done() || client.bytes_written.load() != 5) {
    return -1;
  }
  if (!acceptor.accepted.wait_for(accepted + 1) || !eventually([&] { return server_syn_data.load() >= 0; })) {
    return -2;
  }
  return server_syn_data.load();
}

[[noreturn]] void
fast_open_child()
{
  if (!enter_private_network_with_fast_open()) {
    _exit(kSkip);
  }
  std::atomic<int> server_syn_data{-1};
  std::vector<std::unique_ptr<VCTester>> servers;
  std::mutex m;
  TestAcceptor acceptor([&](NetVConnection *vc) {
    VCTestSpec spec;
    spec.read_nbytes = INT64_MAX;
    auto t           = std::make_unique<VCTester>(spec);
    t->start(vc);
    std::lock_guard<std::mutex> g(m);
    servers.push_back(std::move(t));
    server_syn_data = syn_carried_data(vc->get_socket()) ? 1 : 0;
  });
  NetEnvironment env(1);
  NetProcessor::AcceptOptions aopt;
  aopt.sockopt_flags = SOCK_OPT_TCP_FAST_OPEN;
  int port           = acceptor.listen(aopt);
  if (port <= 0) {
    _exit(10);
  }
  auto p = static_cast<uint16_t>(port);
  // The first Fast Open connection only fetches the server's cookie; its SYN has no data.
  if (fast_open_round(acceptor, server_syn_data, p, SOCK_OPT_NO_DELAY | SOCK_OPT_TCP_FAST_OPEN) != 0) {
    _exit(11);
  }
  // With the cookie, the data rides in the SYN.
  if (fast_open_round(acceptor, server_syn_data, p, SOCK_OPT_NO_DELAY | SOCK_OPT_TCP_FAST_OPEN) != 1) {
    _exit(12);
  }
  // Off by default: without the flag the same client sends a bare SYN.
  if (fast_open_round(acceptor, server_syn_data, p, SOCK_OPT_NO_DELAY) != 0) {
    _exit(13);
  }
  acceptor.stop();
  _exit(0);
}

TEST(FastOpen, DataRidesInTheSynOnceTheClientHasACookie)
{
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    fast_open_child();
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died: " << status;
  int code = WEXITSTATUS(status);
  if (code == kSkip) {
    GTEST_SKIP() << "no network namespace of our own here (unshare refused)";
  }
  const char *what[] = {"",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "listen failed",
                        "first connection (cookie) carried data or failed",
                        "second connection's SYN carried no data",
                        "a connection without the flag carried data in its SYN"};
  EXPECT_EQ(code, 0) << (code < 14 ? what[code] : "unknown");
}
} // namespace
