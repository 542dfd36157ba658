// Out-of-band data: send_OOB on an echoed loopback connection completes (VC_EVENT_OOB_COMPLETE) and
// the peer receives the byte as urgent data.
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
TEST(NetOOB, SendOOBCompletesAndThePeerReceivesUrgentData)
{
  struct OOBSender : Continuation {
    OOBSender() : Continuation(new_ProxyMutex()) { set_handler(&OOBSender::handle); }
    int handle(int event, void *)
    {
      result = event;
      got.notify();
      return EVENT_DONE;
    }
    std::atomic<int> result{0};
    EventWaiter got;
  } sender;
  EchoServer server;
  NetEnvironment env;
  auto p = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(p && round_trip(*p, "x"));
  Echo *e = server.echo(0);
  ASSERT_NE(e, nullptr);
  struct Trigger : Continuation {
    Trigger() : Continuation(new_ProxyMutex()) { set_handler(&Trigger::handle); }
    int handle(int, void *)
    {
      MutexLock lock(sender->mutex, this_ethread());
      char byte = '!';
      vc->send_OOB(sender, &byte, 1);
      return EVENT_DONE;
    }
    NetVConnection *vc   = nullptr;
    Continuation *sender = nullptr;
  } trigger;
  trigger.vc     = e->vc;
  trigger.sender = &sender;
  e->vc->thread->schedule_imm(&trigger);
  ASSERT_TRUE(sender.got.wait_for(1));
  EXPECT_EQ(sender.result.load(), VC_EVENT_OOB_COMPLETE);
  char urgent     = 0;
  bool got_urgent = false;
  for (int i = 0; i < 200 && !got_urgent; ++i) {
    got_urgent = ::recv(p->fd(), &urgent, 1, MSG_OOB) == 1;
    if (!got_urgent) {
      ::poll(nullptr, 0, 10);
    }
  }
  EXPECT_TRUE(got_urgent);
  EXPECT_EQ(urgent, '!');
}
} // namespace
