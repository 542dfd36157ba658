// SplicePipe: making, sizing and closing the pipe of a spliced direction (see
// include/iocore/net/SplicePipe.h for the count that keeps EAGAIN unambiguous).
#include "iocore/net/SplicePipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace iocore {
SplicePipe::~SplicePipe()
{
  close();
}

int
SplicePipe::open(int64_t capacity)
{
  close();
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
    return -errno;
  }
  _read_fd  = fds[0];
  _write_fd = fds[1];
  // A refused resize (over pipe-max-size or the user's pipe quota) is not fatal: the limit below
  // follows what the pipe really holds.
  int wanted = static_cast<int>(std::clamp<int64_t>(capacity, 1, INT_MAX));
  (void)::fcntl(_write_fd, F_SETPIPE_SZ, wanted);
  int got = ::fcntl(_write_fd, F_GETPIPE_SZ);
  if (got <= 0) {
    int err = got < 0 ? errno : EINVAL;
    close();
    return -err;
  }
  _capacity = std::min<int64_t>(std::max<int64_t>(capacity, 1), got);
  _size     = 0;
  return 0;
}

void
SplicePipe::close()
{
  if (_read_fd >= 0) {
    ::close(_read_fd);
  }
  if (_write_fd >= 0) {
    ::close(_write_fd);
  }
  _read_fd = _write_fd = -1;
  _capacity = _size = 0;
}
} // namespace iocore
