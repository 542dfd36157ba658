// NetAccept: the accept loops (per-thread non-blocking and dedicated blocking), load shedding when
// file descriptors run out or the connection limit is reached, and handing new sockets to the
// net layer.
#include "net/NetAccept.h"

#include "net/NetHandler.h"
#include "eventsystem/DebugLog.h"
#include "net/NetStats.h"
#include "net/SocketOptions.h"
#include "net/UnixNetVConnection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace iocore {
namespace {
  /// How long accepting pauses after running out of file descriptors (libuv and nginx pause too;
  /// ATS's dedicated loop sleeps net_throttle_delay = 50 ms). Established connections keep being
  /// served meanwhile; the pending connection waits in the kernel's queue.
  constexpr ink_hrtime kAcceptErrorPause = HRTIME_MSECONDS(50);
  /// How often a listener over max_connections_in looks again for room.
  constexpr ink_hrtime kConnectionLimitRecheck = HRTIME_MSECONDS(10);
  /// Private event code: stop listening (sent by AcceptGroup::cancel to each thread's NetAccept).
  constexpr int kEventCancelAccept = 60010;

  bool is_shortage(int err)
  {
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
  }

  /// accept() errors that concern one connection only (it was aborted, refused by a firewall
  /// rule, interrupted): the next accept() may well succeed. With the shortages, these are the
  /// errors ATS's accept loops also survive; anything else (EBADF, EINVAL, ENOTSOCK, EOPNOTSUPP...)
  /// means the listening socket itself is unusable.
  bool is_per_connection_error(int err)
  {
    return err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM || err == EAGAIN || err == EWOULDBLOCK;
  }

  /// At most one throttling warning this often.
  constexpr ink_hrtime kThrottleWarningInterval = HRTIME_SECONDS(10);
  std::atomic<ink_hrtime> g_last_throttle_warning{0};
  std::atomic<int64_t> g_throttled_since_warning{0};

  /// ATS: check_net_throttle(ACCEPT). Accepting stops at throttle_connections less a 10 % headroom,
  /// kept for the outgoing connections the accepted ones may need (connect_re uses no headroom).
  bool accept_is_throttled()
  {
    int limit = net_config().throttle_connections;
    return limit > 0 && net_counters().connections_currently_open.load(std::memory_order_relaxed) * 11 / 10 >= limit;
  }

  /// A connection accepted over the throttle is closed at once (the client sees it refused
  /// promptly instead of waiting in the kernel's queue); counted, and warned about now and then.
  void refuse_throttled(int sock)
  {
    net_count(net_counters().throttled_accepts); // before the close the client may be waiting on
    IOCORE_DEBUG(DebugTag::kAccept, "fd %d: accepted over throttle_connections, closed at once", sock);
    ::close(sock);
    int64_t held    = g_throttled_since_warning.fetch_add(1, std::memory_order_relaxed) + 1;
    ink_hrtime now  = ink_get_hrtime();
    ink_hrtime last = g_last_throttle_warning.load(std::memory_order_relaxed);
    if ((last == 0 || now - last >= kThrottleWarningInterval) &&
        g_last_throttle_warning.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
      g_throttled_since_warning.fetch_sub(held, std::memory_order_relaxed);
      std::fprintf(stderr, "iocore: throttling: %lld accepted connection(s) closed at once (%lld open, throttle_connections %d)\n",
                   static_cast<long long>(held),
                   static_cast<long long>(net_counters().connections_currently_open.load(std::memory_order_relaxed)),
                   net_config().throttle_connections);
    }
  }

  void pause_thread(ink_hrtime d)
  {
    ::poll(nullptr, 0, static_cast<int>(d / HRTIME_MSECONDS(1)));
  }
} // namespace

NetAccept::NetAccept(AcceptGroup &group, int fd, EThread *owner) : group(group), fd(fd), owner(owner)
{
  ep.type  = EventIO::Type::kAccept;
  ep.owner = this;
  set_handler(&NetAccept::retryEvent);
}

NetAccept::~NetAccept()
{
  // Dedicated-mode NetAccepts share the group's socket; the group closes it.
  if (owner != nullptr && fd >= 0) {
    ::close(fd);
  }
}

bool
NetAccept::over_connection_limit() const
{
  int max = net_config().max_connections_in;
  return max > 0 && net_counters().inbound_currently_open.load(std::memory_order_relaxed) >= max;
}

bool
NetAccept::has_pending_connection() const
{
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

bool
NetAccept::handle_accept_error(int err)
{
  net_count(net_counters().accept_errors);
  IOCORE_DEBUG(DebugTag::kAccept, "%s: accept() failed: %s; pausing", group.bound.to_string().c_str(), std::strerror(err));
  if (!group.in_error_episode.exchange(true)) {
    std::fprintf(stderr, "iocore: accept on %s failed: %s; pausing accepts%s (counted in accept_errors)\n",
                 group.bound.to_string().c_str(), std::strerror(err), is_shortage(err) ? " until descriptors free up" : "");
  }
  return true;
}

void
NetAccept::start_connection(int sock, const sockaddr *peer, socklen_t peer_len, EThread *t)
{
  if (group.in_error_episode.load(std::memory_order_relaxed)) {
    group.in_error_episode.store(false);
    std::fprintf(stderr, "iocore: accept on %s recovered\n", group.bound.to_string().c_str());
  }
  net_count(net_counters().accepts);
  net_count(net_counters().connections_currently_open);
  net_count(net_counters().inbound_currently_open);
  const NetProcessor::AcceptOptions &opt = group.opt;

  UnixNetVConnection *vc = group.new_vc();
  // "on port N" for IP listeners (what the diagnostics tests follow), the path for Unix-domain ones.
  IOCORE_DEBUG(DebugTag::kAccept, "vc %" PRIu64 ": accepted on %s%s (fd %d)", vc->id, group.bound.is_ip() ? "port " : "",
               group.bound.is_ip() ? std::to_string(group.port).c_str() : group.bound.to_string().c_str(), sock);
  vc->fd = sock;
  vc->set_remote_endpoint(SocketAddress::from_kernel(peer, peer_len));
  vc->options.sockopt_flags = opt.sockopt_flags;
  (void)apply_socket_options(sock, peer->sa_family, vc->options, SocketState::kFresh);
  vc->mutex         = new_ProxyMutex();
  vc->action_       = group.continuation;
  vc->accept_object = this;
  vc->set_handler(&UnixNetVConnection::acceptEvent);
  EThread *target = t == nullptr || spread ? eventProcessor.assign_thread(opt.etype) : t;
  if (target == t) {
    vc->acceptEvent(EVENT_NONE, nullptr); // on its thread already, NetHandler mutex held
  } else {
    target->schedule_imm(vc);
  }
}

void
NetAccept::accept_ready_connections(NetHandler &nh)
{
  while (fd >= 0 && group.is_listening()) {
    if (over_connection_limit()) {
      if (!has_pending_connection()) {
        return; // nothing waiting: the next readiness edge brings us back
      }
      // At max_connections_in with a connection waiting: make room by closing the oldest idle
      // keep-alive connection of this thread; with none to close, the new connection waits in the
      // kernel's queue until room frees.
      if (nh.evict_oldest_keep_alive()) {
        continue;
      }
      if (retry == nullptr) {
        retry = owner->schedule_in(this, kConnectionLimitRecheck);
      }
      return;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    int sock      = ::accept4(fd, reinterpret_cast<sockaddr *>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (sock < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        return;
      }
      if (is_per_connection_error(err)) {
        continue;
      }
      if (!is_shortage(err)) {
        group.fail(err, owner);
        return;
      }
      handle_accept_error(err);
      // Edge-triggered: no new edge will come for connections already queued, so look again later.
      if (retry == nullptr) {
        retry = owner->schedule_in(this, kAcceptErrorPause);
      }
      return;
    }
    if (accept_is_throttled()) {
      refuse_throttled(sock);
      continue;
    }
    start_connection(sock, reinterpret_cast<sockaddr *>(&ss), len, owner);
  }
}

int
NetAccept::retryEvent(int event, void *data)
{
  Event *e = static_cast<Event *>(data);
  if (e == retry) {
    retry = nullptr;
  }
  NetHandler *nh = get_NetHandler(owner);
  if (event == kEventCancelAccept) {
    if (retry) {
      retry->cancel();
      retry = nullptr;
    }
    if (fd >= 0) {
      if (registered.exchange(false, std::memory_order_acq_rel)) {
        nh->unregister_accept(fd);
      }
      ::close(fd);
      fd = -1;
    }
    return EVENT_DONE;
  }
  if (nh != nullptr) {
    accept_ready_connections(*nh);
  }
  return EVENT_DONE;
}

int
NetAccept::acceptLoopEvent(int event, void *data)
{
  (void)event;
  (void)data;
  while (group.is_listening()) {
    if (over_connection_limit()) {
      pause_thread(kConnectionLimitRecheck);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    int sock      = ::accept4(fd, reinterpret_cast<sockaddr *>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (sock < 0) {
      int err = errno;
      if (!group.is_listening()) {
        break; // cancel() shut the socket down to wake us
      }
      if (is_per_connection_error(err)) {
        continue;
      }
      if (!is_shortage(err)) {
        group.fail(err, nullptr);
        break;
      }
      handle_accept_error(err);
      pause_thread(kAcceptErrorPause);
      continue;
    }
    if (accept_is_throttled()) {
      refuse_throttled(sock);
      continue;
    }
    start_connection(sock, reinterpret_cast<sockaddr *>(&ss), len, nullptr);
  }
  return EVENT_DONE;
}

// --- AcceptGroup ------------------------------------------------------------------------------------------

AcceptGroup::AcceptGroup(Continuation *c, const NetProcessor::AcceptOptions &o, bool is_tls)
    : opt(o), tls(is_tls), _failure_notice(*this, c)
{
  *static_cast<Action *>(this) = c;
}

AcceptGroup::FailureNotice::FailureNotice(AcceptGroup &g, Continuation *acceptor)
    : Continuation(acceptor != nullptr && acceptor->mutex ? acceptor->mutex : new_ProxyMutex()), group(g)
{
  set_handler(&FailureNotice::deliver);
}

int
AcceptGroup::FailureNotice::deliver(int, void *)
{
  // Runs holding the acceptor's mutex (its own when the acceptor has none). A cancel() that
  // returned before this point means the acceptor must not be called any more.
  if (!group.cancelled.load(std::memory_order_acquire) && group.continuation != nullptr) {
    group.continuation->handleEvent(EVENT_ERROR, reinterpret_cast<void *>(static_cast<intptr_t>(-err)));
  }
  return EVENT_DONE;
}

void
AcceptGroup::fail(int err, EThread *t)
{
  if (_failed.exchange(true, std::memory_order_acq_rel)) {
    return; // another socket of the group failed first: one report
  }
  net_count(net_counters().accept_errors);
  IOCORE_DEBUG(DebugTag::kAccept, "%s: accept() failed for good: %s; the listener stops", bound.to_string().c_str(),
               std::strerror(err));
  std::fprintf(stderr, "iocore: listener on %s stopped: accept() failed: %s\n", bound.to_string().c_str(), std::strerror(err));
  stop_sockets();
  _failure_notice.err = err;
  if (t != nullptr) {
    t->schedule_imm(&_failure_notice);
  } else {
    eventProcessor.schedule_imm(&_failure_notice, opt.etype);
  }
}

AcceptGroup::~AcceptGroup()
{
  accepts.clear();
  if (shared_fd >= 0) {
    ::close(shared_fd);
  }
}

void
AcceptGroup::cancel(Continuation *c)
{
  (void)c;
  if (cancelled.exchange(true)) {
    return;
  }
  if (!_failed.load(std::memory_order_acquire)) {
    stop_sockets();
  }
}

void
AcceptGroup::stop_sockets()
{
  if (socket_file) {
    socket_file->remove(); // no new client finds the path from now on
  }
  if (shared_fd >= 0) {
    // Dedicated mode: wake the threads blocked in accept(); they see the group stopped and return.
    ::shutdown(shared_fd, SHUT_RDWR);
    return;
  }
  for (auto &na : accepts) {
    // Each listener is closed by its own thread (its NetHandler may be mid-pass with it).
    na->owner->schedule_imm(na.get(), kEventCancelAccept);
  }
}

UnixNetVConnection *
AcceptGroup::new_vc()
{
  return vc_factory ? vc_factory(*this) : UnixNetVConnection::alloc();
}
} // namespace iocore
