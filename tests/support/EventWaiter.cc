// EventWaiter: a counter under a mutex and a condition variable waited on against a steady-clock
// deadline (spurious wake-ups and early notifications are both handled by re-checking).
#include "support/EventWaiter.h"

namespace iocore::test {
void
EventWaiter::notify(int n)
{
  // Notify under the lock: once the waiter can take the lock again, this call no longer touches
  // the waiter, which may then be destroyed at once (TSan saw a broadcast on a destroyed
  // condition variable when the notification came after the unlock).
  std::lock_guard<std::mutex> lock(_mutex);
  _count += n;
  _cv.notify_all();
}

bool
EventWaiter::wait_for(int n, std::chrono::nanoseconds timeout)
{
  std::unique_lock<std::mutex> lock(_mutex);
  return _cv.wait_until(lock, std::chrono::steady_clock::now() + timeout, [&] { return _count >= n; });
}

bool
EventWaiter::wait_until(const std::function<bool()> &pred, std::chrono::nanoseconds timeout)
{
  std::unique_lock<std::mutex> lock(_mutex);
  return _cv.wait_until(lock, std::chrono::steady_clock::now() + timeout, pred);
}

int
EventWaiter::count() const
{
  std::lock_guard<std::mutex> lock(_mutex);
  return _count;
}
} // namespace iocore::test
