// Opener: keeps the connection NET_EVENT_OPEN delivers (or the failure) for the test thread to look
// at, and open_to() connects one to a plain listener; the socket-option and Unix-socket tests use them.
#pragma once

#include "iocore/iocore.h"

#include "support/NetTestHarness.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>

namespace iocore::test {
/// Keeps the connection NET_EVENT_OPEN delivers (or the failure) for the test thread to look at.
struct Opener : Continuation {
  Opener() : Continuation(new_ProxyMutex()) { set_handler(&Opener::handle); }
  ~Opener() override { close(); }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_OPEN) {
      vc            = static_cast<NetVConnection *>(data);
      tcp_info info = {};
      socklen_t len = sizeof(info);
      if (::getsockopt(vc->get_socket(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0) {
        state_at_open = info.tcpi_state;
      }
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
  std::atomic<int> state_at_open{-1};
  EventWaiter done;
};

/// Opens a connection to `listener` with `opt` and waits for NET_EVENT_OPEN.
inline void
open_to(Opener &o, const SocketListener &listener, const NetVCOptions &opt = NetVCOptions())
{
  IpEndpoint to = IpEndpoint::loopback(AF_INET, listener.port());
  netProcessor.connect_re(&o, &to.sa, &opt);
  ASSERT_TRUE(o.done.wait_for(1));
}
} // namespace iocore::test
