// LingeringClose: closing a connection's socket without losing what was already written to it.
// Closing a TCP socket that holds unread input (or that receives input afterwards) makes the
// kernel answer with a reset and throw away whatever it had not yet sent: the end of a response,
// a TLS close_notify. So the last step of every close reads such input away and, while our data
// is still on its way, keeps the socket a little longer, half-closed, on a per-thread list.
#pragma once

#include "iocore/eventsystem/Time.h"

#include <cstdint>

namespace iocore {
class EThread;

/// How long a closed socket may wait for its data to be acknowledged or for the peer's FIN.
inline constexpr ink_hrtime kLingerTime = HRTIME_SECONDS(2);
/// How often lingering sockets are looked at.
inline constexpr ink_hrtime kLingerTick = HRTIME_MSECONDS(20);
/// A lingering socket whose peer acknowledged nothing for this long when its time is up is reset.
inline constexpr ink_hrtime kLingerStallToReset = kLingerTime / 2;
/// Most lingering sockets per thread; beyond it a socket is closed at once.
inline constexpr int kMaxLingeringPerThread = 4096;

/// Read and discard what fd holds (a bounded number of reads). True when nothing more can ever
/// arrive: the peer has finished (EOF) or the socket failed.
bool drain_socket(int fd);

/// Close fd (a connected stream socket, already out of the poller) on thread t, which owns it:
/// at once when nothing can be lost (the peer has finished, or everything we sent has been
/// acknowledged), else after a FIN and at most kLingerTime of reading away the peer's input. A
/// socket whose peer acknowledged nothing in the last kLingerStallToReset of that time is then
/// reset (the peer is told, the kernel drops the data it holds for it); one whose peer is still
/// taking data is closed, the kernel delivering the rest. `id` names the connection in debug lines.
void close_socket_gracefully(EThread &t, int fd, uint64_t id);

/// Close fd after its connection hit its inactivity timeout (no progress for the whole timeout):
/// input read away, then a reset if any of our data is unacknowledged, else a plain close. No
/// lingering: nginx's reset_timedout_connection, for the same reason.
void close_socket_after_timeout(int fd, uint64_t id);

/// Sockets of thread t still lingering (for tests and statistics).
int lingering_sockets(EThread &t);
} // namespace iocore
