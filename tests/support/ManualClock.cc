// ManualClock: an atomic counter of nanoseconds, so that a test thread may advance it while an event
// thread reads it.
#include "support/ManualClock.h"

#include <cassert>

namespace iocore::test {
ManualClock::ManualClock(ink_hrtime start) : _now(start) {}

ink_hrtime
ManualClock::now() const
{
  return _now.load(std::memory_order_acquire);
}

ink_hrtime
ManualClock::advance(ink_hrtime d)
{
  assert(d >= 0 && "ManualClock::advance: time only moves forward");
  return _now.fetch_add(d, std::memory_order_acq_rel) + d;
}

void
ManualClock::set(ink_hrtime t)
{
  _now.store(t, std::memory_order_release);
}
} // namespace iocore::test
