// Accept modes, load shedding (EMFILE, max_connections_in), the keep-alive and active queues,
// migration between net threads, and out-of-band data.
#include "support/NetTestHarness.h"

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
/// Echo session: every byte read is written back; closes on EOS / error / timeout.
class Echo : public Continuation
{
public:
  explicit Echo(Ptr<ProxyMutex> m = new_ProxyMutex()) : Continuation(std::move(m)) { set_handler(&Echo::handle); }
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

bool
round_trip(SocketPeer &p, const std::string &msg)
{
  return p.send_all(msg) && p.recv_exact(msg.size()) == msg;
}

TEST(NetAccept, PortZeroBindsAnEphemeralPortThatAcceptPortReports)
{
  EchoServer server;
  NetEnvironment env;
  int port = server.acceptor.listen();
  ASSERT_GT(port, 0);
  auto p = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(p);
  EXPECT_TRUE(round_trip(*p, "ping"));
  EXPECT_EQ(NetProcessor::accept_port(nullptr), -1);
}

TEST(NetAccept, DedicatedAcceptThreadsHandConnectionsToNetThreads)
{
  EchoServer server;
  NetEnvironment env;
  NetProcessor::AcceptOptions opt;
  opt.accept_threads = 2;
  int port           = server.acceptor.listen(opt);
  ASSERT_GT(port, 0);
  std::vector<SocketPeer> peers;
  for (int i = 0; i < 20; ++i) {
    auto p = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(p);
    peers.push_back(std::move(*p));
  }
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(round_trip(peers[i], pattern(0, 1000, static_cast<uint8_t>(i))));
  }
  std::set<EThread *> threads;
  for (int i = 0; i < 20; ++i) {
    Echo *e = server.echo(static_cast<std::size_t>(i));
    ASSERT_NE(e, nullptr);
    threads.insert(e->vc->thread);
  }
  EXPECT_EQ(threads.size(), 2u) << "round-robin over both net threads";
}

TEST(NetAccept, CancelStopsListening)
{
  EchoServer server;
  NetEnvironment env;
  int port = server.acceptor.listen();
  ASSERT_TRUE(SocketPeer::connect_to(static_cast<uint16_t>(port)));
  ASSERT_TRUE(server.acceptor.accepted.wait_for(1));
  server.acceptor.stop();
  // Once both net threads have closed their sockets, connects are refused.
  bool refused = eventually([&] { return !SocketPeer::connect_to(static_cast<uint16_t>(port)).has_value(); });
  EXPECT_TRUE(refused);
}

/// The listening sockets of this process bound to `port` (found through /proc/self/fd).
std::vector<int>
listening_sockets_on(int port)
{
  std::vector<int> out;
  for (int fd = 0; fd < 4096; ++fd) {
    int listening = 0;
    socklen_t len = sizeof(listening);
    sockaddr_storage ss{};
    socklen_t slen = sizeof(ss);
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening != 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &slen) == 0) {
      IpEndpoint ep;
      ep.assign(reinterpret_cast<sockaddr *>(&ss));
      if (ep.port() == port) {
        out.push_back(fd);
      }
    }
  }
  return out;
}

/// An acceptor that records what it is told besides connections (which it closes).
class RecordingAcceptor : public Continuation
{
public:
  RecordingAcceptor() : Continuation(new_ProxyMutex()) { set_handler(&RecordingAcceptor::handle); }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) {
      static_cast<NetVConnection *>(data)->do_io_close();
    } else {
      std::lock_guard<std::mutex> g(m);
      others.emplace_back(event, reinterpret_cast<intptr_t>(data));
    }
    told.notify();
    return EVENT_DONE;
  }
  std::vector<std::pair<int, intptr_t>> snapshot()
  {
    std::lock_guard<std::mutex> g(m);
    return others;
  }
  std::mutex m;
  std::vector<std::pair<int, intptr_t>> others;
  EventWaiter told;
};

// A listening socket that breaks for good (here: shut down under the listener, so accept() says
// EINVAL) is reported to the acceptor once, as EVENT_ERROR with -errno, and the listener stops
// instead of retrying for ever. Both accept modes.
TEST(NetAccept, AListenerWhoseAcceptFailsForGoodTellsTheAcceptorOnceAndStops)
{
  for (int accept_threads : {0, 1}) {
    SCOPED_TRACE(accept_threads == 0 ? "per-thread accept" : "dedicated accept thread");
    RecordingAcceptor acceptor;
    NetEnvironment env;
    NetProcessor::AcceptOptions opt;
    opt.local_ip       = IpEndpoint::loopback(AF_INET);
    opt.accept_threads = accept_threads;
    Action *listener;
    {
      MutexLock lock(acceptor.mutex, nullptr);
      listener = netProcessor.accept(&acceptor, opt);
    }
    ASSERT_NE(listener, nullptr);
    int port             = NetProcessor::accept_port(listener);
    int64_t errors_was   = net_stats_snapshot().accept_errors;
    std::vector<int> fds = listening_sockets_on(port);
    ASSERT_FALSE(fds.empty());
    for (int fd : fds) {
      ::shutdown(fd, SHUT_RDWR);
    }
    ASSERT_TRUE(acceptor.told.wait_until([&] { return !acceptor.snapshot().empty(); }));
    // Stopped, not retrying: a listener that retried would have called accept() again (and
    // counted another error) within its 50 ms pause. Wait for timers set well after that.
    EventWaiter later;
    struct Marker : Continuation {
      EventWaiter &w;
      explicit Marker(EventWaiter &ew) : Continuation(new_ProxyMutex()), w(ew) { set_handler(&Marker::fire); }
      int fire(int, void *)
      {
        w.notify();
        return EVENT_DONE;
      }
    };
    std::vector<std::unique_ptr<Marker>> markers;
    std::mutex markers_m;
    eventProcessor.run_on_each_thread(ET_NET, [&](EThread *t) {
      std::lock_guard<std::mutex> g(markers_m);
      markers.push_back(std::make_unique<Marker>(later));
      t->schedule_in_local(markers.back().get(), HRTIME_MSECONDS(300));
    });
    ASSERT_TRUE(later.wait_for(eventProcessor.n_threads_for_type(ET_NET)));
    auto told = acceptor.snapshot();
    ASSERT_EQ(told.size(), 1u);
    EXPECT_EQ(told[0].first, EVENT_ERROR);
    EXPECT_EQ(told[0].second, -EINVAL);
    EXPECT_EQ(net_stats_snapshot().accept_errors, errors_was + 1);
    MutexLock lock(acceptor.mutex, nullptr);
    listener->cancel(); // still allowed, and harmless
  }
}

TEST(NetAccept, MaxConnectionsInLeavesNewConnectionsInTheKernelQueue)
{
  EchoServer server;
  NetEnvironment env(2, [](NetConfig &c) { c.max_connections_in = 2; });
  int port = server.acceptor.listen();
  auto a   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  auto b   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(round_trip(*a, "a"));
  ASSERT_TRUE(round_trip(*b, "b"));
  auto c = SocketPeer::connect_to(static_cast<uint16_t>(port)); // completes in the kernel
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_all("c"));
  EXPECT_EQ(c->recv_exact(1, 500ms), "") << "a third connection is not served while two are open";
  a->close();
  EXPECT_EQ(c->recv_exact(1, 10s), "c") << "served once room frees";
}

[[noreturn]] void
run_out_of_descriptors_child()
{
  rlimit rl{64, 64};
  setrlimit(RLIMIT_NOFILE, &rl);
  EchoServer server;
  NetEnvironment env(1);
  int port   = server.acceptor.listen();
  auto first = SocketPeer::connect_to(static_cast<uint16_t>(port));
  if (!first || !round_trip(*first, "1")) {
    _exit(10);
  }
  std::vector<int> hogs;
  for (;;) {
    int fd = ::dup(0);
    if (fd < 0) {
      break;
    }
    hogs.push_back(fd);
  }
  // Free one descriptor: the client side of a new connection takes it, the server side finds none.
  ::close(hogs.back());
  hogs.pop_back();
  auto second = SocketPeer::connect_to(static_cast<uint16_t>(port));
  if (!second) {
    _exit(11);
  }
  if (!eventually([] { return net_stats_snapshot().accept_errors > 0; }, 10s)) {
    _exit(12);
  }
  if (!round_trip(*first, "still served")) {
    _exit(13);
  }
  for (int fd : hogs) {
    ::close(fd);
  }
  if (!second->send_all("2") || second->recv_exact(1, 10s) != "2") {
    _exit(14);
  }
  _exit(0);
}

TEST(NetAccept, RunningOutOfDescriptorsPausesAcceptingAndRecovers)
{
  // In a child process (its own RLIMIT_NOFILE): fill the table, see accept fail and pause, free
  // descriptors, see accepting resume while an established connection keeps being served.
  EXPECT_EXIT(run_out_of_descriptors_child(), ::testing::ExitedWithCode(0), "");
}

TEST(NetQueues, KeepAliveQueueEvictsTheOldestFirst)
{
  EchoServer server;
  server.on_start = [](Echo *e) { e->vc->add_to_keep_alive_queue(); };
  // One net thread and room for two connections: a third arriving pushes the oldest idle one out.
  NetEnvironment env(1, [](NetConfig &c) { c.max_connections_in = 2; });
  int port = server.acceptor.listen();
  auto a   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a && round_trip(*a, "a"));
  auto b = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(b && round_trip(*b, "b"));
  auto c = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(c && round_trip(*c, "c"));
  EXPECT_TRUE(a->wait_closed()) << "the oldest keep-alive connection is closed first";
  EXPECT_TRUE(round_trip(*b, "b2"));
  EXPECT_TRUE(round_trip(*c, "c2"));
  EXPECT_EQ(net_stats_snapshot().keep_alive_evictions, 1);
}

// ATS keeps a keep-alive victim whose lock is busy in the queue; it must not leave the queue
// untold (it would then never be evicted, nor closed by the keep-alive timeout).
TEST(NetQueues, AKeepAliveVictimWhoseLockIsBusyStaysQueued)
{
  EchoServer server;
  server.on_start = [](Echo *e) { e->vc->add_to_keep_alive_queue(); };
  NetEnvironment env(1, [](NetConfig &c) { c.max_connections_in = 2; });
  int port = server.acceptor.listen();
  auto a   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a && round_trip(*a, "a"));
  auto b = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(b && round_trip(*b, "b"));
  int64_t lock_failures = net_stats_snapshot().inactivity_cop_lock_acquire_failure;
  int64_t evictions     = net_stats_snapshot().keep_alive_evictions;
  std::optional<SocketPeer> c;
  {
    MutexLock busy(server.echo(0)->mutex, nullptr); // a, the oldest, cannot be told now
    c = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(c);
    EXPECT_TRUE(b->wait_closed()) << "the next oldest goes instead";
    EXPECT_GT(net_stats_snapshot().inactivity_cop_lock_acquire_failure, lock_failures);
  }
  EXPECT_TRUE(round_trip(*a, "a2")) << "a was passed over, not closed";
  auto d = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(d && round_trip(*d, "d"));
  EXPECT_TRUE(a->wait_closed()) << "a stayed queued: it is the oldest and goes now";
  EXPECT_TRUE(round_trip(*c, "c2"));
  EXPECT_EQ(net_stats_snapshot().keep_alive_evictions - evictions, 2);
}

// ATS check_net_throttle(ACCEPT): past throttle_connections less its 10 % headroom, accepted
// connections are closed at once (counted), and accepting goes on once connections close.
TEST(NetAccept, AcceptsOverTheThrottleAreClosedAtOnce)
{
  EchoServer server;
  NetEnvironment env(1, [](NetConfig &c) { c.throttle_connections = 4; });
  int port          = server.acceptor.listen();
  int64_t throttled = net_stats_snapshot().throttled_accepts;
  std::vector<SocketPeer> served;
  for (int i = 0; i < 4; ++i) {
    auto p = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(p && round_trip(*p, "x")) << i;
    served.push_back(std::move(*p));
  }
  auto over = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(over);
  EXPECT_TRUE(over->wait_closed()) << "4 open * 1.1 >= 4: throttled";
  EXPECT_EQ(net_stats_snapshot().throttled_accepts - throttled, 1);
  served.pop_back();
  ASSERT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 3; }));
  auto again = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(again);
  EXPECT_TRUE(round_trip(*again, "y")) << "served again once below the throttle";
}

TEST(NetQueues, IdleKeepAliveConnectionIsClosedAfterTheKeepAliveTimeout)
{
  EchoServer server;
  server.on_start = [](Echo *e) { e->vc->add_to_keep_alive_queue(); };
  NetEnvironment env(1, [](NetConfig &c) { c.keep_alive_no_activity_timeout_in = HRTIME_MSECONDS(200); });
  int port = server.acceptor.listen();
  // t0 before connect: the server may accept (and start its timer) before connect() returns here.
  auto t0 = std::chrono::steady_clock::now();
  auto a  = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->wait_closed());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
}

TEST(NetQueues, ActiveQueueRefusesWhenFullAndNothingCanBeEvicted)
{
  std::atomic<int> accepted_true{0};
  std::atomic<int> accepted_false{0};
  EchoServer server;
  server.on_start = [&](Echo *e) { (e->vc->add_to_active_queue() ? accepted_true : accepted_false)++; };
  NetEnvironment env(1, [](NetConfig &c) { c.max_requests_in = 1; });
  int port = server.acceptor.listen();
  auto a   = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(a && round_trip(*a, "a"));
  auto b = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(b && round_trip(*b, "b"));
  EXPECT_EQ(accepted_true.load(), 1);
  EXPECT_EQ(accepted_false.load(), 1);
}

// A connection moved to another net thread and at once back: the move back runs on the first thread
// before its next wait, while the removal the first move made there (from the other thread) may be
// still queued. Every move must succeed and the connection stay whole.
TEST(NetMigrate, ThereAndStraightBackAgain)
{
  struct Move : Continuation {
    explicit Move(Ptr<ProxyMutex> m) : Continuation(std::move(m)) { set_handler(&Move::handle); }
    int handle(int, void *)
    {
      moved = vc->migrateToCurrentThread(this, this_ethread());
      if (moved != nullptr && next != nullptr) {
        next->vc = moved;
        next_thread->schedule_imm(next);
      }
      done.notify();
      return EVENT_DONE;
    }
    UnixNetVConnection *vc    = nullptr;
    UnixNetVConnection *moved = nullptr;
    Move *next                = nullptr;
    EThread *next_thread      = nullptr;
    EventWaiter done;
  };
  std::atomic<UnixNetVConnection *> accepted{nullptr};
  TestAcceptor acceptor([&](NetVConnection *vc) { accepted = static_cast<UnixNetVConnection *>(vc); }, false);
  NetEnvironment env(2);
  int port = acceptor.listen();
  for (int round = 0; round < 20; ++round) {
    accepted = nullptr;
    auto p   = SocketPeer::connect_to(static_cast<uint16_t>(port));
    ASSERT_TRUE(p);
    ASSERT_TRUE(eventually([&] { return accepted.load() != nullptr; }));
    UnixNetVConnection *vc = accepted.load();
    EThread *first         = vc->thread;
    EThread *other =
        eventProcessor.thread(ET_NET, 0) == first ? eventProcessor.thread(ET_NET, 1) : eventProcessor.thread(ET_NET, 0);
    Move back(vc->mutex);
    Move there(vc->mutex);
    there.vc          = vc;
    there.next        = &back;
    there.next_thread = first;
    other->schedule_imm(&there);
    ASSERT_TRUE(there.done.wait_for(1));
    ASSERT_NE(there.moved, nullptr) << "round " << round;
    ASSERT_TRUE(back.done.wait_for(1));
    ASSERT_NE(back.moved, nullptr) << "round " << round << ": the move back failed";
    {
      MutexLock lock(back.moved->mutex, nullptr);
      EXPECT_EQ(back.moved->thread, first);
      back.moved->do_io_close();
    }
    EXPECT_TRUE(p->wait_closed()) << "round " << round;
  }
}

TEST(NetMigrate, ConnectionMovesToAnotherNetThreadWithoutLosingBytes)
{
  // The client streams without reading, so when the connection moves there are bytes in flight
  // both ways: sent by the client but not yet read by the echo, read by the echo but still in its
  // buffer, and echoed but not yet read by the client. Every byte must come back, in order.
  constexpr std::size_t kTotal = 4 << 20;
  struct InFlight {
    int64_t sent_not_read = 0; ///< client -> echo, still in the kernel
    int64_t buffered      = 0; ///< read by the echo, not yet written back
    int64_t echoed_unread = 0; ///< written back, not yet read by the client
  };
  // Both count the 6 bytes of the round trip before the stream, as the echo's VIOs do.
  std::atomic<int64_t> client_sent{6};
  std::atomic<int64_t> client_received{6};
  struct Mover : Continuation {
    Mover() : Continuation(new_ProxyMutex()) { set_handler(&Mover::handle); }
    int handle(int event, void *)
    {
      if (event == EVENT_IMMEDIATE) {
        auto *old          = static_cast<UnixNetVConnection *>(echo->vc);
        from               = old->thread;
        seen.buffered      = echo->reader->read_avail();
        seen.sent_not_read = sent->load() - echo->read_vio->ndone;
        seen.echoed_unread = echo->write_vio->ndone - received->load();
        auto *n            = old->migrateToCurrentThread(echo, this_ethread());
        if (n != nullptr) {
          to              = n->thread;
          echo->vc        = n;
          echo->write_vio = n->do_io_write(echo, INT64_MAX, echo->reader);
          echo->read_vio  = n->do_io_read(echo, INT64_MAX, echo->buf);
        }
        moved.notify();
      }
      return EVENT_DONE;
    }
    Echo *echo                           = nullptr;
    const std::atomic<int64_t> *sent     = nullptr;
    const std::atomic<int64_t> *received = nullptr;
    InFlight seen;
    EThread *from = nullptr;
    EThread *to   = nullptr;
    EventWaiter moved;
  };
  EchoServer server;
  NetEnvironment env(2);
  NetProcessor::AcceptOptions opt;
  opt.recv_bufsize = 65536; // small socket buffers: the client's stream soon fills every stage
  opt.send_bufsize = 65536;
  int port         = server.acceptor.listen(opt);
  auto p           = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(p && round_trip(*p, "before"));
  int small = 65536;
  ::setsockopt(p->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ::setsockopt(p->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  Echo *e = server.echo(0);
  ASSERT_NE(e, nullptr);

  const std::string stream = pattern(0, kTotal, 7);
  std::thread sender([&] {
    for (std::size_t off = 0; off < kTotal; off += 16384) {
      if (!p->send_all(stream.substr(off, 16384), 60s)) {
        return;
      }
      client_sent += 16384;
    }
  });
  // Until the pipeline is full: the echo holds unsent bytes that a whole pass of its thread could
  // not write (the socket is full: that lasts until the client reads), and the client has sent
  // more than the echo read.
  auto snapshot = [&] {
    MutexLock lock(e->mutex, nullptr);
    return std::make_tuple(e->vc->thread, e->reader->read_avail(), e->write_vio->ndone, e->read_vio->ndone);
  };
  bool full = eventually(
      [&] {
        auto [thread, buffered, written, read] = snapshot();
        if (buffered == 0 || written == 0 || client_sent.load() <= read || !settle(thread)) {
          return false;
        }
        auto [thread_after, buffered_after, written_after, read_after] = snapshot();
        return buffered_after > 0 && written_after == written;
      },
      30s);
  Mover mover;
  mover.echo     = e;
  mover.sent     = &client_sent;
  mover.received = &client_received;
  mover.mutex    = e->mutex; // the mover acts as the echo's state machine
  EThread *other = nullptr;
  if (full) {
    MutexLock lock(e->mutex, nullptr);
    other = e->vc->thread == eventProcessor.thread(ET_NET, 0) ? eventProcessor.thread(ET_NET, 1) : eventProcessor.thread(ET_NET, 0);
    other->schedule_imm(&mover);
  }
  bool moved = full && mover.moved.wait_for(1);
  // Read everything back (also when something failed above, so that the sender thread ends).
  std::string got;
  got.reserve(kTotal);
  while (got.size() < kTotal) {
    std::string chunk = p->recv_exact(std::min<std::size_t>(65536, kTotal - got.size()), 60s);
    if (chunk.empty()) {
      break;
    }
    got += chunk;
    client_received += static_cast<int64_t>(chunk.size());
  }
  if (got.size() < kTotal) {
    ::shutdown(p->fd(), SHUT_RDWR); // the sender may be stuck on a full socket
  }
  sender.join();
  ASSERT_TRUE(full) << "the echo never filled up";
  ASSERT_TRUE(moved);
  EXPECT_EQ(mover.to, other);
  EXPECT_NE(mover.from, mover.to);
  EXPECT_GT(mover.seen.sent_not_read, 0) << "nothing in flight towards the echo during the move";
  EXPECT_GT(mover.seen.buffered, 0) << "nothing in the echo's buffer during the move";
  EXPECT_GT(mover.seen.echoed_unread, 0) << "nothing in flight towards the client during the move";
  ASSERT_EQ(got.size(), kTotal);
  EXPECT_TRUE(got == stream) << "bytes lost, duplicated or reordered across the move";
  EXPECT_TRUE(round_trip(*p, "after the move"));
}

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

namespace {
TEST(NetVCOptions, SocketOptionsAndAddressesAreApplied)
{
  struct Probe {
    std::atomic<int> nodelay{-1};
    std::atomic<int> keepalive{-1};
    std::atomic<int> remote_port{0};
    std::atomic<int> local_port{0};
    std::atomic<bool> remote_is_loopback{false};
  } probe;
  EchoServer server;
  server.on_start = [&](Echo *e) {
    int v         = 0;
    socklen_t len = sizeof(v);
    ::getsockopt(e->vc->get_socket(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
    probe.nodelay = v;
    ::getsockopt(e->vc->get_socket(), SOL_SOCKET, SO_KEEPALIVE, &v, &len);
    probe.keepalive   = v;
    probe.remote_port = e->vc->get_remote_port();
    probe.local_port  = e->vc->get_local_port();
    IpEndpoint remote;
    remote.assign(e->vc->get_remote_addr());
    probe.remote_is_loopback = remote.host_string() == "127.0.0.1";
  };
  NetEnvironment env;
  NetProcessor::AcceptOptions opt;
  opt.sockopt_flags = SOCK_OPT_NO_DELAY | SOCK_OPT_KEEP_ALIVE;
  int port          = server.acceptor.listen(opt);
  auto p            = SocketPeer::connect_to(static_cast<uint16_t>(port));
  ASSERT_TRUE(p && round_trip(*p, "o"));
  sockaddr_in self{};
  socklen_t len = sizeof(self);
  ::getsockname(p->fd(), reinterpret_cast<sockaddr *>(&self), &len);
  EXPECT_NE(probe.nodelay.load(), 0);
  EXPECT_NE(probe.keepalive.load(), 0);
  EXPECT_EQ(probe.local_port.load(), port);
  EXPECT_EQ(probe.remote_port.load(), ntohs(self.sin_port));
  EXPECT_TRUE(probe.remote_is_loopback);
}

TEST(NetStats, CountersAddUpForOneEchoedConnection)
{
  EchoServer server;
  NetEnvironment env;
  NetStats before = net_stats_snapshot();
  auto p          = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(p && round_trip(*p, std::string(10000, 's')));
  ASSERT_TRUE(eventually([&] { return net_stats_snapshot().write_bytes - before.write_bytes >= 10000; }));
  NetStats during = net_stats_snapshot();
  EXPECT_EQ(during.accepts - before.accepts, 1);
  EXPECT_EQ(during.connections_currently_open, 1);
  EXPECT_EQ(during.read_bytes - before.read_bytes, 10000);
  EXPECT_EQ(during.write_bytes - before.write_bytes, 10000);
  EXPECT_GE(during.calls_to_read - before.calls_to_read, 1);
  EXPECT_GE(during.calls_to_write - before.calls_to_write, 1);
  // Steps are counted whether or not they make a system call; those of the pass after a poll too.
  EXPECT_GE(during.calls_to_readfromnet - before.calls_to_readfromnet, 1);
  EXPECT_GE(during.calls_to_writetonet_afterpoll - before.calls_to_writetonet_afterpoll, 1);
  EXPECT_GE(during.calls_to_writetonet - before.calls_to_writetonet,
            during.calls_to_writetonet_afterpoll - before.calls_to_writetonet_afterpoll);
  p->close();
  EXPECT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
}

// With the debug tags on, one connection can be followed by its id from accept to close.
TEST(NetDiags, OneConnectionCanBeFollowedByItsIdFromAcceptToClose)
{
  std::string saved = debug_tags();
  std::FILE *out    = std::tmpfile();
  ASSERT_NE(out, nullptr);
  set_debug_output(out);
  ASSERT_TRUE(set_debug_tags("iocore_net,accept,socket"));
  {
    EchoServer server;
    NetEnvironment env;
    auto p = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
    ASSERT_TRUE(p && round_trip(*p, "follow me"));
    p->close();
    ASSERT_TRUE(eventually([] { return net_stats_snapshot().connections_currently_open == 0; }));
  }
  (void)set_debug_tags(saved);
  set_debug_output(nullptr);
  std::string log;
  std::rewind(out);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof(buf), out)) {
    log.append(buf, n);
  }
  std::fclose(out);
  std::size_t at = log.find(": accepted on port");
  ASSERT_NE(at, std::string::npos) << log;
  std::size_t vc_at = log.rfind("vc ", at);
  ASSERT_NE(vc_at, std::string::npos);
  std::string who = log.substr(vc_at, at - vc_at) + ": "; // "vc 17: "
  for (const char *step :
       {"read 9 bytes", "wrote 9 of 9 bytes", "VC_EVENT_EOS to the read side", "do_io_close", "freed", "socket "}) {
    EXPECT_NE(log.find(who + step), std::string::npos) << "no '" << who << step << "' in:\n" << log;
  }
}

TEST(NetShutdown, HalfCloseWriteSendsFinWhileReadingContinues)
{
  EchoServer server;
  server.on_start = [](Echo *e) { e->vc->do_io_shutdown(IO_SHUTDOWN_WRITE); };
  NetEnvironment env;
  auto p = SocketPeer::connect_to(static_cast<uint16_t>(server.acceptor.listen()));
  ASSERT_TRUE(p);
  bool eof = false;
  EXPECT_EQ(p->recv_until_eof(&eof), "");
  EXPECT_TRUE(eof) << "the server's FIN arrives";
  // The read side goes on: every byte sent after the FIN arrives in the echo's buffer (which
  // nothing drains now that its write side is shut), in order. Less than the 4 KiB buffer holds.
  const std::string after_fin = pattern(0, 3000, 9);
  ASSERT_TRUE(p->send_all(after_fin.substr(0, 1000)));
  ASSERT_TRUE(p->send_all(after_fin.substr(1000)));
  Echo *e = server.echo(0);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(eventually([&] {
    MutexLock lock(e->mutex, nullptr);
    return e->read_vio->ndone >= static_cast<int64_t>(after_fin.size());
  }));
  MutexLock lock(e->mutex, nullptr);
  EXPECT_EQ(e->read_vio->ndone, static_cast<int64_t>(after_fin.size()));
  std::string got(static_cast<std::size_t>(e->reader->read_avail()), '\0');
  e->reader->read(got.data(), static_cast<int64_t>(got.size()));
  EXPECT_TRUE(got == after_fin) << "read " << got.size() << " bytes, not the ones sent";
  EXPECT_FALSE(e->closed) << "still open: only the write side was shut";
}
} // namespace
