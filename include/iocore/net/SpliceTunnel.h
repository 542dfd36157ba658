// SpliceTunnel: two plain connections on one net thread joined by splice(2), one SplicePipe per
// direction, so a byte never enters user space. The same guarantees as a tunnel of two MIOBuffers:
// bounded buffering (the pipe), backpressure both ways, half-closes passed on, timeouts and resets
// reported, byte counts per direction.
#pragma once

#include "iocore/eventsystem/Continuation.h"
#include "iocore/net/NetVConnection.h"
#include "iocore/net/SplicePipe.h"

#include <cstdint>

namespace iocore {
class VIO;

/// Moves bytes a -> b and b -> a until both directions are over:
///   source READ_READY   -> the destination's write VIO is reenabled (the pipe has bytes)
///   dest. WRITE_READY   -> the source's read VIO is reenabled (the pipe has room)
///   source EOS          -> what is in the pipe is written, then shutdown(SHUT_WR) on the destination
///   ERROR on one side   -> nothing more goes to it; what it sent before is still forwarded
///   a timeout           -> the tunnel ends at once
/// Then `done` gets SPLICE_TUNNEL_EVENT_DONE with the tunnel as data; every VIO the tunnel started
/// is stopped by then (the connections stay open: they are the caller's, to close or reuse).
///
/// Threads and locks: a and b must live on the same net thread; start() and destroy() are called
/// there, holding done's mutex, which the tunnel shares (every event of both connections' VIOs runs
/// under it). The caller sets the connections' timeouts.
class SpliceTunnel : public Continuation
{
public:
  /// How the tunnel ended.
  enum class End { kRunning, kEof, kError, kTimeout };
  /// One direction's bytes: read from its source, written to its destination.
  struct Counts {
    int64_t read    = 0; ///< bytes read from the direction's source (its read VIO's ndone)
    int64_t written = 0; ///< bytes written to its destination (its write VIO's ndone)
  };

  /// A tunnel that will report to `done`, with pipes of `pipe_capacity` bytes (see SplicePipe::open).
  SpliceTunnel(Continuation *done, int64_t pipe_capacity);
  ~SpliceTunnel() override;
  SpliceTunnel(const SpliceTunnel &)            = delete;
  SpliceTunnel &operator=(const SpliceTunnel &) = delete;

  /// Make the pipes and start both directions. 0, or -errno with nothing started (the caller may
  /// fall back to a buffered tunnel): -ENOTSUP when a side cannot splice (TLS), -EXDEV when a and b
  /// live on different threads, -EMFILE / -ENFILE / -ENOMEM when the pipes cannot be made.
  int start(NetVConnection *a, NetVConnection *b);
  /// Stop every VIO the tunnel still runs (the connections must still be open) and close the
  /// pipes; no event follows. Call it before closing the connections of a running tunnel; after
  /// SPLICE_TUNNEL_EVENT_DONE it only forgets. The tunnel may then be deleted.
  void stop();

  /// Bytes moved a -> b so far (final once the tunnel ended).
  Counts a_to_b() const { return counts(_ab); }
  /// Bytes moved b -> a so far (final once the tunnel ended).
  Counts b_to_a() const { return counts(_ba); }
  /// Bytes waiting in the a -> b pipe.
  int64_t in_pipe_a_to_b() const { return _ab.pipe.size(); }
  /// Bytes waiting in the b -> a pipe.
  int64_t in_pipe_b_to_a() const { return _ba.pipe.size(); }
  /// How it ended (kRunning until SPLICE_TUNNEL_EVENT_DONE).
  End end() const { return _end; }
  /// With End::kError: the side that failed first (a or b, as passed to start()).
  NetVConnection *failed_side() const { return _failed; }
  /// With End::kError: the failed side's lerrno when it failed (ECONNRESET for a reset).
  int failed_errno() const { return _failed_errno; }
  /// With End::kTimeout: VC_EVENT_INACTIVITY_TIMEOUT or VC_EVENT_ACTIVE_TIMEOUT.
  int timeout_event() const { return _timeout_event; }

private:
  struct Direction {
    NetVConnection *src = nullptr;
    NetVConnection *dst = nullptr;
    SplicePipe pipe;
    VIO *read_vio  = nullptr; ///< on src; nullptr once stopped
    VIO *write_vio = nullptr; ///< on dst; nullptr once stopped or shut
    bool src_eos   = false;
    bool done      = false; ///< everything forwarded and dst half-closed, or abandoned
    Counts final;           ///< the counts as the VIOs stopped
  };

  int handle_event(int event, void *data);
  void on_read_ready(Direction &d);
  void on_write_ready(Direction &d);
  void on_source_eos(Direction &d);
  void finish_direction(Direction &d);
  void on_side_failed(VIO *vio, NetVConnection *side);
  void abandon_direction(Direction &d);
  void stop_read(Direction &d);
  void stop_write(Direction &d);
  /// Keep a running VIO's count in `count` and forget the VIO; false when it was forgotten already.
  static bool forget_vio(VIO *&vio, int64_t &count);
  void end(End why);
  /// The direction whose `which` end (&Direction::read_vio or &Direction::write_vio) is vio, or nullptr.
  Direction *direction_of(const VIO *vio, VIO *Direction::*which);
  static Counts counts(const Direction &d);

  Continuation *_done;
  int64_t _pipe_capacity;
  Direction _ab;
  Direction _ba;
  End _end                = End::kRunning;
  NetVConnection *_failed = nullptr;
  int _failed_errno       = 0;
  int _timeout_event      = 0;
};
} // namespace iocore
