// UnixSocketFile: the file a Unix-domain listener puts in the file system. Binding replaces a stale
// one (left by a process that died) but never anything else; the listener removes its own file
// when it stops, unless another socket has taken the path over meanwhile.
#pragma once

#include "iocore/net/SocketAddress.h"

#include <sys/types.h>

#include <optional>
#include <string>

namespace iocore {
class UnixSocketFile
{
public:
  /// Bind fd (an AF_UNIX stream socket) to addr, a path. When the path exists: a socket nobody
  /// accepts on any more (connect is refused) is removed and the bind retried once; a socket with a
  /// listener gives -EADDRINUSE; anything that is not a socket gives -EEXIST and is left untouched.
  /// 0 with `created` naming the new file, or -errno.
  static int bind(int fd, const SocketAddress &addr, std::optional<UnixSocketFile> &created);

  /// Remove the file if it is still the one bind() created (same device and inode).
  void remove() const;

  const std::string &path() const { return _path; }

private:
  UnixSocketFile(std::string path, dev_t dev, ino_t ino) : _path(std::move(path)), _dev(dev), _ino(ino) {}

  std::string _path;
  dev_t _dev = 0;
  ino_t _ino = 0;
};
} // namespace iocore
