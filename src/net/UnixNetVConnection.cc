// UnixNetVConnection: the VConnection operations, ATS's read and write algorithms
// (read_from_net, write_to_net_io, load_buffer_and_write), the call-back helpers with the recursion
// counter, timeouts, and the accept / connect / migrate paths.
#include "net/UnixNetVConnection.h"

#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EventProcessor.h"
#include "iocore/net/NetProcessor.h"

#include "eventsystem/ClassAllocator.h"
#include "eventsystem/DebugLog.h"
#include "net/NetAccept.h"
#include "net/NetHandler.h"
#include "net/NetStats.h"
#include "net/SocketOptions.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace iocore {
namespace {
  ClassAllocator<UnixNetVConnection> &vc_allocator()
  {
    static ClassAllocator<UnixNetVConnection> a;
    return a;
  }

  std::atomic<uint64_t> g_next_connection_id{1};

  /// Private event code: retry a partial out-of-band send.
  constexpr int kEventOOBRetry        = 60001;
  constexpr ink_hrtime kOOBRetryDelay = HRTIME_MSECONDS(10);

  bool is_would_block(int64_t r)
  {
    return r == -EAGAIN || r == -EWOULDBLOCK || r == -ENOTCONN || r == -EINPROGRESS;
  }
} // namespace

UnixNetVConnection::UnixNetVConnection()
{
  set_handler(&UnixNetVConnection::startEvent);
  read.vio.vc_server  = this;
  write.vio.vc_server = this;
  ep.type             = EventIO::Type::kVConnection;
  ep.owner            = this;
  id                  = g_next_connection_id.fetch_add(1, std::memory_order_relaxed);
}

UnixNetVConnection::~UnixNetVConnection() = default;

UnixNetVConnection *
UnixNetVConnection::alloc()
{
  return vc_allocator().alloc();
}

void
UnixNetVConnection::free_thread(EThread *t)
{
  (void)t;
  vc_allocator().free(this);
}

void
UnixNetVConnection::assert_owner_thread() const
{
  IOCORE_ASSERT_USAGE(thread == nullptr || this_ethread() == thread, "vc %" PRIu64 " used off its own thread (owner: %s)", id,
                      thread->name.c_str());
}

// --- VConnection operations --------------------------------------------------------------------------

VIO *
UnixNetVConnection::do_io_read(Continuation *c, int64_t nbytes, MIOBuffer *buf)
{
  return start_vio(read, c, nbytes, buf, nullptr);
}

VIO *
UnixNetVConnection::do_io_write(Continuation *c, int64_t nbytes, IOBufferReader *reader, bool owner)
{
  if (owner) {
    std::fprintf(stderr, "iocore: do_io_write with owner = true is not supported\n");
    std::abort();
  }
  return start_vio(write, c, nbytes, nullptr, reader);
}

VIO *
UnixNetVConnection::start_vio(NetState &s, Continuation *c, int64_t nbytes, MIOBuffer *writer, IOBufferReader *reader)
{
  bool is_read    = s.dir == Direction::kRead;
  const char *how = is_read ? "do_io_read" : "do_io_write";
  bool has_buffer = is_read ? writer != nullptr : reader != nullptr;
  bool stopping   = c == nullptr && nbytes == 0 && !has_buffer;
  IOCORE_DEBUG(DebugTag::kIocoreNet, "vc %" PRIu64 ": %s nbytes %" PRId64 "%s", id, how, nbytes, stopping ? " (stop)" : "");
  if (closed.load(std::memory_order_acquire) && !stopping) {
    std::fprintf(stderr, "iocore: %s on a closed connection\n", how);
    return nullptr;
  }
  // The stopping form keeps op == READ / WRITE with no continuation, as ATS: a connection whose
  // every started direction has no continuation is an orphan that closes itself on a timeout
  // (mainEvent).
  s.vio.op        = is_read ? VIO::READ : VIO::WRITE;
  s.vio.mutex     = c ? c->mutex : mutex;
  s.vio._cont     = c;
  s.vio.nbytes    = nbytes;
  s.vio.ndone     = 0;
  s.vio.vc_server = this;
  s.splice        = nullptr; // a pipe belongs to one do_io_*_splice operation (SpliceIO.cc)
  if (!has_buffer) {
    s.vio.buffer.clear();
    s.enabled.store(false, std::memory_order_relaxed);
    return &s.vio;
  }
  if (is_read) {
    s.vio.buffer.writer_for(writer);
  } else {
    s.vio.buffer.reader_for(reader);
  }
  // A write of nothing is not started (no WRITE_COMPLETE for it); a read of nothing is, and its
  // first step stops it.
  if ((is_read || nbytes != 0) && !s.enabled.load(std::memory_order_relaxed)) {
    s.vio.reenable();
  }
  return &s.vio;
}

void
UnixNetVConnection::do_io_close(int alerrno)
{
  IOCORE_DEBUG(DebugTag::kIocoreNet, "vc %" PRIu64 ": do_io_close(%d)", id, alerrno);
  read.enabled.store(false, std::memory_order_relaxed);
  write.enabled.store(false, std::memory_order_relaxed);
  // The caller may free its continuation and buffers as soon as this returns: forget them now. The
  // VIO mutexes stay (the owner thread still try-locks them before looking at `closed`).
  for (NetState *s : {&read, &write}) {
    s->vio.buffer.clear();
    s->vio.nbytes = 0;
    s->vio.op     = VIO::NONE;
    s->vio._cont  = nullptr;
  }
  if (alerrno != -1 && alerrno != 0) {
    lerrno = alerrno;
    note_connect_abandoned(); // the user gave up on the connect (its own connect timeout, say)
  }
  if (oob) {
    if (oob->retry && is_owner_thread()) {
      cancel_OOB();
    }
    oob->cont = nullptr;
  }

  EThread *t       = this_ethread();
  NetHandler *h    = nh;
  bool on_owner    = thread == nullptr || t == thread;
  bool nh_is_ours  = h != nullptr && h->mutex->thread_holding.load(std::memory_order_relaxed) == t;
  bool nh_lockable = h != nullptr && (nh_is_ours || (on_owner && h->mutex->try_acquire(t)));
  // `recursion` is owner-thread state: only the owner may look at it.
  bool in_callback  = on_owner && recursion > 0;
  bool close_inline = on_owner && !in_callback && (h == nullptr || nh_lockable);

  if (close_inline) {
    closed.store(alerrno == -1 ? kClosed : kAborted, std::memory_order_release);
    if (h) {
      h->free_netvc(this);
      if (!nh_is_ours) {
        h->mutex->release();
      }
    } else {
      free_thread(t);
    }
    return;
  }
  if (nh_lockable && !nh_is_ours) {
    h->mutex->release();
  }
  if (in_callback || h == nullptr) {
    // Inside a call-back on this VC: the unwinding signal_and_update frees it.
    closed.store(alerrno == -1 ? kClosed : kAborted, std::memory_order_release);
    return;
  }
  // Another thread (or the owner while a foreign thread holds the NetHandler lock): hand the VC to
  // its owner through the enable list so it is freed promptly, not at the next InactivityCop pass.
  // The in_enabled_list flag is claimed before `closed` is published, so an owner that sees `closed`
  // waits for this push to land before freeing (see NetHandler::free_netvc).
  bool push = !read.in_enabled_list.exchange(true, std::memory_order_acq_rel);
  closed.store(alerrno == -1 ? kClosed : kAborted, std::memory_order_release);
  if (push) {
    h->push_enable(read, this);
  } else {
    h->signal_activity();
  }
}

void
UnixNetVConnection::do_io_shutdown(ShutdownHowTo_t howto)
{
  IOCORE_DEBUG(DebugTag::kIocoreNet, "vc %" PRIu64 ": do_io_shutdown(%s)", id,
               howto == IO_SHUTDOWN_READ    ? "read"
               : howto == IO_SHUTDOWN_WRITE ? "write"
                                            : "read+write");
  auto shut = [this](NetState &s, uint8_t flag) {
    s.enabled.store(false, std::memory_order_relaxed);
    s.vio.buffer.clear();
    s.vio.nbytes = 0;
    s.vio._cont  = nullptr;
    shutdown_flags |= flag;
  };
  switch (howto) {
  case IO_SHUTDOWN_READ:
    ::shutdown(fd, SHUT_RD);
    shut(read, kShutdownRead);
    break;
  case IO_SHUTDOWN_WRITE:
    ::shutdown(fd, SHUT_WR);
    shut(write, kShutdownWrite);
    break;
  case IO_SHUTDOWN_READWRITE:
    ::shutdown(fd, SHUT_RDWR);
    shut(read, kShutdownRead);
    shut(write, kShutdownWrite);
    break;
  }
}

// --- Enabling -------------------------------------------------------------------------------------------

ink_hrtime
UnixNetVConnection::effective_inactivity_timeout() const
{
  return inactivity_timeout_in.value_or(net_config().default_inactivity_timeout);
}

void
UnixNetVConnection::net_activity()
{
  ink_hrtime t = effective_inactivity_timeout();
  next_inactivity_timeout_at.store(t > 0 ? thread->now() + t : 0, std::memory_order_relaxed);
  timed_out = false;
}

void
UnixNetVConnection::set_enabled(NetState &s)
{
  s.enabled.store(true, std::memory_order_relaxed);
  ink_hrtime t = effective_inactivity_timeout();
  if (t > 0 && next_inactivity_timeout_at.load(std::memory_order_relaxed) == 0) {
    ink_hrtime now = thread ? thread->now() : ink_get_hrtime();
    next_inactivity_timeout_at.store(now + t, std::memory_order_relaxed);
  }
}

void
UnixNetVConnection::reenable_with_nh_locked(NetState &s)
{
  if (s.triggered || handshake_pending) {
    nh->ready_list(s.dir).in_or_enqueue(this);
  } else {
    nh->ready_list(s.dir).remove(this);
  }
}

void
UnixNetVConnection::reenable(VIO *vio)
{
  IOCORE_ASSERT_USAGE(!vio->mutex || vio->mutex->is_held_by_current_thread(),
                      "vc %" PRIu64 ": reenable of its %s VIO without holding the VIO's mutex (its continuation's)", id,
                      vio == &read.vio ? "read" : "write");
  NetState &s = state_of(*vio);
  if (s.enabled.load(std::memory_order_relaxed)) {
    return;
  }
  set_enabled(s);
  if (thread == nullptr || nh == nullptr || closed.load(std::memory_order_acquire)) {
    return; // not on a net thread yet: the IO starts when it joins one
  }
  EThread *t = this_ethread();
  if (t == thread) {
    // On the owner thread the lists may be touched directly when the NetHandler lock is ours or free.
    if (nh->mutex->thread_holding.load(std::memory_order_relaxed) == t) {
      reenable_with_nh_locked(s);
      return;
    }
    MutexTryLock lock(nh->mutex, t);
    if (lock.is_locked()) {
      reenable_with_nh_locked(s);
      return;
    }
  }
  // Another thread, or the lock is busy: the owner picks it up from the enable list (and is woken).
  if (!s.in_enabled_list.exchange(true, std::memory_order_acq_rel)) {
    nh->push_enable(s, this);
  } else {
    nh->signal_activity();
  }
}

void
UnixNetVConnection::reenable_re(VIO *vio)
{
  IOCORE_ASSERT_USAGE(!vio->mutex || vio->mutex->is_held_by_current_thread(),
                      "vc %" PRIu64 ": reenable_re of its %s VIO without holding the VIO's mutex (its continuation's)", id,
                      vio == &read.vio ? "read" : "write");
  NetState &s = state_of(*vio);
  if (thread == nullptr || nh == nullptr) {
    return;
  }
  EThread *t = this_ethread();
  if (t != thread || nh->mutex->thread_holding.load(std::memory_order_relaxed) != t) {
    reenable(vio);
    return;
  }
  set_enabled(s);
  if (handshake_pending) {
    nh->ready_list(s.dir).in_or_enqueue(this); // the handshake runs in the NetHandler's pass
    return;
  }
  if (!s.triggered) {
    nh->ready_list(s.dir).remove(this);
    return;
  }
  // Inside a net call-back on the owner thread: do the IO now, on this stack (the "re" of the name:
  // the continuation may be called back before reenable_re returns).
  if (s.dir == Direction::kRead) {
    net_count(net_counters().calls_to_readfromnet);
    read_step(*nh);
  } else {
    net_count(net_counters().calls_to_writetonet);
    write_step(*nh);
  }
}

void
UnixNetVConnection::note_connect_failed()
{
  if (connect_pending.exchange(false, std::memory_order_relaxed)) {
    net_count(net_counters().connect_failures);
    IOCORE_DEBUG(DebugTag::kConnect, "vc %" PRIu64 ": connect to %s failed (lerrno %d)", id,
                 get_remote_endpoint().to_string().c_str(), lerrno);
  }
}

void
UnixNetVConnection::note_connect_abandoned()
{
  if (!connect_pending.load(std::memory_order_relaxed)) {
    return;
  }
  if (fd >= 0 && socket_peer_address(fd).is_valid()) {
    connect_pending.store(false, std::memory_order_relaxed); // connected; the poller had not said so yet
    IOCORE_DEBUG(DebugTag::kConnect, "vc %" PRIu64 ": connected (seen at a timeout or close)", id);
    return;
  }
  note_connect_failed();
}

bool
UnixNetVConnection::closed_during_io(NetHandler &h, MutexTryLock &lock)
{
  if (!closed.load(std::memory_order_acquire)) {
    return false;
  }
  if (recursion == 0) {
    lock.release();
    h.free_netvc(this);
  }
  return true;
}

bool
UnixNetVConnection::begin_io_step(NetHandler &h, NetState &s, MutexTryLock &lock, bool spliced)
{
  // The VIO's mutex is read again under the lock: the state machine may have swapped it (holding
  // the old one) between this step reading it and locking it; the old one protects nothing now.
  if (!lock.is_locked() || lock.get_mutex() != s.vio.mutex.get()) {
    h.note_lock_miss();
    reschedule(s);
    return false;
  }
  if (closed_during_io(h, lock)) {
    return false;
  }
  bool is_read    = s.dir == Direction::kRead;
  bool has_buffer = spliced ? is_splicing(s) : is_read ? s.vio.buffer.writer() != nullptr : s.vio.buffer.reader() != nullptr;
  if (!s.enabled.load(std::memory_order_relaxed) || s.vio.op != (is_read ? VIO::READ : VIO::WRITE) || !has_buffer) {
    disable(s);
    return false;
  }
  return true;
}

void
UnixNetVConnection::reschedule(NetState &s)
{
  if (s.triggered && s.enabled.load(std::memory_order_relaxed)) {
    nh->ready_list(s.dir).in_or_enqueue(this);
  } else {
    nh->ready_list(s.dir).remove(this);
  }
}

void
UnixNetVConnection::disable(NetState &s)
{
  NetState &other = s.dir == Direction::kRead ? write : read;
  if (!other.enabled.load(std::memory_order_relaxed)) {
    // Nothing is wanted in either direction: the inactivity clock stops (and restarts on reenable).
    next_inactivity_timeout_at.store(0, std::memory_order_relaxed);
  }
  s.enabled.store(false, std::memory_order_relaxed);
  if (nh) {
    nh->ready_list(s.dir).remove(this);
  }
}

// --- Call-backs -------------------------------------------------------------------------------------------

SignalResult
UnixNetVConnection::signal_and_update(NetState &s, int event)
{
  IOCORE_DEBUG(DebugTag::kIocoreNet, "vc %" PRIu64 ": %s to the %s side%s", id, event_name(event),
               s.dir == Direction::kRead ? "read" : "write", s.vio._cont ? "" : " (no continuation)");
  IOCORE_ASSERT_USAGE(s.vio._cont != nullptr || event == VC_EVENT_EOS || event == VC_EVENT_ERROR ||
                          event == VC_EVENT_ACTIVE_TIMEOUT || event == VC_EVENT_INACTIVITY_TIMEOUT,
                      "vc %" PRIu64 ": %s for a %s VIO that has no continuation (started with a null continuation and a buffer?)",
                      id, event_name(event), s.dir == Direction::kRead ? "read" : "write");
  ++recursion;
  if (Continuation *c = s.vio._cont) {
    c->handleEvent(event, &s.vio);
  } else if (event == VC_EVENT_EOS || event == VC_EVENT_ERROR || event == VC_EVENT_ACTIVE_TIMEOUT ||
             event == VC_EVENT_INACTIVITY_TIMEOUT) {
    // Nobody to tell: an orphaned connection closes itself.
    closed.store(kClosed, std::memory_order_release);
  }
  if (--recursion == 0 && closed.load(std::memory_order_acquire)) {
    nh->free_netvc(this);
    return SignalResult::kClosed;
  }
  return SignalResult::kContinue;
}

SignalResult
UnixNetVConnection::signal_done(NetState &s, int event)
{
  disable(s);
  if (signal_and_update(s, event) == SignalResult::kClosed) {
    return SignalResult::kClosed;
  }
  reschedule(s);
  return SignalResult::kContinue;
}

SignalResult
UnixNetVConnection::signal_error(NetState &s, int err)
{
  lerrno = err;
  return signal_done(s, VC_EVENT_ERROR);
}

bool
UnixNetVConnection::signal_and_recheck(NetState &s, MutexTryLock &lock, int event, bool spliced)
{
  if (signal_and_update(s, event) == SignalResult::kClosed) {
    return false;
  }
  if (lock.get_mutex() != s.vio.mutex.get() || is_splicing(s) != spliced) {
    // A new mutex: the one held here no longer protects the VIO. A pipe where there was none, or
    // none where there was one: the continuation restarted the direction in the other form
    // (do_io_read_splice inside READ_READY, say), which this step cannot serve; the next step is
    // the right kind.
    reschedule(s);
    return false;
  }
  return true;
}

// --- The read path -------------------------------------------------------------------------------------

void
UnixNetVConnection::net_read_io(NetHandler &h)
{
  read_from_net(h);
}

UnixNetVConnection::SocketRead
UnixNetVConnection::read_socket(NetHandler &h, MIOBuffer &writer, int64_t toread)
{
  // Fill the write blocks from first_write_block() on, NET_MAX_IOV at a time, while each call
  // fills all it was offered.
  SocketRead got;
  IOBufferBlock *b  = writer.first_write_block();
  int64_t attempted = 0;
  do {
    iovec iov[NET_MAX_IOV];
    int niov  = 0;
    attempted = 0;
    while (b != nullptr && niov < NET_MAX_IOV) {
      int64_t a    = b->write_avail();
      int64_t togo = toread - got.total - attempted;
      if (a > 0) {
        a                  = std::min(a, togo);
        iov[niov].iov_base = b->end();
        iov[niov].iov_len  = static_cast<size_t>(a);
        attempted += a;
        ++niov;
        if (a >= togo) {
          break;
        }
      }
      b = b->next.get();
    }
    if (niov == 0) {
      break;
    }
    // recv/recvmsg as ATS master (7.1: read/readv): the socket calls skip read()'s VFS layer and
    // its file-position lock (fdget_pos showed in perf). A Unix-domain stream stops a read where
    // ancillary data (descriptors, credentials) was attached, with more data behind it; recvmsg's
    // MSG_CTRUNC tells such a stop from a drained socket (the data is read on at once; the
    // ancillary data, never asked for, is dropped and any descriptors in it closed by the kernel).
    ssize_t n;
    bool cut_at_ancillary = false;
    if (niov == 1 && !unix_addresses) {
      n = ::recv(fd, iov[0].iov_base, iov[0].iov_len, 0);
    } else {
      msghdr msg{};
      msg.msg_iov      = iov;
      msg.msg_iovlen   = static_cast<size_t>(niov);
      n                = ::recvmsg(fd, &msg, 0);
      cut_at_ancillary = n > 0 && (msg.msg_flags & MSG_CTRUNC) != 0;
    }
    net_count(net_counters().calls_to_read);
    h.note_io();
    if (n <= 0) {
      got.last = n == 0 ? 0 : -errno;
      return got;
    }
    got.total += n;
    got.last = n;
    if (cut_at_ancillary) {
      attempted = n; // not a short read: go on reading
    }
  } while (got.last == attempted && got.total < toread);
  got.short_read = got.last > 0 && got.last < attempted;
  return got;
}

void
UnixNetVConnection::read_from_net(NetHandler &h)
{
  assert_owner_thread();
  NetState &s = read;
  MutexTryLock lock(s.vio.mutex, thread);
  if (!begin_io_step(h, s, lock)) {
    return;
  }
  MIOBuffer *writer = s.vio.buffer.writer();
  // A reset or refusal captured from the poller (socket_error) is not reported here yet: what the
  // peer sent before it still waits in the socket and is read first (the kernel hands out queued
  // data before the error). The error ends the read once a read finds the socket empty.
  int64_t ntodo = s.vio.ntodo();
  if (ntodo <= 0) {
    disable(s);
    return;
  }
  // write_avail() may add a block; it is 0 while unread data is above the water mark (backpressure).
  bool had_no_block = writer->writer_block() == nullptr;
  if (writer->release_when_drained) {
    writer->restore_block_size(); // a shrunk message must not cap what the buffer can take
  }
  int64_t toread     = std::min(writer->write_avail(), ntodo);
  int64_t total_read = 0;
  if (toread > 0) {
    SocketRead got = read_socket(h, *writer, toread);
    total_read     = got.total;
    int64_t last   = got.last;
    IOCORE_DEBUG(DebugTag::kIocoreNet, "vc %" PRIu64 ": read %" PRId64 " bytes (last call %" PRId64 ")", id, total_read, last);
    if (total_read <= 0) {
      s.triggered = false;
      h.read_ready_list.remove(this);
      if (is_would_block(last) && socket_error == 0) {
        net_count(net_counters().calls_to_read_nodata);
        writer->release_if_at_rest(); // hold no buffer memory until data comes
        return;
      }
      // The socket is empty and will stay so: EOS, or the error behind the end. A reset whose
      // error the poller already took (SO_ERROR is cleared by reading it) reads as a plain 0.
      int err = last < 0 && !is_would_block(last) ? static_cast<int>(-last) : socket_error;
      if (err != 0) {
        (void)signal_error(s, err);
      } else {
        (void)signal_done(s, VC_EVENT_EOS);
      }
      return;
    }
    if ((got.short_read && !read_until_eagain) || is_would_block(last)) {
      // A later call of the loop said EAGAIN, or a short read took everything the socket had, so
      // the read that would follow can only say EAGAIN: skip it and wait for the next edge (data
      // that arrives from now on raises one). Not in ATS, which reads until EAGAIN; as nginx with
      // EPOLLRDHUP. Once the peer's FIN, a hang-up, an error or urgent data was reported, keep
      // reading until EAGAIN or the 0 that is EOS (TCP stops a read at the urgent mark with more
      // data behind it).
      s.triggered = false;
      h.read_ready_list.remove(this);
    }
    writer->fill(total_read);
  }
  finish_read(lock, total_read, had_no_block);
}

void
UnixNetVConnection::finish_read(MutexTryLock &lock, int64_t total, bool had_no_block)
{
  NetState &s       = read;
  MIOBuffer *writer = s.vio.buffer.writer();
  if (total > 0) {
    net_count(net_counters().read_bytes, total);
    if (had_no_block && writer->release_when_drained) {
      writer->shrink_sparse_block(); // a small message: keep it in a small block, reuse the big one
    }
    s.vio.ndone += total;
    net_activity();
    if (s.vio.ntodo() <= 0) {
      (void)signal_done(s, VC_EVENT_READ_COMPLETE);
      return;
    }
    if (!signal_and_recheck(s, lock, VC_EVENT_READ_READY)) {
      return;
    }
    writer = s.vio.buffer.writer();
  }
  bool stop = s.vio.ntodo() <= 0 || !s.enabled.load(std::memory_order_relaxed) || writer == nullptr || writer->write_avail() <= 0;
  if (!s.triggered && writer != nullptr) {
    writer->release_if_at_rest(); // the socket is drained (short read): at rest until the next edge
  }
  if (stop) {
    // Full buffer or nothing wanted: stop without an event; the SM reenables after consuming.
    disable(s);
    return;
  }
  reschedule(s);
}

// --- The write path ------------------------------------------------------------------------------------

void
UnixNetVConnection::write_to_net_io(NetHandler &h)
{
  assert_owner_thread();
  if (handshake_pending) {
    handshake_io(h); // ATS's TLS hook of write_to_net_io; no WRITE_READY before the handshake is done
    return;
  }
  NetState &s = write;
  MutexTryLock lock(s.vio.mutex, thread);
  // Unlike ATS's write path, this checks `closed` too: a VC closed asynchronously (from another
  // thread) must not be written to (NetVC.WriteAfterForeignCloseFreesInsteadOfWriting).
  if (!begin_io_step(h, s, lock)) {
    return;
  }
  if (socket_error != 0) {
    s.triggered = false;
    (void)signal_error(s, socket_error);
    return;
  }
  WriteTopUp top = top_up_write(s, lock);
  if (top.towrite <= 0) {
    return;
  }
  uint32_t needs        = 0;
  int64_t total_written = 0;
  int64_t r             = load_buffer_and_write(top.towrite, s.vio.buffer, total_written, needs);
  h.note_io();
  IOCORE_DEBUG(DebugTag::kIocoreNet, "vc %" PRIu64 ": wrote %" PRId64 " of %" PRId64 " bytes (last call %" PRId64 ")", id,
               total_written, top.towrite, r);
  if (total_written <= 0) {
    write_made_no_progress(h, s, r, needs);
    return;
  }
  finish_write(s, lock, total_written, r, top.signalled, needs);
}

UnixNetVConnection::WriteTopUp
UnixNetVConnection::top_up_write(NetState &s, MutexTryLock &lock)
{
  int64_t ntodo = s.vio.ntodo();
  if (ntodo <= 0) {
    disable(s);
    return {};
  }
  MIOBufferAccessor &buf = s.vio.buffer;
  WriteTopUp top{std::min(buf.reader()->read_avail(), ntodo), false};

  // Ask the SM to top up first when the buffer cannot finish the VIO and is at or below its water
  // mark (with the default water mark: empty), so that a writer that only adds data when asked never
  // stalls. With all of nbytes already buffered there is no WRITE_READY here; one comes only after a
  // step the socket cut short (docs/events.md).
  if (top.towrite != ntodo && !buf.writer()->high_water()) {
    if (!signal_and_recheck(s, lock, VC_EVENT_WRITE_READY)) {
      return {};
    }
    ntodo = s.vio.ntodo();
    if (ntodo <= 0 || !s.enabled.load(std::memory_order_relaxed) || buf.reader() == nullptr) {
      disable(s);
      return {};
    }
    top = {std::min(buf.reader()->read_avail(), ntodo), true};
  }
  if (top.towrite <= 0) {
    disable(s);
  }
  return top;
}

void
UnixNetVConnection::write_made_no_progress(NetHandler &h, NetState &s, int64_t r, uint32_t needs)
{
  if (is_would_block(r)) {
    net_count(net_counters().calls_to_write_nodata);
    if (needs & kWritable) {
      s.triggered = false;
      h.write_ready_list.remove(this);
    }
    if (needs & kReadable) {
      read.triggered = false;
      h.read_ready_list.remove(this);
    }
    return;
  }
  s.triggered = false;
  (void)signal_error(s, r < 0 ? static_cast<int>(-r) : EPIPE);
}

void
UnixNetVConnection::finish_write(NetState &s, MutexTryLock &lock, int64_t total_written, int64_t r, bool signalled, uint32_t needs)
{
  MIOBufferAccessor &buf = s.vio.buffer;
  net_count(net_counters().write_bytes, total_written);
  s.vio.ndone += total_written;
  net_activity();
  if (is_would_block(r)) {
    s.triggered = false; // the kernel's buffer filled up part way
  }
  int wbe_event = write_buffer_empty_event;
  if (!buf.reader()->is_read_avail_more_than(0)) {
    write_buffer_empty_event = 0;
  }
  if (s.vio.ntodo() <= 0) {
    (void)signal_done(s, VC_EVENT_WRITE_COMPLETE);
    return;
  }
  int event = 0;
  if (!signalled || !buf.writer()->high_water()) {
    event = VC_EVENT_WRITE_READY;
  } else if (wbe_event != write_buffer_empty_event) {
    event = wbe_event; // the write-buffer-empty trap fired and nothing else is being sent
  }
  // The state machine may change the mutex in the write-buffer-empty call-back too; ATS only checks
  // after WRITE_READY. Checked for every event here (NetVC.MutexChangedInWriteBufferEmptyCallbackIsHonoured).
  if (event != 0 && !signal_and_recheck(s, lock, event)) {
    return;
  }
  if (needs & kReadable) {
    reschedule(read);
  }
  if (buf.reader() == nullptr || !buf.reader()->is_read_avail_more_than(0)) {
    if (buf.reader() != nullptr) {
      buf.writer()->release_if_at_rest();
    }
    disable(s); // drained: the SM reenables after adding data
    return;
  }
  reschedule(s);
}

int64_t
UnixNetVConnection::load_buffer_and_write(int64_t towrite, MIOBufferAccessor &buf, int64_t &total_written, uint32_t &needs)
{
  IOBufferReader *reader = buf.reader();
  int64_t r              = 0;
  while (total_written < towrite) {
    iovec iov[NET_MAX_IOV];
    int niov          = 0;
    int64_t attempted = 0;
    IOBufferBlock *b  = reader->block.get();
    int64_t offset    = reader->start_offset;
    while (b != nullptr && niov < NET_MAX_IOV && attempted < towrite - total_written) {
      int64_t len = b->read_avail() - offset;
      if (len <= 0) {
        offset = -len;
        b      = b->next.get();
        continue;
      }
      len                = std::min(len, towrite - total_written - attempted);
      iov[niov].iov_base = b->start() + offset;
      iov[niov].iov_len  = static_cast<size_t>(len);
      attempted += len;
      ++niov;
      offset = 0;
      b      = b->next.get();
    }
    if (niov == 0) {
      break;
    }
    ssize_t n;
    if (niov == 1) {
      n = ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    } else {
      msghdr msg{};
      msg.msg_iov    = iov;
      msg.msg_iovlen = static_cast<size_t>(niov);
      n              = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    }
    net_count(net_counters().calls_to_write);
    if (n < 0) {
      r = -errno;
      break;
    }
    reader->consume(n);
    total_written += n;
    r = n;
    if (n < attempted) {
      break; // the socket buffer is full
    }
  }
  needs |= kWritable;
  return r;
}

// --- Timeouts ------------------------------------------------------------------------------------------

void
UnixNetVConnection::set_inactivity_timeout(ink_hrtime timeout_in)
{
  assert_owner_thread();
  // Arms the clock whatever is enabled, as ATS (next_inactivity_timeout_at = now + timeout): after
  // both directions were disabled (which stops it) this is how an SM, or an orphan, gets it back.
  inactivity_timeout_in = std::max<ink_hrtime>(timeout_in, 0);
  ink_hrtime now        = thread ? thread->now() : ink_get_hrtime();
  next_inactivity_timeout_at.store(timeout_in > 0 ? now + timeout_in : 0, std::memory_order_relaxed);
}

void
UnixNetVConnection::set_active_timeout(ink_hrtime timeout_in)
{
  assert_owner_thread();
  active_timeout_in = std::max<ink_hrtime>(timeout_in, 0);
  ink_hrtime now    = thread ? thread->now() : ink_get_hrtime();
  next_activity_timeout_at.store(timeout_in > 0 ? now + timeout_in : 0, std::memory_order_relaxed);
}

void
UnixNetVConnection::cancel_inactivity_timeout()
{
  inactivity_timeout_in = 0;
  next_inactivity_timeout_at.store(0, std::memory_order_relaxed);
}

void
UnixNetVConnection::cancel_active_timeout()
{
  active_timeout_in = 0;
  next_activity_timeout_at.store(0, std::memory_order_relaxed);
}

ink_hrtime
UnixNetVConnection::get_inactivity_timeout()
{
  return effective_inactivity_timeout();
}

ink_hrtime
UnixNetVConnection::get_active_timeout()
{
  return active_timeout_in;
}

int
UnixNetVConnection::mainEvent(int event, void *data)
{
  assert_owner_thread();
  if (event == kEventOOBRetry) {
    oob->retry = nullptr; // only a pending send_OOB schedules this event, so oob exists
    if (oob->cont != nullptr) {
      std::string pending = std::move(oob->data);
      Continuation *c     = oob->cont;
      oob->cont           = nullptr;
      send_OOB(c, pending.data(), static_cast<int>(pending.size()));
    }
    return EVENT_DONE;
  }
  (void)data;
  MutexTryLock hlock(nh->mutex, thread);
  MutexTryLock rlock(read.vio.mutex ? read.vio.mutex : thread->mutex, thread);
  MutexTryLock wlock(write.vio.mutex ? write.vio.mutex : thread->mutex, thread);
  if (!hlock.is_locked() || !rlock.is_locked() || !wlock.is_locked() ||
      (read.vio.mutex && rlock.get_mutex() != read.vio.mutex.get()) ||
      (write.vio.mutex && wlock.get_mutex() != write.vio.mutex.get())) {
    net_count(net_counters().inactivity_cop_lock_acquire_failure);
    return EVENT_CONT; // the InactivityCop tries again on its next pass
  }
  if (closed.load(std::memory_order_acquire)) {
    rlock.release();
    wlock.release();
    nh->free_netvc(this);
    return EVENT_DONE;
  }
  bool inactivity                   = event == VC_EVENT_INACTIVITY_TIMEOUT || event == EVENT_IMMEDIATE;
  int signal_event                  = inactivity ? VC_EVENT_INACTIVITY_TIMEOUT : VC_EVENT_ACTIVE_TIMEOUT;
  std::atomic<ink_hrtime> &deadline = inactivity ? next_inactivity_timeout_at : next_activity_timeout_at;
  deadline.store(0, std::memory_order_relaxed); // one-shot: re-armed by activity or a new setter call
  net_count(inactivity ? net_counters().inactivity_timeouts : net_counters().active_timeouts);
  note_connect_abandoned(); // a timeout before the TCP handshake completed
  timed_out = inactivity;   // an active timeout may end a peer that is reading well

  // A direction started without a continuation (do_io_read(nullptr, 0, nullptr)) has nobody to
  // tell. When no direction has anyone, the connection is an orphan and closes itself (ATS:
  // read_signal_and_update's default branch, TS-4131). Unlike ATS, a read side without a
  // continuation does not close a connection whose write side still has one to tell.
  bool read_running  = read.vio.op == VIO::READ && !(shutdown_flags & kShutdownRead);
  bool write_running = write.vio.op == VIO::WRITE && !(shutdown_flags & kShutdownWrite);
  bool orphan        = (read_running || write_running) && !(read_running && read.vio._cont) && !(write_running && write.vio._cont);
  IOCORE_DEBUG(DebugTag::kInactivityCop, "vc %" PRIu64 ": %s%s", id, event_name(signal_event), orphan ? ": an orphan, closed" : "");
  if (orphan) {
    closed.store(kClosed, std::memory_order_release);
    rlock.release();
    wlock.release();
    nh->free_netvc(this);
    return EVENT_DONE;
  }
  Continuation *writer_cont = write.vio._cont;
  Continuation *reader_cont = nullptr;
  if (read_running && read.vio._cont) {
    reader_cont = read.vio._cont;
    if (signal_and_update(read, signal_event) == SignalResult::kClosed) {
      return EVENT_DONE;
    }
  }
  // The write side is told too unless the read side's continuation re-armed the timeout, closed the
  // VC, is the same continuation, or replaced the write continuation meanwhile.
  if (deadline.load(std::memory_order_relaxed) == 0 && !closed.load(std::memory_order_acquire) && write_running &&
      write.vio._cont != nullptr && !(shutdown_flags & kShutdownWrite) && reader_cont != write.vio._cont &&
      writer_cont == write.vio._cont) {
    if (signal_and_update(write, signal_event) == SignalResult::kClosed) {
      return EVENT_DONE;
    }
  }
  return EVENT_DONE;
}

// --- Queues ----------------------------------------------------------------------------------------------

void
UnixNetVConnection::add_to_keep_alive_queue()
{
  assert_owner_thread();
  MutexLock lock(nh->mutex, thread);
  nh->add_to_keep_alive_queue(this);
}

void
UnixNetVConnection::remove_from_keep_alive_queue()
{
  if (nh == nullptr) {
    return;
  }
  assert_owner_thread();
  MutexLock lock(nh->mutex, thread);
  nh->remove_from_keep_alive_queue(this);
}

bool
UnixNetVConnection::add_to_active_queue()
{
  assert_owner_thread();
  MutexLock lock(nh->mutex, thread);
  return nh->add_to_active_queue(this);
}

void
UnixNetVConnection::remove_from_active_queue()
{
  if (nh == nullptr) {
    return;
  }
  assert_owner_thread();
  MutexLock lock(nh->mutex, thread);
  nh->remove_from_active_queue(this);
}

// --- Out-of-band data ------------------------------------------------------------------------------------

Action *
UnixNetVConnection::send_OOB(Continuation *cont, char *buf, int len)
{
  assert_owner_thread();
  ssize_t n = ::send(fd, buf, static_cast<size_t>(len), MSG_OOB | MSG_NOSIGNAL);
  if (n == len) {
    cont->handleEvent(VC_EVENT_OOB_COMPLETE, nullptr);
    return ACTION_RESULT_DONE;
  }
  if (n == 0) {
    cont->handleEvent(VC_EVENT_EOS, nullptr);
    return ACTION_RESULT_DONE;
  }
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) {
    lerrno = errno;
    cont->handleEvent(VC_EVENT_ERROR, nullptr);
    return ACTION_RESULT_DONE;
  }
  std::size_t sent = n > 0 ? static_cast<std::size_t>(n) : 0;
  if (!oob) {
    oob = std::make_unique<OOBState>();
  }
  oob->cont = cont;
  oob->data.assign(buf + sent, static_cast<std::size_t>(len) - sent);
  oob->retry = thread->schedule_in(this, kOOBRetryDelay, kEventOOBRetry);
  return oob->retry;
}

void
UnixNetVConnection::cancel_OOB()
{
  if (!oob) {
    return;
  }
  if (oob->retry != nullptr) {
    oob->retry->cancel();
    oob->retry = nullptr;
  }
  oob->cont = nullptr;
  oob->data.clear();
}

// --- Socket options ---------------------------------------------------------------------------------------

int
UnixNetVConnection::apply_options()
{
  if (fd < 0) {
    return -EBADF;
  }
  return apply_socket_options(fd, unix_addresses ? AF_UNIX : remote_addr.family(), options, SocketState::kLive);
}

int
UnixNetVConnection::set_tcp_init_cwnd(int init_cwnd)
{
#ifdef TCP_INIT_CWND
  if (unix_addresses) {
    return -EOPNOTSUPP;
  }
  uint32_t val = static_cast<uint32_t>(init_cwnd);
  return ::setsockopt(fd, IPPROTO_TCP, TCP_INIT_CWND, &val, sizeof(val)) == 0 ? 0 : -errno;
#else
  (void)init_cwnd;
  return -EOPNOTSUPP;
#endif
}

// --- Accept, connect, migrate ---------------------------------------------------------------------------

void
UnixNetVConnection::set_local_addr()
{
  set_local_endpoint(socket_local_address(fd));
}

int
UnixNetVConnection::acceptEvent(int event, void *data)
{
  (void)event;
  EThread *t    = this_ethread();
  Event *e      = static_cast<Event *>(data);
  NetHandler *h = get_NetHandler(t);
  MutexTryLock lock(h->mutex, t);
  if (!lock.is_locked()) {
    if (e) {
      e->schedule_in(kLockRetryDelay);
    } else {
      t->schedule_in(this, kLockRetryDelay);
    }
    return EVENT_CONT;
  }
  if (nh == nullptr) {
    // First call: join this thread's NetHandler.
    thread = t;
    if (h->start_io(this) < 0) {
      h->free_netvc(this);
      return EVENT_DONE;
    }
    h->start_cop(this);
    // Data may already wait on the socket (TS-3714): try a read as soon as one is wanted.
    read.triggered = true;
    set_local_addr();
  }
  if (action_.cancelled.load(std::memory_order_acquire) ||
      (accept_object != nullptr && accept_object->group.cancelled.load(std::memory_order_acquire))) {
    h->free_netvc(this);
    return EVENT_DONE;
  }
  Continuation *acceptor = action_.continuation;
  MutexTryLock alock(acceptor->mutex ? acceptor->mutex : mutex, t);
  if (!alock.is_locked()) {
    // The acceptor is busy on another thread: the call-back is retried, never dropped.
    if (e) {
      e->schedule_in(kLockRetryDelay);
    } else {
      t->schedule_in(this, kLockRetryDelay);
    }
    return EVENT_CONT;
  }
  set_handler(&UnixNetVConnection::mainEvent);
  ++recursion;
  acceptor->handleEvent(NET_EVENT_ACCEPT, this);
  if (--recursion == 0 && closed.load(std::memory_order_acquire)) {
    alock.release();
    h->free_netvc(this);
  }
  return EVENT_DONE;
}

int
UnixNetVConnection::startEvent(int event, void *data)
{
  (void)event;
  Event *e      = static_cast<Event *>(data);
  EThread *t    = e->ethread;
  NetHandler *h = get_NetHandler(t);
  MutexTryLock lock(h->mutex, t);
  if (!lock.is_locked()) {
    e->schedule_in(kLockRetryDelay);
    return EVENT_CONT;
  }
  if (action_.cancelled.load(std::memory_order_acquire)) {
    // Never reached a NetHandler: no lists, nothing to call back; just the memory (as ATS's free();
    // NetConnect.CancelledBeforeItStartsIsFreedQuietly) and the socket of an adopted or blocking
    // connect.
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
    free_thread(t);
    return EVENT_DONE;
  }
  (void)connectUp(t);
  return EVENT_DONE;
}

ConnectResult
UnixNetVConnection::connectUp(EThread *t)
{
  thread         = t;
  NetHandler *h  = get_NetHandler(t);
  NetConfig &cfg = net_config();
  int res        = 0;
  // A socket already there is connected: adopted (adopt_fd) or connected by f_blocking_connect.
  bool connected = fd != NO_FD;
  if (cfg.throttle_connections > 0 &&
      net_counters().connections_currently_open.load(std::memory_order_relaxed) >= cfg.throttle_connections) {
    net_count(net_counters().throttled);
    res = -ENET_THROTTLING;
  } else if (connected) {
    // Data or room may be there already, and this thread has seen no edge for it.
    read.triggered  = true;
    write.triggered = true;
    res             = h->start_io(this);
  } else {
    SocketAddress remote = get_remote_endpoint();
    options.ip_family    = remote.family();
    res                  = open_socket_for_connect(options, remote, fd);
    if (res == 0) {
      res = h->start_io(this);
      if (res == 0 && ::connect(fd, remote.sa(), remote.size()) < 0 && errno != EINPROGRESS) {
        res = -errno;
      }
    }
  }
  if (res != 0) {
    net_count(net_counters().connect_failures);
    lerrno = -res;
    IOCORE_DEBUG(DebugTag::kConnect, "vc %" PRIu64 ": connect to %s failed at once: %s", id,
                 get_remote_endpoint().to_string().c_str(), res == -ENET_THROTTLING ? "throttled" : std::strerror(-res));
    if (nh) {
      h->stop_io(this);
    }
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
    action_.continuation->handleEvent(NET_EVENT_OPEN_FAILED, reinterpret_cast<void *>(static_cast<intptr_t>(res)));
    free_thread(t);
    return ConnectResult::kFailure;
  }
  net_count(net_counters().connections_currently_open);
  net_count(net_counters().connects);
  // Settled by the poller's first report on the socket (an immediate success reports writable); a
  // socket that came connected has nothing left to settle.
  connect_pending.store(!connected, std::memory_order_relaxed);
  IOCORE_DEBUG(DebugTag::kConnect, "vc %" PRIu64 ": %s %s (fd %d)", id, connected ? "adopted, connected to" : "connecting to",
               get_remote_endpoint().to_string().c_str(), fd);
  set_handler(&UnixNetVConnection::mainEvent);
  h->start_cop(this);
  set_local_addr();
  ++recursion;
  action_.continuation->handleEvent(NET_EVENT_OPEN, this);
  if (--recursion == 0 && closed.load(std::memory_order_acquire)) {
    h->free_netvc(this);
  }
  return ConnectResult::kSuccess;
}

int
UnixNetVConnection::populate(int sock, Continuation *c)
{
  EThread *t    = this_ethread();
  NetHandler *h = get_NetHandler(t);
  if (h == nullptr) {
    return -EINVAL;
  }
  MutexTryLock lock(h->mutex, t);
  if (!lock.is_locked()) {
    return -EAGAIN;
  }
  thread = t;
  fd     = sock;
  mutex  = c->mutex ? c->mutex : new_ProxyMutex();
  if (int r = h->start_io(this); r < 0) {
    fd = -1;
    return r;
  }
  set_handler(&UnixNetVConnection::mainEvent);
  h->start_cop(this);
  if (!remote_addr.is_valid() && !unix_addresses) {
    // Not a migration (which copies them): the read path needs to know a Unix-domain socket.
    set_remote_endpoint(socket_peer_address(fd));
    set_local_addr();
  }
  // The old thread may have consumed the readiness edges: look for data and room at once.
  read.triggered  = true;
  write.triggered = true;
  return 0;
}

UnixNetVConnection *
UnixNetVConnection::migrateToCurrentThread(Continuation *c, EThread *t)
{
  NetHandler *target = get_NetHandler(t);
  if (t == nullptr || this_ethread() != t || target == nullptr) {
    return nullptr;
  }
  if (nh == target) {
    return this;
  }
  // The caller holds this VC's VIO mutexes (it is the state machine), so the old owner is not
  // doing IO on the socket now. Stop the old thread polling it before the new one starts.
  int sock = fd;
  if (nh != nullptr && sock >= 0) {
    nh->poller->remove(sock);
  }
  fd = -1;

  UnixNetVConnection *nvc = alloc_same_kind();
  nvc->options            = options;
  nvc->remote_addr        = remote_addr;
  nvc->local_addr         = local_addr;
  if (unix_addresses) {
    nvc->unix_addresses = std::make_unique<UnixAddresses>(*unix_addresses);
  }
  nvc->is_outbound = is_outbound;
  nvc->action_     = action_;
  int r            = nvc->populate(sock, c);
  if (r != 0) {
    // Put the socket back so that closing the old VC closes it.
    fd = sock;
    if (nh != nullptr) {
      nh->poller->add(sock, kReadable | kWritable, &ep);
    }
    nvc->free_thread(t);
    do_io_close();
    return nullptr;
  }
  move_kind_state_to(nvc);
  do_io_close();
  return nvc;
}
} // namespace iocore
