// EventIO: what a poll token points at — a connection, a listening socket, or the thread's wake-up
// eventfd — so the NetHandler knows how to dispatch a readiness event.
#pragma once

#include <cstdint>

namespace iocore {
struct EventIO {
  enum class Type : uint8_t { kVConnection, kAccept, kSignal };
  Type type   = Type::kVConnection;
  void *owner = nullptr; ///< UnixNetVConnection* or NetAccept*
};
} // namespace iocore
