// NetHandler: the network pass of a net thread (poll, dispatch, ready lists), connection
// registration and teardown, the keep-alive and active queues, and per-thread net initialisation.
#include "net/NetHandler.h"

#include "iocore/net/NetProcessor.h"

#include "net/InactivityCop.h"
#include "net/IoBackend.h"
#include "eventsystem/DebugLog.h"
#include "net/LingeringClose.h"
#include "net/NetAccept.h"
#include "net/NetStats.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cinttypes>
#include <cstdlib>
#include <thread>

namespace iocore {
namespace {
  /// Most poll events taken per pass (ATS: POLL_DESCRIPTOR_SIZE, smaller: passes are frequent).
  constexpr int kMaxPollEvents = 1024;
  /// Most times the ready lists are walked in one pass; what remains is done in the next pass.
  constexpr int kMaxReadyRounds = 64;
  /// No further round starts once a pass has spent this long on the ready lists. ATS walks them
  /// until empty, and even a round bound is not enough: with many connections a client on another
  /// core answers each response before the round comes back to it, so the same VCs read data in
  /// every round, a pass grows to hundreds of milliseconds and connections whose events are still
  /// in the kernel wait that long (seen as a 0.5 s p99 under wrk with 1,000 connections). A fresh
  /// poll starts the next pass, so everything ready takes its turn. A few rounds of a handful of
  /// busy tunnels fit well inside the budget, so bulk transfers keep their batching.
  constexpr ink_hrtime kReadyPassBudget = HRTIME_MSECONDS(1);
  /// Poll wait while the only pending work is IO whose VIO lock another thread holds.
  constexpr ink_hrtime kLockMissPollWait = HRTIME_MSECONDS(1);

  int net_handler_key()
  {
    static int key = EThread::register_local_data_key();
    return key;
  }

  void destroy_net_handler(void *p)
  {
    delete static_cast<NetHandler *>(p);
  }
} // namespace

NetHandler *
get_NetHandler(EThread *t)
{
  return t ? static_cast<NetHandler *>(t->local_data(net_handler_key())) : nullptr;
}

void
initialize_thread_for_net(EThread *t, std::unique_ptr<Poller> poller)
{
  if (!poller) {
    std::string why;
    poller = make_backend_poller(why);
    if (!poller) {
      std::fprintf(stderr, "iocore: cannot start a net thread on %s: %s\n", io_backend_name(net_io_backend()), why.c_str());
      std::abort();
    }
  }
  auto *nh = new NetHandler(*t, std::move(poller));
  t->set_local_data(net_handler_key(), nh, destroy_net_handler);
  t->set_tail_handler(nh);
  nh->cop       = std::make_unique<InactivityCop>(*nh);
  nh->cop_event = t->schedule_every(nh->cop.get(), net_config().inactivity_check_frequency);
}

NetHandler::NetHandler(EThread &t, std::unique_ptr<Poller> p) : Continuation(new_ProxyMutex()), thread(t), poller(std::move(p))
{
  _events.resize(kMaxPollEvents);
  _signal_io.type  = EventIO::Type::kSignal;
  _signal_io.owner = this;
  poller->add(thread.signal_fd(), kReadable, &_signal_io);
  int n                         = std::max(1, eventProcessor.n_threads_for_type(ET_NET));
  const NetConfig &cfg          = net_config();
  max_connections_per_thread_in = cfg.max_connections_in > 0 ? std::max(1, cfg.max_connections_in / n) : 0;
  max_requests_per_thread_in    = cfg.max_requests_in > 0 ? std::max(1, cfg.max_requests_in / n) : 0;
  _max_poll_wait                = cfg.poll_timeout_ms >= 0 ? HRTIME_MSECONDS(cfg.poll_timeout_ms) : -1;
}

NetHandler::~NetHandler()
{
  // Runs when the thread is torn down (EventProcessor::shutdown): no call-backs any more, just give
  // back sockets and memory of connections the application left open.
  if (thread.tail_handler() == this) {
    thread.set_tail_handler(nullptr);
  }
  while (UnixNetVConnection *vc = open_list.dequeue()) {
    read_ready_list.remove(vc);
    write_ready_list.remove(vc);
    cop_list.remove(vc);
    keep_alive_queue.remove(vc);
    active_queue.remove(vc);
    if (vc->fd >= 0) {
      poller->remove(vc->fd);
      ::close(vc->fd);
      vc->fd = -1;
      net_counters().connections_currently_open.fetch_sub(1, std::memory_order_relaxed);
      if (!vc->is_outbound) {
        net_counters().inbound_currently_open.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    vc->free_thread(&thread);
  }
  poller->remove(thread.signal_fd());
}

// --- The pass -------------------------------------------------------------------------------------------

void
NetHandler::wait_for_activity(ink_hrtime timeout)
{
  MutexLock lock(mutex, &thread);
  _pass_lock_misses = 0;
  _pass_io          = 0;
  process_enabled_list();
  bool pending = !read_ready_list.empty() || !write_ready_list.empty();
  if (pending) {
    timeout = _prev_pass_only_missed ? std::min(timeout, kLockMissPollWait) : 0;
  }
  if (_max_poll_wait >= 0) {
    timeout = std::min(timeout, _max_poll_wait);
  }
  int n = poller->wait(timeout, _events);
  // After a blocking wait the loop's cached time is from before the sleep: refresh it, or the
  // call-backs below stamp keep-alive and timeout start times up to a whole wait in the past
  // (timeouts would fire early). A non-blocking poll leaves it as fresh as for any other handler,
  // so the busy path skips the clock read.
  if (timeout > 0) {
    EThread::get_hrtime_updated();
  }
  for (int i = 0; i < n; ++i) {
    dispatch(_events[i]);
  }
  // Accept only after the whole batch is dispatched: accept call-backs may close other connections.
  std::vector<NetAccept *> ready;
  ready.swap(accept_ready);
  for (NetAccept *na : ready) {
    na->accept_ready_connections(*this);
  }
  process_ready_list();
  _prev_pass_only_missed = _pass_lock_misses > 0 && _pass_io == 0;
}

void
NetHandler::dispatch(const PollEvent &ev)
{
  auto *io = static_cast<EventIO *>(ev.token);
  switch (io->type) {
  case EventIO::Type::kSignal:
    thread.drain_signal();
    return;
  case EventIO::Type::kAccept:
    accept_ready.push_back(static_cast<NetAccept *>(io->owner));
    return;
  case EventIO::Type::kVConnection:
    break;
  }
  auto *vc = static_cast<UnixNetVConnection *>(io->owner);
  if (ev.ready & kError) {
    // Capture the socket's error now (a refused connect, a reset): the write side reports it as
    // VC_EVENT_ERROR with lerrno on its next IO, the read side after the data queued before it.
    int err       = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(vc->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
      vc->socket_error = err;
    }
  }
  if (vc->connect_pending.load(std::memory_order_relaxed)) {
    // The first report on a connecting socket settles the connect: an error or hang-up means it
    // failed (refused, unreachable), anything else that the handshake completed.
    if (ev.ready & (kError | kHangup)) {
      vc->note_connect_failed();
    } else {
      vc->connect_pending.store(false, std::memory_order_relaxed);
      IOCORE_DEBUG(DebugTag::kConnect, "vc %" PRIu64 ": connected", vc->id);
    }
  }
  if (ev.ready & (kReadHangup | kError | kHangup | kUrgent)) {
    vc->read_until_eagain = true;
  }
  if (ev.ready & (kReadable | kError | kHangup | kReadHangup)) {
    vc->read.triggered = true;
    read_ready_list.in_or_enqueue(vc);
  }
  if (ev.ready & (kWritable | kError | kHangup)) {
    vc->write.triggered = true;
    write_ready_list.in_or_enqueue(vc);
  }
}

void
NetHandler::push_enable(NetState &s, UnixNetVConnection *vc)
{
  // Nothing of vc may be touched after the push: its owner may free it at once.
  bool is_read = s.dir == Direction::kRead;
  if (is_read) {
    read_enable_list.push(vc);
  } else {
    write_enable_list.push(vc);
  }
  thread.signal_activity();
}

void
NetHandler::drain_enable_list(Direction d)
{
  UnixNetVConnection *vc = d == Direction::kRead ? read_enable_list.pop_all() : write_enable_list.pop_all();
  while (vc) {
    NetState &s            = d == Direction::kRead ? vc->read : vc->write;
    UnixNetVConnection *nx = s.enable_next;
    s.enable_next          = nullptr;
    s.in_enabled_list.store(false, std::memory_order_release);
    if (vc->closed.load(std::memory_order_acquire) ||
        (s.enabled.load(std::memory_order_relaxed) && (s.triggered || vc->handshake_pending))) {
      // A closed VC goes on the ready list too: the ready-list walk frees it.
      ready_list(d).in_or_enqueue(vc);
    }
    vc = nx;
  }
}

void
NetHandler::process_enabled_list()
{
  drain_enable_list(Direction::kRead);
  drain_enable_list(Direction::kWrite);
}

template <class List>
void
NetHandler::run_ready(List &list, Direction d)
{
  // One round: each VC queued at the start, once. IO steps re-queue a VC that is still enabled and
  // triggered, so it is serviced again in the next round until EAGAIN (edge-triggered rule).
  for (std::size_t n = list.size(); n > 0; --n) {
    UnixNetVConnection *vc = list.dequeue();
    if (vc == nullptr) {
      break;
    }
    if (vc->closed.load(std::memory_order_acquire)) {
      if (vc->recursion == 0) {
        free_netvc(vc);
      }
      continue;
    }
    if (vc->handshake_pending) {
      vc->handshake_io(*this); // TLS: either direction's readiness may move the handshake on
      continue;
    }
    NetState &s = d == Direction::kRead ? vc->read : vc->write;
    if (!s.enabled.load(std::memory_order_relaxed) || !s.triggered) {
      continue;
    }
    if (d == Direction::kRead) {
      net_count(net_counters().calls_to_readfromnet);
      vc->read_step(*this);
    } else {
      net_count(net_counters().calls_to_writetonet);
      net_count(net_counters().calls_to_writetonet_afterpoll);
      vc->write_step(*this);
    }
  }
}

void
NetHandler::process_ready_list()
{
  ink_hrtime deadline = thread.now() + kReadyPassBudget;
  for (int round = 0; round < kMaxReadyRounds && (!read_ready_list.empty() || !write_ready_list.empty()); ++round) {
    int misses_before = _pass_lock_misses;
    int io_before     = _pass_io;
    run_ready(read_ready_list, Direction::kRead);
    run_ready(write_ready_list, Direction::kWrite);
    if (_pass_io == io_before && _pass_lock_misses > misses_before) {
      break; // only busy locks left: come back after a short poll
    }
    if (thread.now() >= deadline) {
      break; // the rest goes on after a (non-blocking) poll
    }
  }
}

// --- Registration -----------------------------------------------------------------------------------------

int
NetHandler::start_io(UnixNetVConnection *vc)
{
  int r = poller->add(vc->fd, kReadable | kWritable, &vc->ep);
  if (r < 0) {
    return r;
  }
  vc->nh = this;
  if (vc->read.triggered) {
    read_ready_list.in_or_enqueue(vc);
  }
  return 0;
}

void
NetHandler::stop_io(UnixNetVConnection *vc)
{
  if (vc->fd >= 0) {
    poller->remove(vc->fd);
  }
  // The in_enabled_list flag is not atomic with the push in ATS: it clears in_enabled_list and
  // unlinks the VC from the atomic list without synchronisation. Here the lists are drained instead
  // (we hold the NetHandler mutex, the only consumer); a push that has claimed the flag but not yet
  // landed is waited for, so the VC is never freed while another thread is linking it
  // (tests: NetClose.CloseWhileForeignReenablePendingDoesNotUseFreedMemory).
  while (vc->read.in_enabled_list.load(std::memory_order_acquire) || vc->write.in_enabled_list.load(std::memory_order_acquire)) {
    process_enabled_list();
    if (vc->read.in_enabled_list.load(std::memory_order_acquire) || vc->write.in_enabled_list.load(std::memory_order_acquire)) {
      std::this_thread::yield();
    }
  }
  read_ready_list.remove(vc);
  write_ready_list.remove(vc);
}

void
NetHandler::start_cop(UnixNetVConnection *vc)
{
  open_list.enqueue(vc);
}

void
NetHandler::stop_cop(UnixNetVConnection *vc)
{
  open_list.remove(vc);
  cop_list.remove(vc);
  remove_from_keep_alive_queue(vc);
  remove_from_active_queue(vc);
}

void
NetHandler::free_netvc(UnixNetVConnection *vc)
{
  // ATS: close_UnixNetVConnection. Owner thread, NetHandler mutex held, no call-back running on vc.
  vc->assert_owner_thread();
  IOCORE_DEBUG(DebugTag::kIocoreNet, "vc %" PRIu64 ": freed (fd %d)", vc->id, vc->fd);
  vc->cancel_OOB();
  stop_io(vc);
  stop_cop(vc);
  if (vc->fd >= 0) {
    vc->before_socket_close();
    if (vc->options.sockopt_flags & SOCK_OPT_LINGER_ON) {
      ::close(vc->fd); // the user asked for a reset on close
    } else if (vc->timed_out) {
      close_socket_after_timeout(vc->fd, vc->id);
    } else {
      close_socket_gracefully(thread, vc->fd, vc->id);
    }
    vc->fd = -1;
    net_counters().connections_currently_open.fetch_sub(1, std::memory_order_relaxed);
    if (!vc->is_outbound) {
      net_counters().inbound_currently_open.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  vc->nh = nullptr;
  vc->free_thread(&thread);
}

int
NetHandler::register_accept(NetAccept *na, int fd)
{
  return poller->add(fd, kReadable, &na->ep);
}

void
NetHandler::unregister_accept(int fd)
{
  poller->remove(fd);
}

// --- Keep-alive and active queues --------------------------------------------------------------------------

void
NetHandler::add_to_keep_alive_queue(UnixNetVConnection *vc)
{
  if (keep_alive_queue.in(vc)) {
    keep_alive_queue.remove(vc);
  } else {
    active_queue.remove(vc);
  }
  vc->keep_alive_since = EThread::get_hrtime();
  keep_alive_queue.enqueue(vc);
  manage_keep_alive_queue();
}

void
NetHandler::remove_from_keep_alive_queue(UnixNetVConnection *vc)
{
  keep_alive_queue.remove(vc);
}

bool
NetHandler::add_to_active_queue(UnixNetVConnection *vc)
{
  manage_active_queue(vc, false);
  if (active_queue.in(vc)) {
    active_queue.remove(vc);
    active_queue.enqueue(vc);
    return true;
  }
  if (max_requests_per_thread_in > 0 && static_cast<int>(active_queue.size()) >= max_requests_per_thread_in) {
    return false;
  }
  keep_alive_queue.remove(vc);
  active_queue.enqueue(vc);
  return true;
}

void
NetHandler::remove_from_active_queue(UnixNetVConnection *vc)
{
  active_queue.remove(vc);
}

bool
NetHandler::tell_to_go(UnixNetVConnection *vc, int event)
{
  // ATS: _close_vc. Only a VC whose SM can be told now leaves its queue: with a lock busy it stays
  // queued (and is among the first candidates next time), never dropped from the queue untold.
  MutexTryLock lock(vc->mutex, &thread);
  MutexTryLock rlock(vc->read.vio.mutex ? vc->read.vio.mutex : vc->mutex, &thread);
  MutexTryLock wlock(vc->write.vio.mutex ? vc->write.vio.mutex : vc->mutex, &thread);
  if (!lock.is_locked() || !rlock.is_locked() || !wlock.is_locked()) {
    net_count(net_counters().inactivity_cop_lock_acquire_failure);
    IOCORE_DEBUG(DebugTag::kInactivityCop, "vc %" PRIu64 ": to be told %s, but a lock is busy: stays queued", vc->id,
                 event_name(event));
    return false;
  }
  IOCORE_DEBUG(DebugTag::kInactivityCop, "vc %" PRIu64 ": told to go (%s)", vc->id, event_name(event));
  keep_alive_queue.remove(vc);
  active_queue.remove(vc);
  if (vc->closed.load(std::memory_order_acquire)) {
    if (vc->recursion == 0) {
      wlock.release();
      rlock.release();
      lock.release();
      free_netvc(vc);
    }
    return true;
  }
  // The SM is told through a timeout and is expected to close the connection.
  vc->handleEvent(event, nullptr);
  return true;
}

bool
NetHandler::evict_keep_alive(UnixNetVConnection *vc)
{
  if (!tell_to_go(vc, VC_EVENT_INACTIVITY_TIMEOUT)) {
    return false;
  }
  net_count(net_counters().keep_alive_evictions);
  return true;
}

void
NetHandler::manage_keep_alive_queue()
{
  if (max_connections_per_thread_in <= 0) {
    return;
  }
  std::size_t limit = static_cast<std::size_t>(max_connections_per_thread_in);
  // Oldest idle first. Each told VC leaves the queue before its SM is told, so an SM that does not
  // close cannot make this loop spin; a VC whose lock is busy stays where it is and is passed over.
  // After a call-back the walk starts again from the head (the SM may have closed others).
  UnixNetVConnection *vc = keep_alive_queue.head();
  while (vc != nullptr && active_queue.size() + keep_alive_queue.size() > limit) {
    UnixNetVConnection *next = keep_alive_queue.next(vc);
    vc                       = evict_keep_alive(vc) ? keep_alive_queue.head() : next;
  }
}

bool
NetHandler::evict_oldest_keep_alive()
{
  for (UnixNetVConnection *vc = keep_alive_queue.head(); vc != nullptr; vc = keep_alive_queue.next(vc)) {
    if (evict_keep_alive(vc)) {
      return true;
    }
  }
  return false;
}

bool
NetHandler::manage_active_queue(UnixNetVConnection *enabling, bool ignore_queue_size)
{
  if (max_requests_per_thread_in <= 0) {
    return true;
  }
  std::size_t limit = static_cast<std::size_t>(max_requests_per_thread_in);
  ink_hrtime now    = EThread::get_hrtime();
  auto expired      = [now](UnixNetVConnection *vc) {
    ink_hrtime in_at  = vc->next_inactivity_timeout_at.load(std::memory_order_relaxed);
    ink_hrtime act_at = vc->next_activity_timeout_at.load(std::memory_order_relaxed);
    return in_at != 0 && in_at <= now ? VC_EVENT_INACTIVITY_TIMEOUT : act_at != 0 && act_at <= now ? VC_EVENT_ACTIVE_TIMEOUT : 0;
  };
  // Timed-out connections make room; one whose lock is busy is passed over (and stays queued).
  // After a call-back the walk starts again from the head: it may have closed other connections.
  UnixNetVConnection *vc = active_queue.head();
  while (vc != nullptr && (ignore_queue_size || active_queue.size() >= limit)) {
    UnixNetVConnection *next = active_queue.next(vc);
    int event                = vc == enabling ? 0 : expired(vc);
    vc                       = event != 0 && tell_to_go(vc, event) ? active_queue.head() : next;
  }
  return active_queue.size() < limit;
}
} // namespace iocore
