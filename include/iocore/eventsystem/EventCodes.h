// Event codes and handler return values. The numeric values are part of the public contract (API.md)
// and match Apache Traffic Server, so code ported from ATS keeps its switch statements.
#pragma once

namespace iocore {
inline constexpr int EVENT_NONE      = 0;
inline constexpr int EVENT_IMMEDIATE = 1;
inline constexpr int EVENT_INTERVAL  = 2;
inline constexpr int EVENT_ERROR     = 3;
inline constexpr int EVENT_CALL      = 4;
inline constexpr int EVENT_POLL      = 5;

// Handler return values.
inline constexpr int EVENT_DONE = 0;
inline constexpr int EVENT_CONT = 1;

inline constexpr int VC_EVENT_NONE               = EVENT_NONE;
inline constexpr int VC_EVENT_IMMEDIATE          = EVENT_IMMEDIATE;
inline constexpr int VC_EVENT_READ_READY         = 100;
inline constexpr int VC_EVENT_WRITE_READY        = 101;
inline constexpr int VC_EVENT_READ_COMPLETE      = 102;
inline constexpr int VC_EVENT_WRITE_COMPLETE     = 103;
inline constexpr int VC_EVENT_EOS                = 104;
inline constexpr int VC_EVENT_ERROR              = EVENT_ERROR;
inline constexpr int VC_EVENT_INACTIVITY_TIMEOUT = 105;
inline constexpr int VC_EVENT_ACTIVE_TIMEOUT     = 106;
inline constexpr int VC_EVENT_OOB_COMPLETE       = 107;

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

/// A short name for an event code ("VC_EVENT_EOS"), for logs and test failure messages.
const char *event_name(int event);
} // namespace iocore
