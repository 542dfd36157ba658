// Reenabling a connection's read VIO from a thread that is not the connection's own: the test
// thread consumes and reenables under the VIO's lock, and reading goes on to READ_COMPLETE.
#include "net/LingeringClose.h"
#include "support/Session.h"
#include "support/NetTestHarness.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
TEST(NetReenable, ReenableFromAForeignThreadResumesReading)
{
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *data) {
      if (event == NET_EVENT_ACCEPT) {
        s.rbuf     = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
        s.rr       = s.rbuf->alloc_reader();
        s.read_vio = s.vc->do_io_read(&s, 20000, s.rbuf);
        return EVENT_DONE;
      }
      (void)data;
      return EVENT_DONE; // consume nothing here: the test thread does it
    });
  });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(peer->send_all(std::string(20000, 'r')));
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  int64_t total = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (total < 20000 && std::chrono::steady_clock::now() < deadline) {
    int seen = s->got.count();
    {
      MutexLock lock(s->mutex, nullptr);
      int64_t n = s->rr->read_avail();
      s->rr->consume(n);
      total += n;
      s->read_vio->reenable();
    }
    if (total < 20000) {
      (void)s->got.wait_for(seen + 1, 5s);
    }
  }
  EXPECT_EQ(total, 20000);
  EXPECT_TRUE(s->wait_event(VC_EVENT_READ_COMPLETE));
  MutexLock lock(s->mutex, nullptr);
  s->close();
}
} // namespace
