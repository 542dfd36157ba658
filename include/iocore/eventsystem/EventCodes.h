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

inline constexpr int NET_EVENT_OPEN           = 200;
inline constexpr int NET_EVENT_OPEN_FAILED    = 201;
inline constexpr int NET_EVENT_ACCEPT         = 202;
inline constexpr int NET_EVENT_ACCEPT_SUCCEED = 203;
inline constexpr int NET_EVENT_ACCEPT_FAILED  = 204;

/// A short name for an event code ("VC_EVENT_EOS"), for logs and test failure messages.
const char *event_name(int event);
} // namespace iocore
