// The write path of a UnixNetVConnection against its state machine's moves: a close from another thread
// while a write waits for the socket, and a VIO handed to another continuation (and mutex) mid-write.
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
// ATS's write path cannot tell that a VC was closed asynchronously. A VC closed from another thread
// while its write is waiting for the socket to drain must be freed by the next write pass, not
// written to.
TEST(NetVC, WriteAfterForeignCloseFreesInsteadOfWriting)
{
  SessionServer server([] {
    return std::make_unique<Session>([](Session &s, int event, void *) {
      if (event == NET_EVENT_ACCEPT) {
        s.wbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
        s.wr   = s.wbuf->alloc_reader();
        std::string chunk(1 << 20, 'w'); // far more than the socket buffers hold
        s.wbuf->write(chunk.data(), static_cast<int64_t>(chunk.size()));
        s.write_vio = s.vc->do_io_write(&s, static_cast<int64_t>(chunk.size()), s.wr);
      }
      return EVENT_DONE;
    });
  });
  // The InactivityCop also frees closed VCs: an hour away here, so the free below is the write
  // path's (or the enable list's), not the cop's.
  NetEnvironment env(2, [](NetConfig &c) { c.inactivity_check_frequency = HRTIME_SECONDS(3600); });
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  Session *s = server.wait_session(0);
  ASSERT_NE(s, nullptr);
  // Wait until the write is stuck on a full socket (nothing more is being written).
  int64_t written = -1;
  ASSERT_TRUE(eventually([&] {
    int64_t before = net_stats_snapshot().write_bytes;
    std::this_thread::sleep_for(20ms);
    return before > 0 && net_stats_snapshot().write_bytes == before;
  }));
  {
    MutexLock lock(s->mutex, nullptr);
    written = s->write_vio->ndone;
    s->close(); // from the test thread: deferred to the connection's thread
  }
  // Freed: the connection is gone from the books and its socket closed, with the peer not reading.
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
  bool eof      = false;
  std::string r = peer->recv_until_eof(&eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(static_cast<int64_t>(r.size()), written) << "no byte may be written after do_io_close";
}

// The state machine may change the VIO's mutex in the write-buffer-empty call-back (ATS's write path
// does not look); the write step must notice and not touch the VIO under the old lock.
TEST(NetVC, MutexChangedInWriteBufferEmptyCallbackIsHonoured)
{
  struct Second : Continuation {
    Second() : Continuation(new_ProxyMutex()) { set_handler(&Second::handle); }
    int handle(int event, void *)
    {
      if (!mutex->is_held_by_current_thread()) {
        wrong_lock = true;
      }
      if (event == VC_EVENT_WRITE_COMPLETE) {
        complete.notify();
      }
      return EVENT_DONE;
    }
    std::atomic<bool> wrong_lock{false};
    EventWaiter complete;
  } second;
  SessionServer server([&second] {
    return std::make_unique<Session>([&second](Session &s, int event, void *) {
      if (event == NET_EVENT_ACCEPT) {
        s.wbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
        s.wr   = s.wbuf->alloc_reader();
        s.wbuf->write("first", 5);
        s.vc->trap_write_buffer_empty(VC_EVENT_WRITE_READY + 1000);
        s.write_vio = s.vc->do_io_write(&s, 10, s.wr);
      } else if (event == VC_EVENT_WRITE_READY + 1000 || event == VC_EVENT_WRITE_READY) {
        // Hand the VIO to another continuation with another mutex, and finish the write.
        if (s.write_vio->get_continuation() == &s) {
          s.write_vio->set_continuation(&second);
          s.wbuf->write("-done", 5);
          MutexLock now_its(second.mutex, this_ethread()); // the VIO's mutex is second's from here on
          s.write_vio->reenable();
        }
      }
      return EVENT_DONE;
    });
  });
  NetEnvironment env;
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->recv_exact(10), "first-done");
  ASSERT_TRUE(second.complete.wait_for(1));
  EXPECT_FALSE(second.wrong_lock) << "the new continuation is called with its own mutex held";
  Session *s = server.wait_session(0);
  MutexLock lock(second.mutex, nullptr);
  s->close();
}
} // namespace
