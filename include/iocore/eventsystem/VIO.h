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

class VIO
{
public:
  enum Op { NONE = 0, READ, WRITE, CLOSE, ABORT, SHUTDOWN_READ, SHUTDOWN_WRITE, SHUTDOWN_READWRITE };

  explicit VIO(int aop = NONE) : op(aop) {}

  Continuation *get_continuation() const { return _cont; }
  /// Change the continuation called back (and the mutex the VConnection locks for this VIO).
  void set_continuation(Continuation *c);

  int64_t ntodo() const { return nbytes - ndone; }
  void set_nbytes(int64_t n) { nbytes = n; }
  /// Finish the operation now: nbytes = ndone (the VConnection then stops and signals nothing more
  /// for it).
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

  Continuation *_cont = nullptr;
  int64_t nbytes      = 0;
  int64_t ndone       = 0;
  int op              = NONE;
  MIOBufferAccessor buffer;
  VConnection *vc_server = nullptr;
  Ptr<ProxyMutex> mutex;
};
} // namespace iocore
