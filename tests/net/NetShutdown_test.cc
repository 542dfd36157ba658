// Half-close: do_io_shutdown(IO_SHUTDOWN_WRITE) on an echo sends a FIN at once, while the read
// side goes on taking every byte the peer sends after it.
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
TEST(NetShutdown, HalfCloseWriteSendsFinWhileReadingContinues)
{
  EchoServer server;
  server.on_start = [](Echo *e) { e->vc->do_io_shutdown(IO_SHUTDOWN_WRITE); };
  NetEnvironment env;
  auto p = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(p);
  bool eof = false;
  EXPECT_EQ(p->recv_until_eof(&eof), "");
  EXPECT_TRUE(eof) << "the server's FIN arrives";
  // The read side goes on: every byte sent after the FIN arrives in the echo's buffer (which
  // nothing drains now that its write side is shut), in order. Less than the 4 KiB buffer holds.
  const std::string after_fin = pattern(0, 3000, 9);
  ASSERT_TRUE(p->send_all(after_fin.substr(0, 1000)));
  ASSERT_TRUE(p->send_all(after_fin.substr(1000)));
  Echo *e = server.echo(0);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(eventually([&] {
    MutexLock lock(e->mutex, nullptr);
    return e->read_vio->ndone >= static_cast<int64_t>(after_fin.size());
  }));
  MutexLock lock(e->mutex, nullptr);
  EXPECT_EQ(e->read_vio->ndone, static_cast<int64_t>(after_fin.size()));
  std::string got(static_cast<std::size_t>(e->reader->read_avail()), '\0');
  e->reader->read(got.data(), static_cast<int64_t>(got.size()));
  EXPECT_TRUE(got == after_fin) << "read " << got.size() << " bytes, not the ones sent";
  EXPECT_FALSE(e->closed) << "still open: only the write side was shut";
}
} // namespace
