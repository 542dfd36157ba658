// EventWaiter: lets a test thread wait, with a deadline, for something that happens on an event
// thread (a handler ran n times, a condition became true) instead of sleeping and hoping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace iocore::test {
/// Deadline for things that should happen "at once": generous, so a loaded CI machine does not fail
/// a correct test, yet a lost event still fails instead of hanging.
inline constexpr std::chrono::seconds kGenerousDeadline{10};

class EventWaiter
{
public:
  EventWaiter()                               = default;
  EventWaiter(const EventWaiter &)            = delete;
  EventWaiter &operator=(const EventWaiter &) = delete;

  /// Count n occurrences and wake the waiter. Any thread, including event threads.
  void notify(int n = 1);

  /// Block until at least n occurrences were counted in total; false if timeout passed first.
  [[nodiscard]] bool wait_for(int n, std::chrono::nanoseconds timeout = kGenerousDeadline);

  /// Block until pred() is true; pred is evaluated under the waiter's lock at the start and after
  /// every notify(). The code that makes pred true must call notify() afterwards. False on timeout.
  [[nodiscard]] bool wait_until(const std::function<bool()> &pred, std::chrono::nanoseconds timeout = kGenerousDeadline);

  /// Occurrences counted so far.
  int count() const;

private:
  mutable std::mutex _mutex;
  std::condition_variable _cv;
  int _count = 0;
};
} // namespace iocore::test
