// Loopback test helpers: the net environment, a deadline-driven socket peer, the test acceptor and
// the NetVCTest-style VCTester.
#include "support/NetTestHarness.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace iocore::test {
using Clock = std::chrono::steady_clock;

NetEnvironment::NetEnvironment(int threads, const std::function<void(NetConfig &)> &configure) : _saved(net_config())
{
  // Timeouts are checked ten times a second in tests, so they fire within 100 ms of their deadline.
  net_config().inactivity_check_frequency = HRTIME_MSECONDS(100);
  if (configure) {
    configure(net_config());
  }
  eventProcessor.start(threads);
  netProcessor.start();
}

NetEnvironment::~NetEnvironment()
{
  eventProcessor.shutdown();
  net_config() = _saved;
}

bool
eventually(const std::function<bool()> &pred, std::chrono::milliseconds deadline)
{
  auto end = Clock::now() + deadline;
  while (!pred()) {
    if (Clock::now() >= end) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

namespace {
  /// Runs once on an event thread, tells the waiter and deletes itself: nothing is left behind
  /// for the test to keep alive, whenever it runs.
  class SettleMarker : public Continuation
  {
  public:
    explicit SettleMarker(std::shared_ptr<EventWaiter> ran) : Continuation(new_ProxyMutex()), _ran(std::move(ran))
    {
      set_handler(&SettleMarker::fire);
    }
    int fire(int, void *)
    {
      _ran->notify();
      delete this;
      return EVENT_DONE;
    }

  private:
    std::shared_ptr<EventWaiter> _ran;
  };
} // namespace

bool
settle(EThread *t, std::chrono::milliseconds deadline)
{
  // Two markers one after the other: the first may run in the iteration under way, the second
  // then runs in one that began after it.
  auto ran = std::make_shared<EventWaiter>();
  for (int i = 1; i <= 2; ++i) {
    t->schedule_imm(new SettleMarker(ran));
    if (!ran->wait_for(i, deadline)) {
      return false;
    }
  }
  return true;
}

std::string
pattern(uint64_t offset, std::size_t n, uint8_t seed)
{
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>(pattern_byte(offset + i, seed));
  }
  return s;
}

// --- SocketPeer ------------------------------------------------------------------------------------

namespace {
  int remaining_ms(Clock::time_point end)
  {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
  }

  bool wait_fd(int fd, short events, Clock::time_point end)
  {
    for (;;) {
      pollfd p{fd, events, 0};
      int r = ::poll(&p, 1, remaining_ms(end));
      if (r > 0) {
        return true;
      }
      if (r == 0 || errno != EINTR) {
        return false;
      }
    }
  }
} // namespace

SocketPeer::~SocketPeer()
{
  close();
}

SocketPeer &
SocketPeer::operator=(SocketPeer &&o) noexcept
{
  if (this != &o) {
    close();
    _fd   = o._fd;
    o._fd = -1;
  }
  return *this;
}

std::optional<SocketPeer>
SocketPeer::connect_to(uint16_t port)
{
  return connect_to(IpEndpoint::loopback(AF_INET, port));
}

std::optional<SocketPeer>
SocketPeer::connect_to(const IpEndpoint &ep)
{
  return connect_to(SocketAddress(ep));
}

std::optional<SocketPeer>
SocketPeer::connect_to(const SocketAddress &addr)
{
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return std::nullopt;
  }
  SocketPeer peer(fd);
  if (::connect(fd, addr.sa(), addr.size()) < 0 && errno != EINPROGRESS) {
    return std::nullopt;
  }
  if (!wait_fd(fd, POLLOUT, Clock::now() + std::chrono::seconds(10))) {
    return std::nullopt;
  }
  int err       = 0;
  socklen_t len = sizeof(err);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    return std::nullopt;
  }
  return peer;
}

bool
SocketPeer::send_all(const std::string &data, std::chrono::milliseconds deadline)
{
  auto end        = Clock::now() + deadline;
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(_fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (!wait_fd(_fd, POLLOUT, end)) {
        return false;
      }
      continue;
    }
    return false;
  }
  return true;
}

std::string
SocketPeer::recv_exact(std::size_t n, std::chrono::milliseconds deadline)
{
  auto end = Clock::now() + deadline;
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    ssize_t r = ::recv(_fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r > 0) {
      out.append(buf, static_cast<std::size_t>(r));
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (!wait_fd(_fd, POLLIN, end)) {
        break;
      }
      continue;
    }
    break;
  }
  return out;
}

std::string
SocketPeer::recv_until_eof(bool *eof, std::chrono::milliseconds deadline)
{
  auto end = Clock::now() + deadline;
  std::string out;
  char buf[65536];
  if (eof) {
    *eof = false;
  }
  for (;;) {
    ssize_t r = ::recv(_fd, buf, sizeof(buf), 0);
    if (r > 0) {
      out.append(buf, static_cast<std::size_t>(r));
      continue;
    }
    if (r == 0) {
      if (eof) {
        *eof = true;
      }
      break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (!wait_fd(_fd, POLLIN, end)) {
        break;
      }
      continue;
    }
    break;
  }
  return out;
}

bool
SocketPeer::wait_closed(std::chrono::milliseconds deadline)
{
  auto end = Clock::now() + deadline;
  char buf[65536];
  for (;;) {
    ssize_t r = ::recv(_fd, buf, sizeof(buf), 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      return true;
    }
    if (r < 0 && !wait_fd(_fd, POLLIN, end)) {
      return false;
    }
  }
}

bool
SocketPeer::wait_acknowledged(std::chrono::milliseconds deadline)
{
  // Nothing signals an acknowledgement to a blocking peer: look at the send queue until it empties.
  return eventually(
      [this] {
        int unacked = 0;
        return ::ioctl(_fd, SIOCOUTQ, &unacked) == 0 && unacked == 0;
      },
      deadline);
}

void
SocketPeer::shutdown_write()
{
  ::shutdown(_fd, SHUT_WR);
}

void
SocketPeer::reset()
{
  if (_fd >= 0) {
    linger l{1, 0};
    ::setsockopt(_fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  close();
}

void
SocketPeer::close()
{
  if (_fd >= 0) {
    ::close(_fd);
    _fd = -1;
  }
}

SocketListener::SocketListener()
{
  _fd           = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, 0);
  EXPECT_EQ(::bind(_fd, &ep.sa, ep.size()), 0) << std::strerror(errno);
  EXPECT_EQ(::listen(_fd, 128), 0) << std::strerror(errno);
  sockaddr_in sin{};
  socklen_t len = sizeof(sin);
  ::getsockname(_fd, reinterpret_cast<sockaddr *>(&sin), &len);
  _port = ntohs(sin.sin_port);
}

SocketListener::~SocketListener()
{
  ::close(_fd);
}

std::optional<SocketPeer>
SocketListener::accept_one(std::chrono::milliseconds deadline)
{
  if (!wait_fd(_fd, POLLIN, Clock::now() + deadline)) {
    return std::nullopt;
  }
  int fd = ::accept4(_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  return SocketPeer(fd);
}

uint16_t
unused_port()
{
  int fd        = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, 0);
  EXPECT_EQ(::bind(fd, &ep.sa, ep.size()), 0) << std::strerror(errno);
  sockaddr_in sin{};
  socklen_t len = sizeof(sin);
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&sin), &len);
  ::close(fd);
  return ntohs(sin.sin_port);
}

// --- TestAcceptor ------------------------------------------------------------------------------------

TestAcceptor::TestAcceptor(OnAccept on_accept, bool serialised)
    : Continuation(serialised ? new_ProxyMutex() : Ptr<ProxyMutex>{}), _on_accept(std::move(on_accept))
{
  set_handler(&TestAcceptor::accept_event);
}

int
TestAcceptor::accept_event(int event, void *data)
{
  if (event == NET_EVENT_ACCEPT) {
    _on_accept(static_cast<NetVConnection *>(data));
    accepted.notify();
  }
  return EVENT_DONE;
}

int
TestAcceptor::listen(NetProcessor::AcceptOptions opt, NetProcessor &processor)
{
  if (!opt.local_ip.is_valid()) {
    opt.local_ip = IpEndpoint::loopback(opt.ip_family);
  }
  action = processor.accept(this, opt);
  return NetProcessor::accept_port(action);
}

void
TestAcceptor::stop()
{
  if (action) {
    action->cancel();
    action = nullptr;
  }
}

// --- VCTester ------------------------------------------------------------------------------------------

VCTester::VCTester(VCTestSpec s) : Continuation(new_ProxyMutex()), spec(s)
{
  set_handler(&VCTester::handle);
}

VCTester::~VCTester()
{
  if (_rbuf) {
    free_MIOBuffer(_rbuf);
  }
  if (_wbuf) {
    free_MIOBuffer(_wbuf);
  }
}

std::vector<int>
VCTester::events() const
{
  std::lock_guard<std::mutex> g(_events_mutex);
  return _events;
}

void
VCTester::record(int event)
{
  EThread *none = nullptr;
  first_thread.compare_exchange_strong(none, this_ethread());
  if (_closed) {
    events_after_close = true;
  }
  std::lock_guard<std::mutex> g(_events_mutex);
  _events.push_back(event);
}

void
VCTester::start(NetVConnection *v)
{
  MutexLock lock(mutex, this_ethread());
  EThread *none = nullptr;
  first_thread.compare_exchange_strong(none, this_ethread());
  vc = v;
  if (spec.read_nbytes > 0) {
    _rbuf = new_MIOBuffer(spec.buffer_index);
    _rbuf->set_water_mark(spec.water_mark);
    _rread    = _rbuf->alloc_reader();
    _read_vio = vc->do_io_read(this, spec.read_nbytes, _rbuf);
  } else {
    read_terminal = -1; // nothing to read
  }
  if (spec.write_bytes > 0) {
    _wbuf = new_MIOBuffer(spec.buffer_index);
    _wbuf->set_water_mark(spec.water_mark);
    _wread = _wbuf->alloc_reader();
    fill_write_buffer();
    _write_vio = vc->do_io_write(this, spec.write_bytes, _wread);
  } else {
    write_terminal = -1;
  }
}

void
VCTester::fill_write_buffer()
{
  // Add up to write_chunk bytes, never more than fits (the bounded buffer is the point).
  int64_t room = std::max<int64_t>(_wbuf->write_avail(), 0);
  int64_t n    = std::min({spec.write_bytes - _queued, spec.write_chunk, room > 0 ? room : int64_t{4096}});
  if (n <= 0) {
    return;
  }
  std::string data = pattern(static_cast<uint64_t>(_queued), static_cast<std::size_t>(n), spec.write_seed);
  _wbuf->write(data.data(), n);
  _queued += n;
}

void
VCTester::drain_read_buffer()
{
  char buf[16384];
  while (int64_t n = _rread->read(buf, sizeof(buf))) {
    int64_t base = bytes_read;
    for (int64_t i = 0; i < n; ++i) {
      if (static_cast<uint8_t>(buf[i]) != pattern_byte(static_cast<uint64_t>(base + i), spec.read_seed)) {
        data_mismatch = true;
      }
    }
    bytes_read += n;
  }
}

void
VCTester::maybe_finish()
{
  if (_closed || read_terminal == 0 || write_terminal == 0) {
    return;
  }
  if (spec.close_in_callback) {
    _closed = true;
    vc->do_io_close();
  }
  done.notify();
}

int
VCTester::handle(int event, void *data)
{
  record(event);
  switch (event) {
  case NET_EVENT_OPEN:
    start(static_cast<NetVConnection *>(data));
    return EVENT_DONE;
  case NET_EVENT_OPEN_FAILED:
    lerrno         = static_cast<int>(-reinterpret_cast<intptr_t>(data));
    read_terminal  = event;
    write_terminal = event;
    done.notify();
    return EVENT_DONE;
  case VC_EVENT_READ_READY:
    drain_read_buffer();
    _read_vio->reenable();
    break;
  case VC_EVENT_READ_COMPLETE:
  case VC_EVENT_EOS:
    drain_read_buffer();
    read_terminal = event;
    break;
  case VC_EVENT_WRITE_READY:
    fill_write_buffer();
    _write_vio->reenable();
    break;
  case VC_EVENT_WRITE_COMPLETE:
    bytes_written  = _write_vio->ndone;
    write_terminal = event;
    if (spec.shutdown_write_when_done) {
      vc->do_io_shutdown(IO_SHUTDOWN_WRITE);
    }
    break;
  case VC_EVENT_ERROR:
  case VC_EVENT_INACTIVITY_TIMEOUT:
  case VC_EVENT_ACTIVE_TIMEOUT:
    lerrno = vc->lerrno;
    if (read_terminal == 0) {
      read_terminal = event;
    }
    if (write_terminal == 0) {
      write_terminal = event;
    }
    break;
  default:
    break;
  }
  maybe_finish();
  return EVENT_DONE;
}

bool
is_open(int fd)
{
  return ::fcntl(fd, F_GETFD) != -1;
}

bool
round_trip(SocketPeer &p, const std::string &msg)
{
  return p.send_all(msg) && p.recv_exact(msg.size()) == msg;
}

SocketPeer
connect_non_reading_peer(int port)
{
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  int small = 16384;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(port));
  EXPECT_EQ(::connect(fd, &ep.sa, ep.size()), 0);
  return SocketPeer(fd);
}

NetProcessor::AcceptOptions
unix_options(const std::string &path)
{
  NetProcessor::AcceptOptions opt;
  opt.ip_family  = AF_UNIX;
  opt.local_path = path;
  return opt;
}

VCTestSpec
transfer_spec(int64_t write_bytes, int64_t read_nbytes, int64_t index, int64_t chunk)
{
  VCTestSpec s;
  s.write_bytes  = write_bytes;
  s.read_nbytes  = read_nbytes;
  s.buffer_index = index;
  s.write_chunk  = chunk;
  return s;
}

void
connect_tls(VCTester &client, int port, const NetVCOptions &opt)
{
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(port));
  MutexLock lock(client.mutex, nullptr);
  sslNetProcessor.connect_re(&client, &ep.sa, &opt);
}
} // namespace iocore::test
