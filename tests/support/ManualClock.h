// A Clock that only moves when a test moves it. Hand an EThread one (EThread t(REGULAR, 0, &clock))
// and timers, retries and periodic events can be checked at exact instants, without sleeping.
#pragma once

#include "iocore/eventsystem/Clock.h"
#include "iocore/eventsystem/Time.h"

#include <atomic>

namespace iocore::test {
class ManualClock final : public Clock
{
public:
  /// Starts well above 0: an absolute deadline of 0 means "immediate" to the event system.
  static constexpr ink_hrtime kDefaultStart = HRTIME_SECONDS(1000);

  explicit ManualClock(ink_hrtime start = kDefaultStart);

  /// Any thread; the value last set or advanced to.
  ink_hrtime now() const override;
  /// Move time forward by d (d >= 0). Any thread; concurrent advances add up. Returns the new time.
  ink_hrtime advance(ink_hrtime d);
  /// Jump to t. Going backwards is allowed for tests of the clock itself, but an EThread assumes a
  /// monotonic clock.
  void set(ink_hrtime t);

private:
  std::atomic<ink_hrtime> _now;
};
} // namespace iocore::test
