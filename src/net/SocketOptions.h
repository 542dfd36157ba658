// Creating sockets and applying NetVCOptions / AcceptOptions to them (ATS: Connection::open,
// apply_options, Server::listen).
#pragma once

#include "iocore/net/IpEndpoint.h"
#include "iocore/net/NetProcessor.h"
#include "iocore/net/NetVConnection.h"

namespace iocore {
/// A non-blocking TCP socket for a connection to `remote`, options applied and bound if asked.
/// 0 and the socket in `fd`, or -errno.
int open_socket_for_connect(const NetVCOptions &opt, const IpEndpoint &remote, int &fd);
/// Apply the per-connection socket options (TCP_NODELAY, SO_KEEPALIVE, SO_LINGER, buffer sizes).
void apply_socket_options(int fd, uint32_t sockopt_flags, int recv_bufsize, int send_bufsize);
/// A listening socket for `opt` (blocking or not), SO_REUSEADDR, SO_REUSEPORT when `reuse_port`,
/// bound to `addr`. 0 and the socket in `fd`, or -errno.
int open_listen_socket(const IpEndpoint &addr, const NetProcessor::AcceptOptions &opt, bool non_blocking, bool reuse_port, int &fd);
} // namespace iocore
