// Event codes and handler return values. The numeric values are part of the public API and match
// Apache Traffic Server's, so code ported from ATS keeps its switch statements.
#pragma once

namespace iocore {
/// No event; the default code of handleEvent().
inline constexpr int EVENT_NONE = 0;
/// An event scheduled with schedule_imm() fired (also what a DEDICATED thread's continuation gets).
inline constexpr int EVENT_IMMEDIATE = 1;
/// A timed event (schedule_at / schedule_in / schedule_every) fired.
inline constexpr int EVENT_INTERVAL = 2;
/// An error. The same value as VC_EVENT_ERROR. A listener whose accept() fails for good calls its
/// acceptor once with EVENT_ERROR (data: -errno as intptr_t) and stops listening.
inline constexpr int EVENT_ERROR = 3;
/// ATS's code for a direct call; iocore never sends it.
inline constexpr int EVENT_CALL = 4;
/// ATS's code for "every loop" events; iocore never sends it: an event scheduled with a negative
/// period receives its callback_event, as every other event does.
inline constexpr int EVENT_POLL = 5;

/// @name Handler return values
/// The library ignores what a handler returns. By convention EVENT_DONE says "finished with this
/// event" (the handler may have deleted its object, so the caller must not touch it) and EVENT_CONT
/// "more to come"; state machines that call each other's handlers use them that way, as in ATS.
/// @{

/// Finished with this event (the object may be gone).
inline constexpr int EVENT_DONE = 0;
/// Carry on (the object is still there).
inline constexpr int EVENT_CONT = 1;
/// @}

/// @name VConnection events
/// Sent to a VIO's continuation with the VIO* as data (timeouts: the VIO of the side told; see
/// docs/events.md for which arrive when, and in which order).
/// @{

/// EVENT_NONE under its VConnection name.
inline constexpr int VC_EVENT_NONE = EVENT_NONE;
/// EVENT_IMMEDIATE under its VConnection name.
inline constexpr int VC_EVENT_IMMEDIATE = EVENT_IMMEDIATE;
/// New bytes are in the read VIO's buffer; consume them and reenable if reading stopped.
inline constexpr int VC_EVENT_READ_READY = 100;
/// The write VIO needs data: its buffer is at or below its water mark and cannot finish the VIO.
inline constexpr int VC_EVENT_WRITE_READY = 101;
/// The read VIO read its nbytes (ndone == nbytes); reading stops.
inline constexpr int VC_EVENT_READ_COMPLETE = 102;
/// The write VIO wrote its nbytes; writing stops.
inline constexpr int VC_EVENT_WRITE_COMPLETE = 103;
/// The peer ended its side (FIN, or TLS close_notify), after all data read before it was reported.
/// Reading stops. A reset is VC_EVENT_ERROR (lerrno ECONNRESET), not EOS as in ATS.
inline constexpr int VC_EVENT_EOS = 104;
/// The connection failed; VConnection::lerrno says why (an errno, or ENET_SSL_FAILED). The
/// direction that saw it stops.
inline constexpr int VC_EVENT_ERROR = EVENT_ERROR;
/// Nothing moved for the inactivity timeout while a read or write was wanted (or an idle keep-alive
/// connection was closed to make room). A notification: the connection stays open until closed.
inline constexpr int VC_EVENT_INACTIVITY_TIMEOUT = 105;
/// The active timeout ran out, whatever the traffic. A notification, as the inactivity timeout.
inline constexpr int VC_EVENT_ACTIVE_TIMEOUT = 106;
/// NetVConnection::send_OOB() sent all its bytes (data: nullptr).
inline constexpr int VC_EVENT_OOB_COMPLETE = 107;
/// @}

/// @name Net processor events
/// @{

/// connect_re / adopt_fd: the connection exists (data: the NetVConnection*). For connect_re the
/// TCP handshake may still be under way (a refusal then comes as VC_EVENT_ERROR) unless
/// NetVCOptions::f_blocking_connect.
inline constexpr int NET_EVENT_OPEN = 200;
/// connect_re / adopt_fd: no connection was made (data: -errno as intptr_t).
inline constexpr int NET_EVENT_OPEN_FAILED = 201;
/// accept: one new connection (data: the NetVConnection*), on its thread. A listener that stops
/// because accept() failed for good gets EVENT_ERROR (data: -errno) instead, once.
inline constexpr int NET_EVENT_ACCEPT = 202;
/// Never sent by iocore; kept (with ATS's value) so that ported switch statements still compile.
/// ATS sends it to the acceptor once its listening socket is open when AcceptOptions asks for a
/// call-back on open (f_callback_on_open), which iocore has no use for: accept() opens the socket
/// before it returns, so its result (an Action, or nullptr with errno) already says so.
inline constexpr int NET_EVENT_ACCEPT_SUCCEED = 203;
/// Never sent by iocore, for the same reason (ATS: the listening socket could not be opened, with
/// f_callback_on_open). Here accept() returns nullptr with errno set, and a listener that fails
/// later is told with EVENT_ERROR (see NetProcessor::accept).
inline constexpr int NET_EVENT_ACCEPT_FAILED = 204;
/// SpliceTunnel: both directions are over, or a timeout or failure ended the tunnel (data: the
/// SpliceTunnel*). Not in ATS.
inline constexpr int SPLICE_TUNNEL_EVENT_DONE = 210;
/// @}

/// The first event code reserved for users. The library never sends a code at or above it (its
/// public codes are below 1000, the ones it schedules for itself between 60000 and 60999), so a
/// program's own events, EVENT_USER_BASE + n, cannot be mistaken for the library's. Not in ATS,
/// whose subsystems each take a range of their own.
inline constexpr int EVENT_USER_BASE = 100000;

/// A short name for an event code ("VC_EVENT_EOS"), for logs and test failure messages.
const char *event_name(int event);
} // namespace iocore
