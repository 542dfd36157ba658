// Creating sockets and applying NetVCOptions / AcceptOptions to them (ATS: Connection::open,
// Connection::apply_options, Server::listen), for IP and Unix-domain sockets alike.
#pragma once

#include "iocore/net/NetProcessor.h"
#include "iocore/net/NetVConnection.h"
#include "iocore/net/SocketAddress.h"

#include "net/UnixSocketFile.h"

#include <optional>

namespace iocore {
/// What apply_socket_options may assume about the socket's options before the call.
enum class SocketState {
  kFresh, ///< just created or accepted: every option at its default, only what is on needs a call
  kLive,  ///< in use (apply_options): an option whose flag is off is turned off as well
};

/// Apply the per-connection options of `opt` (sockopt_flags and the values they enable, keep-alive
/// timing, congestion control, buffer sizes) to fd, a stream socket of `family`. TCP and IP level
/// options are skipped for AF_UNIX. 0, or the -errno of the first option that failed (the rest are
/// still applied).
int apply_socket_options(int fd, int family, const NetVCOptions &opt, SocketState state);
/// A non-blocking stream socket for a connection to `remote`, options applied (Fast Open
/// included) and bound as `opt` asks. 0 and the socket in `fd`, or -errno (no socket left open).
int open_socket_for_connect(const NetVCOptions &opt, const SocketAddress &remote, int &fd);
/// connect() that waits for the handshake (f_blocking_connect); the socket is non-blocking again
/// afterwards. 0 or -errno.
int connect_blocking(int fd, const SocketAddress &remote);
/// A listening socket for `opt` (blocking or not) bound to `addr`. IP: SO_REUSEADDR, SO_REUSEPORT
/// when `reuse_port`, TCP_DEFER_ACCEPT and Fast Open as asked. Unix: a stale socket file at the
/// path is replaced (see UnixSocketFile::bind) and `created` names the file made, for its removal.
/// 0 and the socket in `fd`, or -errno.
int open_listen_socket(const SocketAddress &addr, const NetProcessor::AcceptOptions &opt, bool non_blocking, bool reuse_port,
                       int &fd, std::optional<UnixSocketFile> &created);
/// Take over an already listening socket (AcceptOptions::fd): check that it is a listening stream
/// socket of an IP or Unix family, make it close-on-exec and (non-)blocking, and apply the listener
/// options that can be set after listen(). 0, or -errno naming what it is not: EBADF (no such
/// descriptor), ENOTSOCK, ESOCKTNOSUPPORT (not SOCK_STREAM), EAFNOSUPPORT (another family), EINVAL
/// (not listening). The descriptor is left as it was when the check fails.
int adopt_listen_socket(int fd, const NetProcessor::AcceptOptions &opt, bool non_blocking);
/// The address a socket is bound to (getsockname), or the peer's (getpeername). Unset on error.
SocketAddress socket_local_address(int fd);
SocketAddress socket_peer_address(int fd);
} // namespace iocore
