// VConnection: the abstract bidirectional stream of ATS (do_io_read / do_io_write / do_io_close /
// do_io_shutdown). NetVConnection and UnixNetVConnection refine it for sockets.
#pragma once

#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/VIO.h"

#include <cstdint>

namespace iocore {
/// Which direction do_io_shutdown() ends.
enum ShutdownHowTo_t { IO_SHUTDOWN_READ = 0, IO_SHUTDOWN_WRITE, IO_SHUTDOWN_READWRITE };

/// A bidirectional byte stream driven through two VIOs, one per direction (ATS's VConnection).
/// Connections are created by the library (NetProcessor::accept, connect_re); users call the do_io_*
/// operations on them. docs/threading.md says which thread may call what.
class VConnection : public Continuation
{
public:
  /// A VConnection locked by m (library use: connections are created by the net processors).
  explicit VConnection(Ptr<ProxyMutex> m = {}) : Continuation(std::move(m)) {}
  ~VConnection() override = default;

  /// The errno behind the last VC_EVENT_ERROR.
  int lerrno = 0;

  /// Read up to nbytes into buf, calling c back with VC_EVENT_READ_READY / READ_COMPLETE / EOS /
  /// ERROR (data = the VIO). do_io_read(c, 0, nullptr) stops reading; nbytes = INT64_MAX reads
  /// until EOS. Returns the VC's read VIO, valid until do_io_close.
  virtual VIO *do_io_read(Continuation *c, int64_t nbytes, MIOBuffer *buf) = 0;
  /// Write nbytes from buf, calling c back with VC_EVENT_WRITE_READY / WRITE_COMPLETE / ERROR.
  /// do_io_write(c, 0, nullptr) stops writing. `owner` must be false.
  virtual VIO *do_io_write(Continuation *c, int64_t nbytes, IOBufferReader *buf, bool owner = false) = 0;
  /// Close; -1 is a normal close, any other value an abort recorded in lerrno. After it returns the
  /// caller must not touch the VC or its VIOs, and the VC touches none of the caller's objects.
  virtual void do_io_close(int lerrno = -1) = 0;
  /// Half-close one or both directions; no further events for a shut side. do_io_close still needed.
  virtual void do_io_shutdown(ShutdownHowTo_t howto) = 0;

  /// Called by VIO::reenable(); users call the VIO's method.
  virtual void reenable(VIO *vio) { (void)vio; }
  /// Called by VIO::reenable_re().
  virtual void reenable_re(VIO *vio) { reenable(vio); }
};
} // namespace iocore
