// VIO: one read or write operation on a VConnection — how many bytes, how many done, which buffer,
// which continuation to call back. The VConnection owns its VIOs; the VIO stays valid until
// do_io_close(). ndone is advanced by the VConnection only while it holds the VIO's mutex.
#pragma once

#include "iocore/eventsystem/IOBuffer.h"
#include "iocore/eventsystem/Lock.h"
#include "iocore/eventsystem/Ptr.h"

#include <cstdint>

namespace iocore {
class Continuation;
class VConnection;

/// One direction's operation on a VConnection (ATS's VIO): returned by do_io_read / do_io_write,
/// passed as `data` with every VC_EVENT_* of that direction.
class VIO
{
public:
  /// What the VIO does (`op`); the net layer uses NONE, READ and WRITE.
  enum Op { NONE = 0, READ, WRITE, CLOSE, ABORT, SHUTDOWN_READ, SHUTDOWN_WRITE, SHUTDOWN_READWRITE };

  /// A VIO for operation aop (VConnections make their own).
  explicit VIO(int aop = NONE) : op(aop) {}

  /// The continuation called back for this VIO.
  Continuation *get_continuation() const { return _cont; }
  /// Change the continuation called back (and the mutex the VConnection locks for this VIO).
  void set_continuation(Continuation *c);

  /// Bytes still to transfer: nbytes - ndone.
  int64_t ntodo() const { return nbytes - ndone; }
  /// Change the total to transfer (under the VIO's mutex), e.g. once a message's length is known.
  void set_nbytes(int64_t n) { nbytes = n; }
  /// Finish the operation now: nbytes = ndone (the VConnection then stops and signals nothing more
  /// for it). ATS's done() also counts a write VIO's still-buffered bytes; this one does not: bytes
  /// left in the buffer stay unsent.
  void done() { nbytes = ndone; }

  /// For a read VIO, the buffer the VConnection fills.
  MIOBuffer *get_writer() { return buffer.writer(); }
  /// For a write VIO, the reader the VConnection drains.
  IOBufferReader *get_reader() { return buffer.reader(); }

  /// Resume the VConnection's IO for this VIO (call with the VIO's mutex held). The IO runs later on
  /// the connection's thread; never on this stack.
  void reenable();
  /// Same, but when called on the connection's own thread inside a net call-back the IO may run now,
  /// on this stack (so the continuation may be called back before this returns).
  void reenable_re();

  /// The continuation called back (get_continuation()); ATS's field name.
  Continuation *_cont = nullptr;
  /// Bytes to transfer in all (INT64_MAX: until the end of the stream).
  int64_t nbytes = 0;
  /// Bytes transferred so far; advanced by the VConnection under `mutex`.
  int64_t ndone = 0;
  /// An Op.
  int op = NONE;
  /// The buffer: the MIOBuffer a read fills, or the reader a write drains.
  MIOBufferAccessor buffer;
  /// The VConnection this VIO belongs to.
  VConnection *vc_server = nullptr;
  /// The mutex the VConnection holds while it calls back or touches the buffer: the continuation's
  /// mutex when the operation was set up (set_continuation() changes it).
  Ptr<ProxyMutex> mutex;
};
} // namespace iocore
