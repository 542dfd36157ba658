// SplicePipe: the buffer of a zero-copy direction. A kernel pipe that splice(2) fills from one socket
// and drains into another (NetVConnection::do_io_read_splice / do_io_write_splice), so the bytes of
// a plain TCP tunnel never enter user space. The pipe is the direction's only buffer.
#pragma once

#include <cstdint>

namespace iocore {
class UnixNetVConnection;

/// A pipe with a byte limit and a user-space count of the bytes in it. The count is what makes a
/// non-blocking splice unambiguous: a read offers at most room() bytes, so EAGAIN means the socket
/// was empty; a write offers size() bytes, so EAGAIN means the socket was full.
///
/// Threads: a pipe serves one read VIO and one write VIO of connections on the same net thread,
/// and is only touched there (its count is plain owner-thread state). The owner (a tunnel, say)
/// keeps it alive while either VIO may use it: until both connections are closed, or both
/// directions were restarted with do_io_read / do_io_write.
class SplicePipe
{
public:
  SplicePipe() = default;
  ~SplicePipe();
  SplicePipe(const SplicePipe &)            = delete;
  SplicePipe &operator=(const SplicePipe &) = delete;

  /// Make the pipe (non-blocking, close-on-exec) and size it to hold `capacity` bytes
  /// (F_SETPIPE_SZ; the kernel rounds up to whole pages, and may refuse to grow a pipe past
  /// /proc/sys/fs/pipe-max-size or the user's pipe quota: the limit is then what the pipe got).
  /// Returns 0, or -errno when no pipe could be made (-EMFILE, -ENFILE, -ENOMEM): the caller then
  /// moves the bytes through an MIOBuffer instead. A pipe already open is closed first.
  int open(int64_t capacity);
  /// Close both ends (bytes still in the pipe are dropped). Also done by the destructor.
  void close();
  /// Whether open() succeeded and close() has not been called since.
  bool is_open() const { return _read_fd >= 0; }

  /// Most bytes the pipe is allowed to hold: min(the capacity asked for, the pipe's real size).
  int64_t capacity() const { return _capacity; }
  /// Bytes in the pipe (spliced in, not yet spliced out).
  int64_t size() const { return _size; }
  /// Bytes a read may still splice in.
  int64_t room() const { return _capacity - _size; }
  /// The pipe's read end (spliced into the destination socket).
  int read_fd() const { return _read_fd; }
  /// The pipe's write end (filled from the source socket).
  int write_fd() const { return _write_fd; }

private:
  // The splice steps of the connections move the count.
  friend class UnixNetVConnection;

  int _read_fd      = -1;
  int _write_fd     = -1;
  int64_t _capacity = 0;
  int64_t _size     = 0;
};
} // namespace iocore
