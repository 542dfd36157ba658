// UnixNetVConnection: a NetVConnection over a non-blocking socket, driven by the NetHandler of the
// net thread that owns it. It holds the per-direction NetState (read / write), the timeout deadlines
// the InactivityCop checks, and the links of the NetHandler's lists.
//
// Lifetime. A UnixNetVConnection is owned by the library from accept / connect_re until
// do_io_close(); after do_io_close() returns the caller must not touch it. Its memory is released
// (free_thread) only on its own thread, when no NetHandler list holds it and no call-back frame is
// running on it (recursion == 0): a close asked for inside a call-back sets `closed` and the
// outermost call-back's return (or the NetHandler's next look at it) frees it.
//
// NetState per direction (ATS: read.enabled / read.triggered):
//   | enabled | triggered | state                                         | leaves by
//   |    0    |     0     | idle: the SM wants nothing, kernel not ready  | reenable -> (1,0); epoll edge -> (0,1)
//   |    1    |     0     | wanted, waiting for the kernel's edge         | epoll edge -> (1,1)
//   |    0    |     1     | kernel ready, SM not asking (buffer full...)  | reenable -> (1,1), queued on the ready list
//   |    1    |     1     | on the ready list: IO runs in this net pass   | EAGAIN -> (1,0); done / disable -> (0,1)
#pragma once

#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/VIO.h"
#include "iocore/net/NetVConnection.h"
#include "iocore/net/SplicePipe.h"

#include "net/EventIO.h"
#include "net/IntrusiveList.h"
#include "net/Poller.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace iocore {
template <class T> class ClassAllocator;
class NetHandler;
class NetAccept;
class UnixNetVConnection;

enum class Direction : uint8_t { kRead, kWrite };

struct NetState {
  explicit NetState(Direction d) : dir(d), vio(d == Direction::kRead ? VIO::READ : VIO::WRITE) { vio.op = VIO::NONE; }

  // The one-byte members come first, together (a VC has two NetStates; no padding between them).
  /// The SM wants this direction serviced. Written by reenable from any thread holding the VIO's
  /// mutex, read by the owning NetHandler: atomic.
  std::atomic<bool> enabled{false};
  /// Set by the thread that pushes onto the enable list, cleared by the owner when it pops.
  std::atomic<bool> in_enabled_list{false};
  /// The kernel reported readiness and no EAGAIN was seen since (edge-triggered memory). Owner only.
  bool triggered = false;
  const Direction dir;
  VIO vio;
  ListLink<UnixNetVConnection> ready_link;
  /// Link in the NetHandler's atomic enable list, valid while in_enabled_list.
  UnixNetVConnection *enable_next = nullptr;
  /// The pipe of a spliced VIO (do_io_read_splice / do_io_write_splice), not owned: its owner keeps
  /// it alive while the operation runs. Cleared by every later do_io_read / do_io_write (start_vio),
  /// so non-null means the direction's operation is a spliced one.
  SplicePipe *splice = nullptr;
};

/// Whether the VC survived a call into the user's code. [[nodiscard]]: a caller that gets kClosed
/// must not touch the VC again (it has been freed).
enum class [[nodiscard]] SignalResult{kContinue, kClosed};

/// The half-closed state (ATS: f.shutdown with NET_VC_SHUTDOWN_READ / _WRITE).
enum ShutdownFlags : uint8_t { kShutdownRead = 1, kShutdownWrite = 2 };

/// Results of a connect attempt (ATS: CONNECT_SUCCESS / CONNECT_FAILURE).
enum class ConnectResult { kSuccess, kFailure };

class UnixNetVConnection : public NetVConnection
{
public:
  /// Allocate from the per-class allocator (ATS: netVCAllocator / THREAD_ALLOC).
  static UnixNetVConnection *alloc();
  /// Return the memory (ATS: free / free_thread). Called on the VC's thread by the NetHandler only.
  virtual void free_thread(EThread *t);

  // --- VConnection ---------------------------------------------------------------------------------
  VIO *do_io_read(Continuation *c, int64_t nbytes, MIOBuffer *buf) override;
  VIO *do_io_write(Continuation *c, int64_t nbytes, IOBufferReader *reader, bool owner = false) override;
  void do_io_close(int lerrno = -1) override;
  void do_io_shutdown(ShutdownHowTo_t howto) override;
  void reenable(VIO *vio) override;
  void reenable_re(VIO *vio) override;

  // --- NetVConnection ------------------------------------------------------------------------------
  void set_active_timeout(ink_hrtime timeout_in) override;
  void set_inactivity_timeout(ink_hrtime timeout_in) override;
  void cancel_active_timeout() override;
  void cancel_inactivity_timeout() override;
  ink_hrtime get_active_timeout() override;
  ink_hrtime get_inactivity_timeout() override;
  void add_to_keep_alive_queue() override;
  void remove_from_keep_alive_queue() override;
  bool add_to_active_queue() override;
  void remove_from_active_queue() override;
  Action *send_OOB(Continuation *cont, char *buf, int len) override;
  void cancel_OOB() override;
  int get_socket() override { return fd; }
  int apply_options() override;
  int set_tcp_init_cwnd(int init_cwnd) override;

  // --- Handlers (the VC as a state machine) -------------------------------------------------------
  /// Accepted VC joins its net thread (first call inline from NetAccept or as a scheduled event).
  int acceptEvent(int event, void *data);
  /// Outgoing VC scheduled by connect_re: connect from the owning thread.
  int startEvent(int event, void *data);
  /// Timeout delivery (called by the InactivityCop and the keep-alive/active queue managers).
  int mainEvent(int event, void *data);

  /// Open the socket, register it and connect (non-blocking) — or, when `fd` is already set (a
  /// socket connected by adopt_fd's caller or by f_blocking_connect; ATS's connectUp(t, fd)),
  /// just register it. Calls back NET_EVENT_OPEN or NET_EVENT_OPEN_FAILED (the socket closed). Must
  /// run on t holding t's NetHandler mutex.
  ConnectResult connectUp(EThread *t);
  /// Adopt an already connected socket on the current thread (migration). 0 or -errno.
  int populate(int sock, Continuation *c);
  /// Move this connection to thread t (the calling thread): returns a new VC owning the socket on t,
  /// with the given continuation's mutex, and closes this one without closing the socket. Returns
  /// this when it already lives on t; nullptr on failure (this VC is then closed too).
  UnixNetVConnection *migrateToCurrentThread(Continuation *c, EThread *t);

  // --- The net steps, called by the NetHandler on the owning thread --------------------------------
  /// Read path; SSLNetVConnection overrides it. The plain version is read_from_net().
  virtual void net_read_io(NetHandler &nh);
  /// Write path (ATS: write_to_net / write_to_net_io): WRITE_READY before writing when the buffer has
  /// room for more of the VIO, the write itself via load_buffer_and_write(), then the events.
  void write_to_net_io(NetHandler &nh);
  /// Write up to `towrite` bytes from the VIO's reader to the socket, consuming what was written.
  /// Returns the last syscall's result (> 0, or -errno); `total_written` the bytes written in all;
  /// `needs` gets kReadable / kWritable (the poller's readiness bits) for what the next attempt waits on. TLS overrides it.
  virtual int64_t load_buffer_and_write(int64_t towrite, MIOBufferAccessor &buf, int64_t &total_written, uint32_t &needs);

  // --- Splice (src/net/SpliceIO.cc): VIOs whose buffer is a pipe -----------------------------------
  bool can_splice() const override { return true; }
  VIO *do_io_read_splice(Continuation *c, int64_t nbytes, SplicePipe *pipe) override;
  VIO *do_io_write_splice(Continuation *c, int64_t nbytes, SplicePipe *pipe) override;
  /// The NetHandler's read step: splice_read_io() for a spliced read VIO, else net_read_io().
  void read_step(NetHandler &nh);
  /// The NetHandler's write step: splice_write_io() for a spliced write VIO, else write_to_net_io().
  void write_step(NetHandler &nh);
  /// Whether the direction's operation is a spliced one (see NetState::splice).
  static bool is_splicing(const NetState &s) { return s.splice != nullptr; }
  /// splice(2) from the socket into the read VIO's pipe: read_from_net's algorithm, with the pipe's
  /// room as the buffer's free space.
  void splice_read_io(NetHandler &nh);
  /// splice(2) from the write VIO's pipe into the socket: write_to_net_io's algorithm.
  void splice_write_io(NetHandler &nh);

  // --- TLS extension points (plain TCP defaults) ---------------------------------------------------
  /// Whether the connection may carry the user's data (TLS: the handshake is done).
  bool is_handshake_complete() const { return !handshake_pending; }
  /// While handshake_pending, the NetHandler calls this instead of the read and write steps on any
  /// readiness of either direction, and reenables queue the VC whatever its triggered flags: the
  /// handshake needs both directions whichever one the user enabled.
  virtual void handshake_io(NetHandler &nh) { (void)nh; }
  /// Called on the owner thread just before the socket is closed (TLS: send close_notify).
  virtual void before_socket_close() {}
  /// For migrateToCurrentThread: a new VC of the same kind, and the hand-over of the per-kind state
  /// (TLS: the SSL object) once the new VC owns the socket.
  virtual UnixNetVConnection *alloc_same_kind() { return alloc(); }
  virtual void move_kind_state_to(UnixNetVConnection *nvc) { (void)nvc; }

  // --- State ---------------------------------------------------------------------------------------
  NetState read{Direction::kRead};
  NetState write{Direction::kWrite};
  /// Whether and how the VC was closed. ATS's `closed` is an int with these values; an unscoped
  /// enum on int keeps code that reads it as an int or a bool ("closed at all?") working.
  enum CloseState : int { kOpen = 0, kClosed = 1, kAborted = -1 };
  /// Written last in do_io_close, by any thread that holds the VIO mutexes; the owner frees the VC
  /// when it next sees it.
  std::atomic<CloseState> closed{kOpen};
  /// Depth of call-backs into user code running on this VC (owner thread only).
  int recursion          = 0;
  uint8_t shutdown_flags = 0;
  int fd                 = -1;
  /// The poll registration of fd (ATS: ep).
  EventIO ep;
  /// SO_ERROR captured on EPOLLERR (a reset, a refused connect): VC_EVENT_ERROR with this lerrno on
  /// the write side's next IO, and on the read side once it has read what the peer sent before it.
  int socket_error = 0;
  /// The poller reported the peer's FIN, a hang-up, an error or urgent data: a short read no longer
  /// proves the socket drained (the 0-byte read that reports EOS is still to come; TCP stops a read
  /// at the urgent mark; so does AF_UNIX, whose poll reports urgent data the same way). Reads then
  /// go on until EAGAIN, as in ATS. Owner only. The other way a stream stops short with data left
  /// — an AF_UNIX read ends where descriptors or credentials were attached — is seen by
  /// read_socket() itself (MSG_CTRUNC).
  bool read_until_eagain = false;
  bool is_outbound       = false;
  /// An inactivity timeout was signalled and no IO progress came after it: closing then resets
  /// what the peer has not taken instead of lingering (close_socket_after_timeout). Owner thread
  /// only.
  bool timed_out = false;
  /// Outgoing and the TCP handshake not known to be complete yet (the poller has not reported on
  /// the socket since connect()). Atomic: do_io_close may run on another thread.
  std::atomic<bool> connect_pending{false};
  /// TLS handshake still to do (never set for plain TCP). Owner thread only.
  bool handshake_pending     = false;
  bool accepted_callback_due = false;
  NetHandler *nh             = nullptr;
  /// The accept or connect continuation to call back.
  Action action_;
  NetAccept *accept_object = nullptr;
  uint64_t id              = 0;

  // Timeouts. The *_in durations are set by the SM; the deadlines (absolute, 0 = none) are armed by
  // net activity and reenable and checked by the InactivityCop. Deadlines are atomic because a VIO
  // may be reenabled (arming the deadline) from a thread other than the owner.
  std::optional<ink_hrtime> inactivity_timeout_in; ///< unset: NetConfig::default_inactivity_timeout
  ink_hrtime active_timeout_in = 0;
  std::atomic<ink_hrtime> next_inactivity_timeout_at{0};
  std::atomic<ink_hrtime> next_activity_timeout_at{0};
  /// When the VC entered the keep-alive queue (for keep_alive_no_activity_timeout_in).
  ink_hrtime keep_alive_since = 0;

  // NetHandler list links.
  ListLink<UnixNetVConnection> open_link;
  ListLink<UnixNetVConnection> cop_link;
  ListLink<UnixNetVConnection> keep_alive_link;
  ListLink<UnixNetVConnection> active_link;

  /// Pending OOB send (send_OOB): allocated by the first send_OOB that cannot send everything at
  /// once and kept until the VC is freed (OOB data is rare; most connections never need it).
  struct OOBState {
    Continuation *cont = nullptr;
    std::string data;
    Event *retry = nullptr;
  };
  std::unique_ptr<OOBState> oob;

  // --- Internals shared with NetHandler / SSLNetVConnection ---------------------------------------
  NetState &state_of(VIO &vio) { return &vio == &read.vio ? read : write; }
  /// The effective inactivity timeout (explicit, or the default; 0 = none).
  ink_hrtime effective_inactivity_timeout() const;
  /// Count a connect that ended before its TCP handshake completed (refused, unreachable, timed
  /// out, given up by the user with an error): NetStats::connect_failures, once per connection.
  void note_connect_failed();
  /// A timeout or the user's close with an error while the connect is still unsettled: the poller
  /// may just not have reported yet (its thread was busy, or ran its due timers first), so ask the
  /// kernel whether the handshake finished (the socket has a peer) before counting a failure.
  void note_connect_abandoned();
  /// Restart the inactivity clock after progress (ATS: net_activity).
  void net_activity();
  /// ATS: read_from_net, the plain TCP read.
  void read_from_net(NetHandler &nh);
  /// What read_socket() got: bytes read, the last call's result (bytes, 0 at EOF or -errno) and
  /// whether that call returned less than it was offered (the socket had no more).
  struct SocketRead {
    int64_t total   = 0;
    int64_t last    = 0;
    bool short_read = false;
  };
  /// The end of a read step that put `total` bytes (maybe 0) into the read VIO's buffer, `lock`
  /// holding the VIO's mutex: count them, restart the inactivity clock, signal READ_COMPLETE or
  /// READ_READY, then stay on the ready list, or stop (without an event) when the buffer is full
  /// or nothing more is wanted. Shared by the plain and the TLS read paths.
  void finish_read(MutexTryLock &lock, int64_t total, bool had_no_block);
  /// What top_up_write() leaves to write: 0 when the step is over (the direction was disabled or
  /// rescheduled, or the VC closed in the call-back); `signalled` when it sent WRITE_READY.
  struct WriteTopUp {
    int64_t towrite = 0;
    bool signalled  = false;
  };
  /// The first seam of write_to_net_io: WRITE_READY before writing when the buffer cannot finish the
  /// VIO and is at or below its water mark, then how much to write.
  WriteTopUp top_up_write(NetState &s, MutexTryLock &lock);
  /// A write call that moved nothing: EAGAIN waits for the edge `needs` names, anything else is
  /// VC_EVENT_ERROR to the write VIO.
  void write_made_no_progress(NetHandler &h, NetState &s, int64_t r, uint32_t needs);
  /// The end of a write step that sent total_written > 0 bytes: count them, restart the inactivity
  /// clock, signal WRITE_COMPLETE, WRITE_READY or the write-buffer-empty event, then stay on the
  /// ready list or stop once the buffer is drained.
  void finish_write(NetState &s, MutexTryLock &lock, int64_t total_written, int64_t r, bool signalled, uint32_t needs);
  /// The recv/recvmsg loop of read_from_net into writer's free space, up to toread bytes.
  SocketRead read_socket(NetHandler &nh, MIOBuffer &writer, int64_t toread);
  /// Call the VIO's continuation with `event` (ATS: read_signal_and_update / write_signal_and_update).
  SignalResult signal_and_update(NetState &s, int event);
  /// Disable the direction, then signal (ATS: read_signal_done / write_signal_done).
  SignalResult signal_done(NetState &s, int event);
  /// lerrno = err, then signal_done(VC_EVENT_ERROR) (ATS: read_signal_error / write_signal_error).
  SignalResult signal_error(NetState &s, int err);
  /// An event in the middle of an IO step (READ_READY, WRITE_READY, the write-buffer-empty event),
  /// `lock` being the step's lock on the VIO's mutex. True when the step may go on; false when the
  /// continuation closed the VC (freed already), changed the VIO's mutex, or restarted the
  /// direction spliced when the step is buffered or buffered when it is spliced (`spliced`): the
  /// VC is then rescheduled, for the next step to see the change.
  bool signal_and_recheck(NetState &s, MutexTryLock &lock, int event, bool spliced = false);
  /// For the IO steps, right after taking the VIO's lock: a VC closed meanwhile (from another
  /// thread, or by a call-back) is freed here unless a call-back frame still runs on it; true means
  /// the step must return at once without touching the VC.
  bool closed_during_io(NetHandler &h, MutexTryLock &lock);
  /// do_io_read / do_io_write: bind the VIO of direction s to c, nbytes and the buffer (writer for
  /// a read, reader for a write), and enable it. With no continuation, no bytes and no buffer, the
  /// direction is stopped instead (allowed on a closed VC). nullptr on a closed VC otherwise.
  VIO *start_vio(NetState &s, Continuation *c, int64_t nbytes, MIOBuffer *writer, IOBufferReader *reader);
  /// The start of every IO step (plain read, plain write, TLS read) on direction s, `lock` built on
  /// its VIO's mutex: a lock miss puts the VC back on the ready list for the next pass, a VC closed
  /// meanwhile is freed (closed_during_io), and a direction that is not enabled, has no VIO of its
  /// kind or no buffer is disabled (`spliced`: no pipe, for the splice steps). True when the step
  /// may go on; each path then applies its own rule for a socket error (the write side reports it
  /// at once, the read sides read first).
  bool begin_io_step(NetHandler &h, NetState &s, MutexTryLock &lock, bool spliced = false);
  /// Stay on the ready list only while enabled and triggered (ATS: read_reschedule / write_reschedule).
  void reschedule(NetState &s);
  /// Stop servicing the direction (ATS: read_disable / write_disable).
  void disable(NetState &s);
  /// Enable the direction and arm the inactivity clock (ATS: set_enabled).
  void set_enabled(NetState &s);
  /// Whether the calling thread owns this connection.
  bool is_owner_thread() const { return thread != nullptr && this_ethread() == thread; }
  /// Abort (in debug builds) unless called on the owning thread.
  void assert_owner_thread() const;

protected:
  UnixNetVConnection();
  ~UnixNetVConnection() override;
  friend class NetHandler;
  friend class ClassAllocator<UnixNetVConnection>;

private:
  void reenable_with_nh_locked(NetState &s);
  /// do_io_read_splice / do_io_write_splice on direction s: the buffered do_io_* with no buffer,
  /// then the pipe, and the VIO started as start_vio would (not a write of 0 bytes).
  VIO *start_splice(NetState &s, Continuation *c, int64_t nbytes, SplicePipe *pipe);
  void set_local_addr();
};

/// Most iovecs per readv/writev (ATS: NET_MAX_IOV).
inline constexpr int NET_MAX_IOV = 64;
} // namespace iocore
