// Echo: a connection end for loopback net tests that writes back every byte it reads and closes on
// EOS, an error or a timeout; EchoServer runs one per accepted connection and keeps them until it
// goes. The echo tests, the accept, queue and migration tests and the adopted-socket tests use them.
#pragma once

#include "iocore/iocore.h"

#include "support/NetTestHarness.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace iocore::test {
/// Echo session: every byte read is written back; closes on EOS / error / timeout.
class Echo : public Continuation
{
public:
  explicit Echo(Ptr<ProxyMutex> m = new_ProxyMutex()) : Continuation(std::move(m)) { set_handler(&Echo::handle); }
  /// Echoes on v at once, under v's own mutex: for the call-back that hands v over (accept, open).
  explicit Echo(NetVConnection *v) : Echo(v->mutex) { start(v); }
  ~Echo() override
  {
    if (buf) {
      free_MIOBuffer(buf);
    }
  }
  void start(NetVConnection *v)
  {
    vc        = v;
    buf       = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
    reader    = buf->alloc_reader();
    write_vio = vc->do_io_write(this, INT64_MAX, reader);
    read_vio  = vc->do_io_read(this, INT64_MAX, buf);
  }
  int handle(int event, void *data)
  {
    (void)data;
    events.notify();
    last_event = event;
    switch (event) {
    case VC_EVENT_READ_READY:
      write_vio->reenable();
      break;
    case VC_EVENT_WRITE_READY:
      read_vio->reenable();
      break;
    case VC_EVENT_EOS:
    case VC_EVENT_ERROR:
    case VC_EVENT_INACTIVITY_TIMEOUT:
    case VC_EVENT_ACTIVE_TIMEOUT:
      if (!closed) {
        closed = true;
        vc->do_io_close();
      }
      break;
    default:
      break;
    }
    return EVENT_DONE;
  }
  NetVConnection *vc     = nullptr;
  MIOBuffer *buf         = nullptr;
  IOBufferReader *reader = nullptr;
  VIO *read_vio          = nullptr;
  VIO *write_vio         = nullptr;
  std::atomic<int> last_event{0};
  bool closed = false;
  EventWaiter events;
};

/// Runs an Echo per accepted connection (each under a mutex of its own); on_start runs after each start.
class EchoServer
{
public:
  EchoServer()
      : acceptor(
            [this](NetVConnection *vc) {
              auto e    = std::make_unique<Echo>();
              Echo *raw = e.get();
              {
                std::lock_guard<std::mutex> g(m);
                echos.push_back(std::move(e));
              }
              MutexLock lock(raw->mutex, this_ethread());
              raw->start(vc);
              on_start(raw);
            },
            false)
  {
  }
  Echo *echo(std::size_t i)
  {
    std::lock_guard<std::mutex> g(m);
    return i < echos.size() ? echos[i].get() : nullptr;
  }
  std::function<void(Echo *)> on_start = [](Echo *) {};
  std::mutex m;
  std::vector<std::unique_ptr<Echo>> echos;
  TestAcceptor acceptor;
};
} // namespace iocore::test
