// Loopback tests of the zero-copy tunnel: SpliceTunnel between two accepted
// connections on one net thread, driven by two plain socket peers (bytes intact at the sizes around
// the pipe's capacity, backpressure, half-closes, resets, the inactivity timeout, closing mid-flow).
#include "support/NetTestHarness.h"
#include "support/TestCerts.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

using namespace iocore;
using namespace iocore::test;
using namespace std::chrono_literals;

namespace {
constexpr int64_t kPipeCapacity = 65536;
/// Private event of the rig: run `on_thread` on the connections' thread under the rig's mutex.
constexpr int kEventRun = EVENT_USER_BASE + 1;

/// Bytes waiting in a socket's receive queue.
int64_t
receive_queue(int fd)
{
  int n = 0;
  return ::ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

/// A peer connected to port whose receive buffer is set before connecting (so the window it
/// offers stays small).
std::optional<SocketPeer>
connect_with_small_receive_buffer(uint16_t port, int bytes)
{
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return std::nullopt;
  }
  SocketPeer peer(fd);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, port);
  if (::connect(fd, &ep.sa, ep.size()) < 0) {
    return std::nullopt;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return peer;
}

uint16_t
local_port(int fd)
{
  sockaddr_in sin{};
  socklen_t len = sizeof(sin);
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&sin), &len);
  return ntohs(sin.sin_port);
}

/// Accepts the two connections of peers A and B and joins them with a SpliceTunnel; records how it
/// ended. Everything on the net thread runs under the acceptor's mutex, which the tunnel shares.
class SpliceRig : public Continuation
{
public:
  struct Snapshot {
    SpliceTunnel::Counts ab;
    SpliceTunnel::Counts ba;
    int64_t in_pipe_ab = 0;
    int64_t in_pipe_ba = 0;
  };

  explicit SpliceRig(int64_t capacity = kPipeCapacity, ink_hrtime inactivity = HRTIME_SECONDS(60))
      : _acceptor([this](NetVConnection *vc) { on_accept(vc); }), _capacity(capacity), _inactivity(inactivity)
  {
    mutex = _acceptor.mutex;
    set_handler(&SpliceRig::handle);
  }

  ~SpliceRig() override
  {
    _acceptor.stop();
    close_now();
    delete _tunnel;
  }

  /// Listen, connect A then B (B with a small receive buffer when asked) and start the tunnel.
  ::testing::AssertionResult connect(int b_receive_buffer = 0)
  {
    uint16_t port = static_cast<uint16_t>(_acceptor.listen());
    a             = SocketPeer::connect_to(port);
    b             = b_receive_buffer > 0 ? connect_with_small_receive_buffer(port, b_receive_buffer) : SocketPeer::connect_to(port);
    if (!a || !b) {
      return ::testing::AssertionFailure() << "peers could not connect";
    }
    if (!_acceptor.accepted.wait_for(2)) {
      return ::testing::AssertionFailure() << "the connections were not accepted";
    }
    uint16_t a_port = local_port(a->fd());
    int result      = 1;
    run([&] {
      if (_vcs[0]->get_remote_port() != a_port) {
        std::swap(_vcs[0], _vcs[1]);
      }
      a_fd.store(_vcs[0]->get_socket());
      b_fd.store(_vcs[1]->get_socket());
      _tunnel = new SpliceTunnel(this, _capacity);
      result  = _tunnel->start(_vcs[0], _vcs[1]);
    });
    if (result != 0) {
      return ::testing::AssertionFailure() << "SpliceTunnel::start: " << std::strerror(-result);
    }
    return ::testing::AssertionSuccess();
  }

  /// Stop the tunnel and close both connections, on their thread, whatever is under way.
  void close_now()
  {
    run([this] {
      if (_tunnel != nullptr && _tunnel->end() == SpliceTunnel::End::kRunning) {
        _tunnel->stop();
      }
      close_connections();
    });
  }

  /// Run f on the connections' thread under the rig's mutex and wait for it.
  void run(std::function<void()> f)
  {
    EThread *t = _thread.load();
    if (t == nullptr) {
      f();
      return;
    }
    int before = _ran.count();
    {
      std::lock_guard<std::mutex> g(_run_mutex);
      _on_thread = std::move(f);
    }
    t->schedule_imm(this, kEventRun);
    EXPECT_TRUE(_ran.wait_for(before + 1));
  }

  Snapshot snapshot()
  {
    Snapshot s;
    run([&] {
      if (_tunnel != nullptr) {
        s.ab         = _tunnel->a_to_b();
        s.ba         = _tunnel->b_to_a();
        s.in_pipe_ab = _tunnel->in_pipe_a_to_b();
        s.in_pipe_ba = _tunnel->in_pipe_b_to_a();
      }
    });
    return s;
  }

  bool wait_done(std::chrono::milliseconds d = 30s) { return done.wait_for(1, d); }

  std::optional<SocketPeer> a;
  std::optional<SocketPeer> b;
  EventWaiter done;
  std::atomic<int> a_fd{-1}; ///< the library's socket of A's connection
  std::atomic<int> b_fd{-1};
  // Filled in at SPLICE_TUNNEL_EVENT_DONE.
  std::atomic<SpliceTunnel::End> end{SpliceTunnel::End::kRunning};
  std::atomic<int64_t> ab_read{-1}, ab_written{-1}, ba_read{-1}, ba_written{-1};
  std::atomic<bool> failed_side_is_a{false};
  std::atomic<int> failed_errno{0};
  std::atomic<int> timeout_event{0};
  std::atomic<std::chrono::steady_clock::time_point::rep> done_at{0};

private:
  void on_accept(NetVConnection *vc)
  {
    // Under the acceptor's mutex (serialised), which is this rig's.
    vc->set_inactivity_timeout(_inactivity);
    _vcs[_vcs[0] == nullptr ? 0 : 1] = vc;
    _thread.store(vc->thread);
  }

  int handle(int event, void *data)
  {
    if (event == kEventRun) {
      std::function<void()> f;
      {
        std::lock_guard<std::mutex> g(_run_mutex);
        f = std::move(_on_thread);
      }
      f();
      _ran.notify();
      return EVENT_DONE;
    }
    if (event == SPLICE_TUNNEL_EVENT_DONE) {
      auto *t = static_cast<SpliceTunnel *>(data);
      ab_read.store(t->a_to_b().read);
      ab_written.store(t->a_to_b().written);
      ba_read.store(t->b_to_a().read);
      ba_written.store(t->b_to_a().written);
      failed_side_is_a.store(t->failed_side() == _vcs[0]);
      failed_errno.store(t->failed_errno());
      timeout_event.store(t->timeout_event());
      done_at.store(std::chrono::steady_clock::now().time_since_epoch().count());
      end.store(t->end());
      close_connections();
      done.notify();
    }
    return EVENT_DONE;
  }

  void close_connections()
  {
    for (NetVConnection *&vc : _vcs) {
      if (vc != nullptr) {
        vc->do_io_close();
        vc = nullptr;
      }
    }
  }

  TestAcceptor _acceptor;
  int64_t _capacity;
  ink_hrtime _inactivity;
  NetVConnection *_vcs[2] = {nullptr, nullptr}; ///< A's then B's (once the tunnel started)
  SpliceTunnel *_tunnel   = nullptr;
  std::atomic<EThread *> _thread{nullptr};
  std::mutex _run_mutex;
  std::function<void()> _on_thread;
  EventWaiter _ran;
};

/// Send `n` pattern bytes from `peer` in a thread, then half-close; joinable.
std::thread
send_in_thread(SocketPeer &peer, int64_t n, uint8_t seed, std::atomic<bool> &ok, bool shut = true)
{
  return std::thread([&peer, n, seed, &ok, shut] {
    constexpr int64_t kChunk = int64_t{256} * 1024;
    bool good                = true;
    for (int64_t off = 0; good && off < n; off += kChunk) {
      int64_t len = std::min(kChunk, n - off);
      good        = peer.send_all(pattern(static_cast<uint64_t>(off), static_cast<std::size_t>(len), seed), 30s);
    }
    if (good && shut) {
      peer.shutdown_write();
    }
    ok.store(good);
  });
}

bool
is_pattern(const std::string &got, uint8_t seed)
{
  return got == pattern(0, got.size(), seed);
}
} // namespace

// Every size around the pipe's capacity, and several MiB, both ways at once; each side half-closes
// after its bytes, so the tunnel ends by EOF with both counts equal to what was sent.
TEST(SpliceTunnel, BytesArriveIntactBothWaysAtEverySize)
{
  for (int64_t n : {int64_t{0}, int64_t{1}, kPipeCapacity - 1, kPipeCapacity, kPipeCapacity + 1, int64_t{6} << 20}) {
    NetEnvironment env(1);
    SpliceRig rig;
    ASSERT_TRUE(rig.connect());
    std::atomic<bool> a_sent{false}, b_sent{false};
    std::thread ta = send_in_thread(*rig.a, n, 1, a_sent);
    std::thread tb = send_in_thread(*rig.b, n, 2, b_sent);
    std::string at_b, at_a;
    bool b_eof = false, a_eof = false;
    std::thread rb([&] { at_b = rig.b->recv_until_eof(&b_eof, 60s); });
    at_a = rig.a->recv_until_eof(&a_eof, 60s);
    rb.join();
    ta.join();
    tb.join();
    ASSERT_TRUE(a_sent && b_sent) << n;
    EXPECT_TRUE(a_eof && b_eof) << n << ": the half-close was passed on";
    EXPECT_EQ(static_cast<int64_t>(at_b.size()), n);
    EXPECT_EQ(static_cast<int64_t>(at_a.size()), n);
    EXPECT_TRUE(is_pattern(at_b, 1)) << n << ": a -> b bytes differ";
    EXPECT_TRUE(is_pattern(at_a, 2)) << n << ": b -> a bytes differ";
    ASSERT_TRUE(rig.wait_done()) << n;
    EXPECT_EQ(rig.end.load(), SpliceTunnel::End::kEof);
    EXPECT_EQ(rig.ab_read.load(), n);
    EXPECT_EQ(rig.ab_written.load(), n);
    EXPECT_EQ(rig.ba_read.load(), n);
    EXPECT_EQ(rig.ba_written.load(), n);
  }
}

// A destination that takes nothing stops the source being read: the pipe holds at most its
// capacity, the rest waits in the source's socket; once the destination reads again, everything
// arrives.
TEST(SpliceTunnel, AStalledDestinationStopsTheSourceThenResumes)
{
  constexpr int64_t kBytes = 4 << 20;
  NetEnvironment env(1);
  SpliceRig rig;
  // Bounded kernel buffers on the way (B's receive, the library's send to B, the library's receive
  // from A, A's send), so that little hides in kernel queues and A cannot get all of it out. None
  // of the receive buffers is below loopback's MSS (64 KiB): a window smaller than one segment
  // leaves the sender to zero-window probes, which back off to seconds.
  ASSERT_TRUE(rig.connect(65536));
  int small = 4096;
  ASSERT_EQ(::setsockopt(rig.b_fd.load(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  int medium = 65536;
  ASSERT_EQ(::setsockopt(rig.a_fd.load(), SOL_SOCKET, SO_RCVBUF, &medium, sizeof(medium)), 0);
  ASSERT_EQ(::setsockopt(rig.a->fd(), SOL_SOCKET, SO_SNDBUF, &medium, sizeof(medium)), 0);

  std::atomic<bool> a_sent{false};
  std::thread ta = send_in_thread(*rig.a, kBytes, 5, a_sent);
  // Stalled: the source's socket holds bytes, and a whole net-thread pass later the tunnel has
  // read no more of them.
  SpliceRig::Snapshot before;
  SpliceRig::Snapshot after;
  bool stalled = eventually(
      [&] {
        before = rig.snapshot();
        if (receive_queue(rig.a_fd.load()) <= 0) {
          return false;
        }
        after = rig.snapshot();
        return after.ab.read == before.ab.read && receive_queue(rig.a_fd.load()) > 0;
      },
      20s);
  ASSERT_TRUE(stalled) << "read " << after.ab.read << ", written " << after.ab.written;
  EXPECT_LT(after.ab.read, kBytes);
  EXPECT_LE(after.in_pipe_ab, kPipeCapacity);
  EXPECT_EQ(after.ab.read - after.ab.written, after.in_pipe_ab) << "the pipe is the only buffer";
  EXPECT_FALSE(a_sent.load()) << "the sender is held back";

  // The destination reads again: the rest flows.
  bool b_eof     = false;
  std::string at = rig.b->recv_until_eof(&b_eof, 60s);
  ta.join();
  ASSERT_TRUE(a_sent.load());
  EXPECT_TRUE(b_eof);
  EXPECT_EQ(static_cast<int64_t>(at.size()), kBytes);
  EXPECT_TRUE(is_pattern(at, 5));
  rig.b->shutdown_write();
  ASSERT_TRUE(rig.wait_done());
  EXPECT_EQ(rig.end.load(), SpliceTunnel::End::kEof);
  EXPECT_EQ(rig.ab_written.load(), kBytes);
}

// A half-close goes through after the bytes before it, while the other direction keeps working;
// both orders.
TEST(SpliceTunnel, HalfCloseIsPassedOnEachWay)
{
  for (bool a_first : {true, false}) {
    NetEnvironment env(1);
    SpliceRig rig;
    ASSERT_TRUE(rig.connect());
    SocketPeer &first  = a_first ? *rig.a : *rig.b;
    SocketPeer &second = a_first ? *rig.b : *rig.a;
    ASSERT_TRUE(first.send_all(pattern(0, 100000, 7)));
    first.shutdown_write();
    bool eof      = false;
    std::string x = second.recv_until_eof(&eof);
    EXPECT_TRUE(eof) << "a_first " << a_first;
    EXPECT_EQ(x.size(), 100000u);
    EXPECT_TRUE(is_pattern(x, 7));
    EXPECT_FALSE(rig.done.count()) << "the other direction is still open";
    // The other way still works after the half-close.
    ASSERT_TRUE(second.send_all(pattern(0, 70000, 8)));
    EXPECT_EQ(first.recv_exact(70000), pattern(0, 70000, 8));
    second.shutdown_write();
    std::string rest = first.recv_until_eof(&eof);
    EXPECT_TRUE(eof);
    EXPECT_TRUE(rest.empty());
    ASSERT_TRUE(rig.wait_done());
    EXPECT_EQ(rig.end.load(), SpliceTunnel::End::kEof);
  }
}

// A reset after data: everything the source sent before it is still forwarded, then the destination
// is half-closed; the tunnel ends with the error of the side that reset.
TEST(SpliceTunnel, BytesSentBeforeAResetAreForwarded)
{
  constexpr int64_t kBytes = 300000;
  NetEnvironment env(1);
  SpliceRig rig;
  ASSERT_TRUE(rig.connect());
  bool eof = false;
  std::string at_b;
  std::thread rb([&] { at_b = rig.b->recv_until_eof(&eof, 30s); });
  ASSERT_TRUE(rig.a->send_all(pattern(0, kBytes, 9)));
  ASSERT_TRUE(rig.a->wait_acknowledged()); // all of it is in the library's socket now
  rig.a->reset();
  rb.join();
  EXPECT_TRUE(eof);
  EXPECT_EQ(static_cast<int64_t>(at_b.size()), kBytes);
  EXPECT_TRUE(is_pattern(at_b, 9));
  ASSERT_TRUE(rig.wait_done());
  EXPECT_EQ(rig.end.load(), SpliceTunnel::End::kError);
  EXPECT_TRUE(rig.failed_side_is_a.load());
  EXPECT_EQ(rig.failed_errno.load(), ECONNRESET);
  EXPECT_EQ(rig.ab_written.load(), kBytes);
}

// An idle spliced tunnel times out; progress through the tunnel counts as activity.
TEST(SpliceTunnel, InactivityTimeoutFiresOnAnIdleTunnelAndProgressPostponesIt)
{
  constexpr auto kTimeout = 1s;
  NetEnvironment env(1);
  SpliceRig rig(kPipeCapacity, HRTIME_SECONDS(1));
  ASSERT_TRUE(rig.connect());
  // Traffic every 200 ms for twice the timeout: no timeout meanwhile.
  auto busy_until = std::chrono::steady_clock::now() + 2 * kTimeout;
  uint64_t off    = 0;
  while (std::chrono::steady_clock::now() < busy_until) {
    ASSERT_TRUE(rig.a->send_all(pattern(off, 1000, 4)));
    ASSERT_EQ(rig.b->recv_exact(1000), pattern(off, 1000, 4));
    off += 1000;
    ASSERT_FALSE(rig.done.wait_for(1, 200ms)) << "timed out while bytes were moving";
  }
  auto idle_from = std::chrono::steady_clock::now();
  ASSERT_TRUE(rig.wait_done(3 * kTimeout + 10s));
  EXPECT_EQ(rig.end.load(), SpliceTunnel::End::kTimeout);
  EXPECT_EQ(rig.timeout_event.load(), VC_EVENT_INACTIVITY_TIMEOUT);
  auto done_at = std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(rig.done_at.load()));
  EXPECT_LE(done_at - idle_from, 3 * kTimeout + 1s);
  EXPECT_EQ(rig.ab_written.load(), static_cast<int64_t>(off));
  EXPECT_TRUE(rig.a->wait_closed());
  EXPECT_TRUE(rig.b->wait_closed());
}

// Stopping the tunnel and closing both connections while both pipes hold bytes and splices are
// pending: both peers see the close, and nothing is left open.
TEST(SpliceTunnel, CloseWhileSpliceIoIsPending)
{
  NetEnvironment env(1);
  int64_t open_before = net_stats_snapshot().connections_currently_open;
  {
    SpliceRig rig;
    ASSERT_TRUE(rig.connect(4096));
    std::atomic<bool> a_sent{false};
    std::thread ta = send_in_thread(*rig.a, 8 << 20, 1, a_sent, false);
    // Bytes in flight both ways: B reads nothing, so a -> b backs up into its pipe.
    ASSERT_TRUE(rig.b->send_all(pattern(0, 1000, 2)));
    ASSERT_TRUE(eventually([&] { return rig.snapshot().in_pipe_ab > 0; }));
    rig.close_now();
    ta.join(); // A's sender ends once its connection is gone (its last bytes are read away)
    EXPECT_TRUE(rig.b->wait_closed());
    EXPECT_EQ(rig.done.count(), 0) << "a stopped tunnel sends no event";
  }
  EXPECT_TRUE(eventually([&] { return net_stats_snapshot().connections_currently_open == open_before; }));
}

// A TLS connection's bytes are encrypted: it cannot splice, says so, and a tunnel with it refuses to
// start (the caller then uses buffers).
TEST(SpliceTunnel, ATlsConnectionCannotSplice)
{
  NetEnvironment env(1);
  TestPKI pki;
  TestPKI::Leaf leaf = pki.issue("localhost", {"IP:127.0.0.1"});
  TLSServerConfig cfg;
  cfg.certificates.push_back({leaf.cert_file, leaf.key_file, {}});
  std::string error;
  auto ctx = TLSServerContext::create(cfg, &error);
  ASSERT_TRUE(ctx) << error;
  std::atomic<bool> can_splice{true};
  std::atomic<bool> read_refused{false};
  std::atomic<int> start_result{0};
  Continuation sink(new_ProxyMutex()); // never called: both calls refuse before any event
  TestAcceptor acceptor([&](NetVConnection *vc) {
    can_splice = vc->can_splice();
    SplicePipe pipe;
    EXPECT_EQ(pipe.open(4096), 0);
    read_refused = vc->do_io_read_splice(&sink, INT64_MAX, &pipe) == nullptr && vc->lerrno == ENOTSUP;
    SpliceTunnel tunnel(&sink, 4096);
    start_result = tunnel.start(vc, vc);
    vc->do_io_close();
  });
  NetProcessor::AcceptOptions opt;
  opt.tls_context = ctx;
  int port        = acceptor.listen(opt, sslNetProcessor);
  auto peer       = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(acceptor.accepted.wait_for(1));
  EXPECT_FALSE(can_splice.load());
  EXPECT_TRUE(read_refused.load());
  EXPECT_EQ(start_result.load(), -ENOTSUP);
  acceptor.stop();
}
