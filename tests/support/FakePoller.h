// FakePoller: a Poller whose readiness the test drives by hand (make_ready), so NetHandler logic
// can be exercised deterministically. It keeps the edge-triggered contract of the real poller: an
// event is reported once per make_ready, and only for registered descriptors. The same contract
// suite (tests/unit/PollerContract_test.cc) runs against it and against epoll.
#pragma once

#include "net/Poller.h"

#include <map>
#include <mutex>
#include <vector>

namespace iocore::test {
class FakePoller final : public Poller
{
public:
  int add(int fd, uint32_t interest, PollToken token) override;
  int modify(int fd, uint32_t interest, PollToken token) override;
  int remove(int fd) override;
  int wait(ink_hrtime timeout, std::span<PollEvent> out) override;

  /// Report `ready` (kReadable, kWritable, kError, kHangup) for fd at the next wait(). Any thread.
  /// Ignored for a descriptor that is not registered or not interested.
  void make_ready(int fd, uint32_t ready);
  bool is_registered(int fd) const;
  /// Timeouts wait() was called with, in order (the fake never blocks).
  std::vector<ink_hrtime> waits() const;

private:
  struct Entry {
    uint32_t interest = 0;
    PollToken token   = nullptr;
    uint32_t pending  = 0;
  };
  mutable std::mutex _m;
  std::map<int, Entry> _fds;
  std::vector<ink_hrtime> _waits;
};
} // namespace iocore::test
