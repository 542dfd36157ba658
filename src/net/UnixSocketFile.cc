// UnixSocketFile: binding a Unix-domain listener to a path with stale-file replacement, and
// removing the file when the listener stops.
#include "net/UnixSocketFile.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace iocore {
namespace {
  /// Whether a process still accepts on the socket file at addr: a connect that is refused means
  /// the listener is gone. A full backlog (EAGAIN) is a live listener too.
  bool has_listener(const SocketAddress &addr)
  {
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) {
      return true; // cannot tell: never remove what might be in use
    }
    bool live = ::connect(probe, addr.sa(), addr.size()) == 0 || errno != ECONNREFUSED;
    ::close(probe);
    return live;
  }
} // namespace

int
UnixSocketFile::bind(int fd, const SocketAddress &addr, std::optional<UnixSocketFile> &created)
{
  std::string path = addr.path();
  for (int attempt = 0;; ++attempt) {
    if (::bind(fd, addr.sa(), addr.size()) == 0) {
      struct stat st {
      };
      if (::stat(path.c_str(), &st) == 0) {
        created = UnixSocketFile(path, st.st_dev, st.st_ino);
      }
      return 0;
    }
    if (errno != EADDRINUSE || attempt > 0) {
      return -errno;
    }
    struct stat st {
    };
    if (::lstat(path.c_str(), &st) != 0) {
      continue; // gone meanwhile: try again
    }
    if (!S_ISSOCK(st.st_mode)) {
      return -EEXIST;
    }
    if (has_listener(addr)) {
      return -EADDRINUSE;
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return -errno;
    }
  }
}

void
UnixSocketFile::remove() const
{
  struct stat st {
  };
  if (::lstat(_path.c_str(), &st) == 0 && st.st_dev == _dev && st.st_ino == _ino) {
    ::unlink(_path.c_str());
  }
}
} // namespace iocore
