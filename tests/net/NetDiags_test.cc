// One connection can be followed in the diagnostics by its id, from accept to close: with the
// iocore_net, accept and socket debug tags on, every step of an echoed connection names it.
#include "support/NetTestHarness.h"
#include "support/Echo.h"

#include "net/UnixNetVConnection.h"

#include <gtest/gtest.h>

#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>
#include <poll.h>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
// With the debug tags on, one connection can be followed by its id from accept to close.
TEST(NetDiags, OneConnectionCanBeFollowedByItsIdFromAcceptToClose)
{
  std::string saved = debug_tags();
  std::FILE *out    = std::tmpfile();
  ASSERT_NE(out, nullptr);
  set_debug_output(out);
  ASSERT_TRUE(set_debug_tags("iocore_net,accept,socket"));
  {
    EchoServer server;
    NetEnvironment env;
    auto p = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
    ASSERT_TRUE(p && round_trip(*p, "follow me"));
    p->close();
    ASSERT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
  }
  (void)set_debug_tags(saved);
  set_debug_output(nullptr);
  std::string log;
  std::rewind(out);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof(buf), out)) {
    log.append(buf, n);
  }
  std::fclose(out);
  std::size_t at = log.find(": accepted on port");
  ASSERT_NE(at, std::string::npos) << log;
  std::size_t vc_at = log.rfind("vc ", at);
  ASSERT_NE(vc_at, std::string::npos);
  std::string who = log.substr(vc_at, at - vc_at) + ": "; // "vc 17: "
  for (const char *step :
       {"read 9 bytes", "wrote 9 of 9 bytes", "VC_EVENT_EOS to the read side", "do_io_close", "freed", "socket "}) {
    EXPECT_NE(log.find(who + step), std::string::npos) << "no '" << who << step << "' in:\n" << log;
  }
}
} // namespace
