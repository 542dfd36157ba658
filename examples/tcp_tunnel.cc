// tcp_tunnel: a TCP proxy on iocore. Each client connection is joined to a new connection to the
// upstream server; bytes flow both ways through two bounded buffers (flow control by VIO reenables,
// never by buffering without bound), and when one side ends its half of the stream the tunnel passes
// the half-close on to the other side once the bytes before it are through.
//
//   tcp_tunnel PORT UPSTREAM   listen on 127.0.0.1:PORT, tunnel to UPSTREAM ("127.0.0.1:80")
//   tcp_tunnel --self-test     tunnel to an origin of its own that answers in upper case; check a
//                              transfer both ways and a refused upstream, exit 0 if all is well
#include <iocore/iocore.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

using namespace iocore;

namespace {
std::atomic<int> g_tunnels{0};

// The two connections of one tunnel and the two buffers between them. Every VIO of both
// connections calls back this one continuation, under its one mutex, so the handler never runs
// twice at once even if the connections live on different net threads (here the upstream is
// connected from the accepting thread, so they share it, but nothing below relies on that).
class Tunnel : public Continuation
{
public:
  /// Set up the client side and start connecting upstream. Called in the accept call-back.
  static void start(NetVConnection *client, const IpEndpoint &upstream)
  {
    auto *t = new Tunnel(client);
    MutexLock lock(t->mutex, this_ethread());
    // connect_re() may call back (NET_EVENT_OPEN or _FAILED) before it returns, and a failure
    // deletes the tunnel: only if it returns an Action is the tunnel sure to still be there.
    Action *connecting = netProcessor.connect_re(t, &upstream.sa);
    if (connecting != ACTION_RESULT_DONE) {
      t->_connecting = connecting;
    }
  }

private:
  struct Side {
    NetVConnection *vc = nullptr;
    VIO *read          = nullptr;
    VIO *write         = nullptr;
    bool read_ended    = false; ///< the peer sent its FIN (EOS)
    bool write_ended   = false; ///< we sent ours (do_io_shutdown(IO_SHUTDOWN_WRITE))
  };

  explicit Tunnel(NetVConnection *client) : Continuation(new_ProxyMutex())
  {
    ++g_tunnels;
    set_handler(&Tunnel::handle_event);
    MutexLock lock(mutex, this_ethread());
    _client.vc = client;
    _client.vc->set_inactivity_timeout(HRTIME_SECONDS(60));
    // The client may send before the upstream is there: its bytes wait in _to_upstream (and the
    // read stops when that is full).
    _client.read  = _client.vc->do_io_read(this, INT64_MAX, _to_upstream);
    _client.write = _client.vc->do_io_write(this, INT64_MAX, _to_client_reader);
  }

  int handle_event(int event, void *data)
  {
    if (event == NET_EVENT_OPEN) {
      _connecting  = nullptr;
      _upstream.vc = static_cast<NetVConnection *>(data);
      _upstream.vc->set_inactivity_timeout(HRTIME_SECONDS(60));
      _upstream.read  = _upstream.vc->do_io_read(this, INT64_MAX, _to_client);
      _upstream.write = _upstream.vc->do_io_write(this, INT64_MAX, _to_upstream_reader);
      if (_client.read_ended) {
        end_writing(_upstream, _to_upstream_reader); // the client finished before we connected
      }
      return EVENT_CONT;
    }
    if (event == NET_EVENT_OPEN_FAILED) {
      _connecting = nullptr;
      std::fprintf(stderr, "tcp_tunnel: upstream: %s\n", std::strerror(static_cast<int>(-reinterpret_cast<intptr_t>(data))));
      return finish();
    }
    // Every other event comes from a VIO (the VIO is the data): find whose.
    auto *vio     = static_cast<VIO *>(data);
    bool upstream = _upstream.vc != nullptr && (vio == _upstream.read || vio == _upstream.write);
    Side &self    = upstream ? _upstream : _client;
    Side &other   = upstream ? _client : _upstream;
    switch (event) {
    case VC_EVENT_READ_READY: // bytes for the other side
      if (other.vc != nullptr) {
        other.write->reenable();
      }
      return EVENT_CONT;
    case VC_EVENT_WRITE_READY: // bytes went out: room again for the other side's reads
      if (other.vc != nullptr && !other.read_ended) {
        other.read->reenable();
      }
      return EVENT_CONT;
    case VC_EVENT_EOS: // self's peer ended its half: end ours towards other, after the buffered bytes
      self.read_ended = true;
      if (other.vc != nullptr) {
        end_writing(other, upstream ? _to_client_reader : _to_upstream_reader);
      }
      return all_done() ? finish() : EVENT_CONT;
    case VC_EVENT_WRITE_COMPLETE: // the last bytes before a half-close are out
      self.vc->do_io_shutdown(IO_SHUTDOWN_WRITE);
      self.write_ended = true;
      return all_done() ? finish() : EVENT_CONT;
    default: // ERROR, INACTIVITY_TIMEOUT, ACTIVE_TIMEOUT on either side: tear both down
      return finish();
    }
  }

  /// Pass a FIN on to `side` once what `pending` still holds for it is written.
  void end_writing(Side &side, IOBufferReader *pending)
  {
    if (pending->read_avail() == 0) {
      side.vc->do_io_shutdown(IO_SHUTDOWN_WRITE);
      side.write_ended = true;
      return;
    }
    // WRITE_COMPLETE comes when the buffered bytes are out (see the handler).
    side.write->set_nbytes(side.write->ndone + pending->read_avail());
    side.write->reenable();
  }

  bool all_done() const { return _client.read_ended && _upstream.read_ended && _client.write_ended && _upstream.write_ended; }

  int finish()
  {
    if (_connecting != nullptr) {
      _connecting->cancel(); // we hold our mutex: no NET_EVENT_OPEN will follow
    }
    for (Side *s : {&_client, &_upstream}) {
      if (s->vc != nullptr) {
        s->vc->do_io_close();
      }
    }
    free_MIOBuffer(_to_upstream);
    free_MIOBuffer(_to_client);
    --g_tunnels;
    delete this;
    return EVENT_DONE;
  }

  Side _client;
  Side _upstream;
  Action *_connecting                 = nullptr; ///< the connect in progress, to cancel it
  MIOBuffer *_to_upstream             = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
  IOBufferReader *_to_upstream_reader = _to_upstream->alloc_reader();
  MIOBuffer *_to_client               = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
  IOBufferReader *_to_client_reader   = _to_client->alloc_reader();
};

class TunnelAcceptor : public Continuation
{
public:
  explicit TunnelAcceptor(const IpEndpoint &upstream) : Continuation(new_ProxyMutex()), _upstream(upstream)
  {
    set_handler(&TunnelAcceptor::handle_event);
  }

private:
  int handle_event(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) {
      Tunnel::start(static_cast<NetVConnection *>(data), _upstream);
    } else if (event == EVENT_ERROR) {
      std::fprintf(stderr, "tcp_tunnel: listener failed: %s\n", std::strerror(static_cast<int>(-reinterpret_cast<intptr_t>(data))));
    }
    return EVENT_DONE;
  }

  IpEndpoint _upstream;
};

// --- The self-test: an upper-casing origin and a client, both plain blocking sockets ----------------

int
listen_loopback(int *port)
{
  int fd         = ::socket(AF_INET, SOCK_STREAM, 0);
  IpEndpoint any = IpEndpoint::loopback(AF_INET);
  socklen_t len  = sizeof(any.sin4);
  if (::bind(fd, &any.sa, any.size()) != 0 || ::listen(fd, 8) != 0 || ::getsockname(fd, &any.sa, &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = any.port();
  return fd;
}

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

std::string
recv_until_eof(int fd)
{
  std::string got;
  char chunk[16384];
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0;) {
    got.append(chunk, static_cast<std::size_t>(n));
  }
  return got;
}

/// The origin: one connection; read it to the end, answer in upper case, close.
void
serve_upper_case_once(int listen_fd)
{
  int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd < 0) {
    return;
  }
  timeval limit = {10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  std::string text = recv_until_eof(fd);
  for (char &c : text) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  for (std::size_t sent = 0; sent < text.size();) {
    ssize_t n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

/// Through the tunnel: send everything, end our side, read the answer to the end.
std::string
round_trip(int tunnel_port, const std::string &data)
{
  int fd = connect_to(tunnel_port);
  if (fd < 0) {
    return "<no connection>";
  }
  std::thread sender([fd, &data] {
    for (std::size_t sent = 0; sent < data.size();) {
      ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        break;
      }
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
  });
  std::string got = recv_until_eof(fd);
  sender.join();
  ::close(fd);
  return got;
}

bool
wait_for_no_tunnels()
{
  for (int i = 0; i < 1000 && g_tunnels.load() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return g_tunnels.load() == 0;
}
} // namespace

int
main(int argc, char **argv)
{
  bool testing = argc > 1 && std::strcmp(argv[1], "--self-test") == 0;
  if (!testing && argc != 3) {
    std::fprintf(stderr, "usage: tcp_tunnel PORT UPSTREAM_IP:PORT | tcp_tunnel --self-test\n");
    return 2;
  }
  int port        = testing ? 0 : std::atoi(argv[1]);
  int origin_fd   = -1;
  int origin_port = 0;
  IpEndpoint upstream;
  if (testing) {
    origin_fd = listen_loopback(&origin_port);
    upstream  = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(origin_port));
  } else if (auto parsed = IpEndpoint::parse(argv[2])) {
    upstream = *parsed;
  } else {
    std::fprintf(stderr, "tcp_tunnel: bad upstream address %s (want IP:PORT)\n", argv[2]);
    return 2;
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); // before any thread starts: all inherit it

  eventProcessor.start(2);
  netProcessor.start();
  TunnelAcceptor acceptor(upstream);
  NetProcessor::AcceptOptions options;
  options.local_ip   = IpEndpoint::loopback(AF_INET);
  options.local_port = port;
  Action *listener   = netProcessor.accept(&acceptor, options);
  if (listener == nullptr) {
    std::fprintf(stderr, "tcp_tunnel: cannot listen on port %d: %s\n", port, std::strerror(errno));
    return 1;
  }
  port = NetProcessor::accept_port(listener);

  int status = 0;
  if (testing) {
    // 1. A transfer larger than both buffers, each way, ended by half-closes in both directions.
    std::string data(300000, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) {
      data[i] = static_cast<char>('a' + i % 26);
    }
    std::string expected = data;
    for (char &c : expected) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    std::thread origin(serve_upper_case_once, origin_fd);
    bool through = round_trip(port, data) == expected;
    origin.join();
    // 2. Nobody listens upstream any more: the tunnel closes the client's connection.
    ::close(origin_fd);
    bool refused = round_trip(port, "hello?").empty();
    bool ok      = through && refused && wait_for_no_tunnels();
    std::printf("tcp_tunnel self-test: %s (transfer %s, refused upstream %s)\n", ok ? "ok" : "FAILED", through ? "ok" : "failed",
                refused ? "ok" : "failed");
    status = ok ? 0 : 1;
  } else {
    std::printf("tcp_tunnel listening on 127.0.0.1:%d, upstream %s\n", port, upstream.to_string().c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop_signals, &sig);
  }
  listener->cancel();
  eventProcessor.shutdown();
  return status;
}
