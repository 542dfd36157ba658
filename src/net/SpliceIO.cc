// SpliceIO: UnixNetVConnection's splice(2) steps, for VIOs whose buffer is a SplicePipe
// (do_io_read_splice / do_io_write_splice). The NetHandler's read and write steps come here instead
// of net_read_io / write_to_net_io when a direction is spliced; the events, the enabled / triggered
// bookkeeping, the counters and the inactivity clock are those of the buffered steps.
#include "net/UnixNetVConnection.h"

#include "iocore/eventsystem/Continuation.h"

#include "eventsystem/DebugLog.h"
#include "net/NetHandler.h"
#include "net/NetStats.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>

namespace iocore {
namespace {
  /// Never block on either end: the socket is non-blocking anyway; the pipe must not wait either.
  constexpr unsigned kSpliceFlags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;

  bool is_would_block(int err)
  {
    return err == EAGAIN || err == EWOULDBLOCK || err == ENOTCONN || err == EINPROGRESS;
  }

  /// Bytes waiting in the socket's receive queue (0 when the kernel cannot tell).
  int64_t bytes_queued(int fd)
  {
    int n = 0;
    return ::ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
  }
} // namespace

void
UnixNetVConnection::read_step(NetHandler &h)
{
  if (is_splicing(read)) {
    splice_read_io(h);
  } else {
    net_read_io(h);
  }
}

void
UnixNetVConnection::write_step(NetHandler &h)
{
  if (is_splicing(write)) {
    splice_write_io(h);
  } else {
    write_to_net_io(h);
  }
}

VIO *
UnixNetVConnection::do_io_read_splice(Continuation *c, int64_t nbytes, SplicePipe *pipe)
{
  return start_splice(read, c, nbytes, pipe);
}

VIO *
UnixNetVConnection::do_io_write_splice(Continuation *c, int64_t nbytes, SplicePipe *pipe)
{
  return start_splice(write, c, nbytes, pipe);
}

VIO *
UnixNetVConnection::start_splice(NetState &s, Continuation *c, int64_t nbytes, SplicePipe *pipe)
{
  assert_owner_thread();
  bool is_read = s.dir == Direction::kRead;
  IOCORE_ASSERT_USAGE(c != nullptr && pipe != nullptr && pipe->is_open(),
                      "vc %" PRIu64 ": %s needs a continuation and an open pipe", id,
                      is_read ? "do_io_read_splice" : "do_io_write_splice");
  if (!can_splice()) {
    lerrno = ENOTSUP;
    return nullptr;
  }
  // do_io_read / do_io_write without a buffer sets the VIO up (forgetting any earlier pipe) and
  // leaves it stopped; the pipe then starts it.
  VIO *vio = is_read ? do_io_read(c, nbytes, nullptr) : do_io_write(c, nbytes, nullptr);
  if (vio == nullptr) {
    return nullptr;
  }
  s.splice = pipe;
  if (is_read || nbytes != 0) {
    vio->reenable(); // as start_vio: a write of nothing is not started, a read of nothing is
  }
  return vio;
}

void
UnixNetVConnection::splice_read_io(NetHandler &h)
{
  assert_owner_thread();
  NetState &s = read;
  MutexTryLock lock(s.vio.mutex, thread);
  if (!begin_io_step(h, s, lock, true)) {
    return;
  }
  SplicePipe &pipe = *s.splice;
  int64_t toread   = std::min(s.vio.ntodo(), pipe.room());
  if (toread <= 0) {
    disable(s); // finished, or the pipe is full: the SM reenables once the write side made room
    return;
  }
  ssize_t n = ::splice(fd, nullptr, pipe.write_fd(), nullptr, static_cast<size_t>(toread), kSpliceFlags);
  int err   = n < 0 ? errno : 0;
  net_count(net_counters().calls_to_read);
  h.note_io();
  IOCORE_DEBUG(DebugTag::kIocoreNet, "vc %" PRIu64 ": spliced %zd of %" PRId64 " bytes in (pipe %" PRId64 "/%" PRId64 ")", id, n,
               toread, pipe.size() + std::max<ssize_t>(n, 0), pipe.capacity());

  if (n > 0) {
    // A short splice does not prove the socket drained (the pipe may have run out of page slots
    // before its byte limit): triggered stays, and the next step's EAGAIN says which it was.
    pipe._size += n;
    net_count(net_counters().read_bytes, n);
    s.vio.ndone += n;
    net_activity();
    if (s.vio.ntodo() <= 0) {
      (void)signal_done(s, VC_EVENT_READ_COMPLETE);
      return;
    }
    if (!signal_and_recheck(s, lock, VC_EVENT_READ_READY, true)) {
      return;
    }
    if (!s.enabled.load(std::memory_order_relaxed) || s.vio.ntodo() <= 0 || s.splice->room() <= 0) {
      disable(s);
      return;
    }
    reschedule(s);
    return;
  }

  if (n == 0) {
    // The peer's FIN; or a reset whose error the poller took already (reading SO_ERROR clears it).
    s.triggered = false;
    h.read_ready_list.remove(this);
    if (socket_error != 0) {
      (void)signal_error(s, socket_error);
    } else {
      (void)signal_done(s, VC_EVENT_EOS);
    }
    return;
  }

  if (is_would_block(err)) {
    if (pipe.size() > 0 && bytes_queued(fd) > 0) {
      // Data waits but the pipe took none: its page slots ran out before its byte limit (the data
      // came in many small pieces). Stop as at a full buffer; the write side's progress reenables.
      disable(s);
      return;
    }
    s.triggered = false;
    h.read_ready_list.remove(this);
    if (socket_error == 0) {
      net_count(net_counters().calls_to_read_nodata);
      return;
    }
    // A reset or refusal seen by the poller: what the peer sent before it has been read now.
    err = socket_error;
  }
  s.triggered = false;
  h.read_ready_list.remove(this);
  (void)signal_error(s, err);
}

void
UnixNetVConnection::splice_write_io(NetHandler &h)
{
  assert_owner_thread();
  NetState &s = write;
  MutexTryLock lock(s.vio.mutex, thread);
  if (!begin_io_step(h, s, lock, true)) {
    return;
  }
  if (socket_error != 0) {
    s.triggered = false;
    (void)signal_error(s, socket_error);
    return;
  }
  if (s.vio.ntodo() <= 0) {
    disable(s);
    return;
  }
  bool signalled = false;
  if (s.splice->size() == 0) {
    // An empty pipe cannot finish the VIO: ask the SM to top it up first, as write_to_net_io does
    // at an empty buffer.
    if (!signal_and_recheck(s, lock, VC_EVENT_WRITE_READY, true)) {
      return;
    }
    if (!s.enabled.load(std::memory_order_relaxed) || s.vio.ntodo() <= 0) {
      disable(s);
      return;
    }
    signalled = true;
  }
  SplicePipe &pipe = *s.splice;
  int64_t towrite  = std::min(pipe.size(), s.vio.ntodo());
  if (towrite <= 0) {
    disable(s); // drained: the SM reenables after more was spliced in
    return;
  }
  ssize_t n = ::splice(pipe.read_fd(), nullptr, fd, nullptr, static_cast<size_t>(towrite), kSpliceFlags);
  int err   = n < 0 ? errno : 0;
  net_count(net_counters().calls_to_write);
  h.note_io();
  IOCORE_DEBUG(DebugTag::kIocoreNet, "vc %" PRIu64 ": spliced %zd of %" PRId64 " bytes out", id, n, towrite);

  if (n <= 0) {
    if (n < 0 && is_would_block(err)) {
      net_count(net_counters().calls_to_write_nodata);
      s.triggered = false; // the pipe has bytes, so EAGAIN means the socket is full
      h.write_ready_list.remove(this);
      return;
    }
    s.triggered = false;
    (void)signal_error(s, n < 0 ? err : EPIPE);
    return;
  }
  pipe._size -= n;
  net_count(net_counters().write_bytes, n);
  s.vio.ndone += n;
  net_activity();
  if (s.vio.ntodo() <= 0) {
    (void)signal_done(s, VC_EVENT_WRITE_COMPLETE);
    return;
  }
  if (!signalled || pipe.size() == 0) {
    // Room was made in the pipe: the SM may read its source again.
    if (!signal_and_recheck(s, lock, VC_EVENT_WRITE_READY, true)) {
      return;
    }
  }
  if (!s.enabled.load(std::memory_order_relaxed) || s.splice->size() == 0) {
    disable(s);
    return;
  }
  reschedule(s);
}
} // namespace iocore
