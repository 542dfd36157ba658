// Poller: what the NetHandler needs from the kernel's readiness API, in iocore's own terms, so tests
// can drive readiness by hand (tests/support/FakePoller.h) while production uses epoll
// (EpollPoller). Registrations are edge-triggered: an event is reported when readiness appears, not
// while it lasts; the consumer keeps reading/writing until EAGAIN.
#pragma once

#include "iocore/eventsystem/Time.h"

#include <cstdint>
#include <memory>
#include <string>
#include <span>

namespace iocore {
/// Readiness bits (both the interest and the reported events).
enum Readiness : uint32_t {
  kReadable = 1,
  kWritable = 2,
  kError    = 4, ///< EPOLLERR
  kHangup   = 8, ///< EPOLLHUP
  /// EPOLLRDHUP: the peer shut down its sending side (reported, never asked for: kReadable implies it).
  kReadHangup = 16,
  /// EPOLLPRI: urgent (out-of-band) data (reported with kReadable; kReadable implies asking for it).
  kUrgent = 32,
};

/// Opaque to the poller: the NetHandler stores a pointer to its EventIO record.
using PollToken = void *;

struct PollEvent {
  PollToken token = nullptr;
  uint32_t ready  = 0;
};

class Poller
{
public:
  virtual ~Poller() = default;
  /// Register fd for `interest` (kReadable|kWritable), edge-triggered. 0 or -errno.
  virtual int add(int fd, uint32_t interest, PollToken token) = 0;
  /// Change the interest of a registered fd. 0 or -errno.
  virtual int modify(int fd, uint32_t interest, PollToken token) = 0;
  /// Unregister fd (before it is closed). 0 or -errno.
  virtual int remove(int fd) = 0;
  /// Wait up to timeout (0: do not block) and fill `out`. Number of events, or -errno.
  virtual int wait(ink_hrtime timeout, std::span<PollEvent> out) = 0;
};

/// The production poller: epoll in edge-triggered mode.
std::unique_ptr<Poller> make_epoll_poller();
/// The io_uring backend's poller (multishot polls in a ring owned by the calling thread), or
/// nullptr with the reason in why_not (no liburing in the build, io_uring blocked or too old).
std::unique_ptr<Poller> make_uring_poller(std::string *why_not = nullptr);
} // namespace iocore
