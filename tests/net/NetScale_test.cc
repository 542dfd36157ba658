// A thousand concurrent loopback connections, each one echoed (64 bytes each way) and closed, with
// every connection gone from the books at the end.
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
TEST(NetScale, ThousandConcurrentConnectionsEachEchoed)
{
  constexpr int kClients = 1000;
  SessionServer server(
      [] {
        return std::make_unique<Session>([](Session &s, int event, void *) {
          switch (event) {
          case NET_EVENT_ACCEPT:
            s.rbuf      = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
            s.rr        = s.rbuf->alloc_reader();
            s.wr        = s.rbuf->alloc_reader();
            s.read_vio  = s.vc->do_io_read(&s, 64, s.rbuf);
            s.write_vio = s.vc->do_io_write(&s, 64, s.wr);
            break;
          case VC_EVENT_READ_READY:
          case VC_EVENT_READ_COMPLETE:
            s.rr->consume(s.rr->read_avail());
            s.write_vio->reenable();
            break;
          case VC_EVENT_WRITE_COMPLETE:
          case VC_EVENT_EOS:
          case VC_EVENT_ERROR:
          case VC_EVENT_INACTIVITY_TIMEOUT:
            s.close();
            break;
          default:
            break;
          }
          return EVENT_DONE;
        });
      },
      /*serialised=*/false);
  NetEnvironment env;
  int port = server.acceptor.listen();
  std::vector<SocketPeer> peers;
  peers.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    auto p = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(p) << "client " << i;
    peers.push_back(std::move(*p));
  }
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(peers[i].send_all(pattern(0, 64, static_cast<uint8_t>(i))));
  }
  for (int i = 0; i < kClients; ++i) {
    ASSERT_EQ(peers[i].recv_exact(64), pattern(0, 64, static_cast<uint8_t>(i))) << "client " << i;
  }
  for (auto &p : peers) {
    EXPECT_TRUE(p.wait_closed());
  }
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
}
} // namespace
