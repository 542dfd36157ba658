// echo_server: an echo server on iocore. Every byte a client sends comes back; when the client ends
// its side, what is still buffered is sent before the connection closes.
//
//   echo_server [PORT]        serve on 127.0.0.1:PORT (0 or none: the kernel picks) until Ctrl-C
//   echo_server --self-test   serve on a kernel-chosen port, check it with a few clients, exit 0 if
//                             every byte came back (the test suite runs this)
#include <iocore/iocore.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace iocore;

namespace {
std::atomic<int> g_sessions{0}; // sessions alive: the self-test waits for none before it shuts down

// One client connection. The read VIO fills `_buf`; the write VIO drains the same buffer through
// `_reader`, so bytes go back out without a copy. Flow control comes from the buffer: when it is
// full the read stops without an event, and the WRITE_READY that follows each write turns it on again.
class EchoSession : public Continuation
{
public:
  explicit EchoSession(NetVConnection *vc) : Continuation(new_ProxyMutex()), _vc(vc)
  {
    ++g_sessions;
    set_handler(&EchoSession::handle_event);
    // We run inside the accept call-back, on the connection's thread. Take our own lock, which every
    // call-back of this session will hold, before the first do_io: events may start at once.
    MutexLock lock(mutex, this_ethread());
    _vc->set_inactivity_timeout(HRTIME_SECONDS(30));
    _write_vio = _vc->do_io_write(this, INT64_MAX, _reader);
    _read_vio  = _vc->do_io_read(this, INT64_MAX, _buf);
  }

private:
  int handle_event(int event, void *)
  {
    switch (event) {
    case VC_EVENT_READ_READY: // new bytes in the buffer: make sure the write side sends them
      _write_vio->reenable();
      return EVENT_CONT;
    case VC_EVENT_WRITE_READY: // bytes went out: there is room to read again (unless the client ended)
      if (!_client_done) {
        _read_vio->reenable();
      }
      return EVENT_CONT;
    case VC_EVENT_EOS: // the client sends no more: write back what is buffered, then close
      _client_done = true;
      if (_reader->read_avail() == 0) {
        return finish();
      }
      // WRITE_COMPLETE comes once these last bytes are out.
      _write_vio->set_nbytes(_write_vio->ndone + _reader->read_avail());
      _write_vio->reenable();
      return EVENT_CONT;
    default: // WRITE_COMPLETE after EOS; or ERROR, INACTIVITY_TIMEOUT, ACTIVE_TIMEOUT
      return finish();
    }
  }

  int finish()
  {
    // After do_io_close() returns the connection no longer refers to our buffer or to us.
    _vc->do_io_close();
    free_MIOBuffer(_buf);
    --g_sessions;
    delete this;
    return EVENT_DONE;
  }

  NetVConnection *_vc;
  MIOBuffer *_buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
  IOBufferReader *_reader = _buf->alloc_reader();
  VIO *_read_vio          = nullptr;
  VIO *_write_vio         = nullptr;
  bool _client_done       = false;
};

// Runs for every new connection, on that connection's thread.
class EchoAcceptor : public Continuation
{
public:
  EchoAcceptor() : Continuation(new_ProxyMutex()) { set_handler(&EchoAcceptor::handle_event); }

private:
  int handle_event(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) {
      new EchoSession(static_cast<NetVConnection *>(data)); // deletes itself when the connection ends
    } else if (event == EVENT_ERROR) {
      // The listening socket failed for good (data: -errno); it has stopped.
      std::fprintf(stderr, "echo_server: listener failed: %s\n",
                   std::strerror(static_cast<int>(-reinterpret_cast<intptr_t>(data))));
    }
    return EVENT_DONE;
  }
};

// --- The self-test's client: plain blocking sockets with timeouts, on the main thread ---------------

int
connect_to(int port)
{
  int fd         = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval limit  = {10, 0};
  IpEndpoint dst = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(port));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  if (::connect(fd, &dst.sa, dst.size()) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Send `data` (from a second thread, so that both directions flow at once), end our side, and read
// until the server closes. True if exactly `data` came back.
bool
echo_round_trip(int port, const std::string &data)
{
  int fd = connect_to(port);
  if (fd < 0) {
    return false;
  }
  std::thread sender([fd, &data] {
    std::size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        break;
      }
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR); // the server sees EOS
  });
  std::string got;
  char chunk[16384];
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0;) {
    got.append(chunk, static_cast<std::size_t>(n));
  }
  sender.join();
  ::close(fd);
  return got == data;
}

int
self_test(int port)
{
  std::string big(1 << 20, '\0'); // 1 MiB: far more than the 32 KiB buffer, so flow control works
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>('a' + i % 26);
  }
  bool ok = echo_round_trip(port, "hello, iocore\n") && echo_round_trip(port, big) && echo_round_trip(port, "");
  std::vector<std::thread> clients;
  clients.reserve(8);
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] { failures += echo_round_trip(port, std::string(1000 + i * 4096, 'x')) ? 0 : 1; });
  }
  for (auto &c : clients) {
    c.join();
  }
  // Every session closes itself once its client is done; give them a moment to get there.
  for (int i = 0; i < 1000 && g_sessions.load() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ok = ok && failures == 0 && g_sessions.load() == 0;
  std::printf("echo_server self-test: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
} // namespace

int
main(int argc, char **argv)
{
  bool testing = argc > 1 && std::strcmp(argv[1], "--self-test") == 0;
  int port     = argc > 1 && !testing ? std::atoi(argv[1]) : 0;

  // Ctrl-C and SIGTERM are taken with sigwait() below: block them before any thread starts, so
  // every thread inherits the mask and none of them is interrupted.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  eventProcessor.start(2); // two event threads, which are also the net threads
  netProcessor.start();

  EchoAcceptor acceptor;
  NetProcessor::AcceptOptions options;
  options.local_ip   = IpEndpoint::loopback(AF_INET);
  options.local_port = port;
  Action *listener   = netProcessor.accept(&acceptor, options);
  if (listener == nullptr) {
    std::fprintf(stderr, "echo_server: cannot listen on port %d: %s\n", port, std::strerror(errno));
    return 1;
  }
  port = NetProcessor::accept_port(listener);

  int status = 0;
  if (testing) {
    status = self_test(port);
  } else {
    std::printf("echo_server listening on 127.0.0.1:%d\n", port);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop_signals, &sig);
  }
  listener->cancel();
  eventProcessor.shutdown();
  return status;
}
