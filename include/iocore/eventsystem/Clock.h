// The source of "now" for an event loop. Production threads read CLOCK_MONOTONIC through
// steady_clock(); tests hand an EThread a manual clock and advance time by hand, so timers and
// timeouts can be checked without sleeping.
#pragma once

#include "iocore/eventsystem/Time.h"

namespace iocore {
/// Where an EThread reads the time. steady_clock() in production; a test's manual clock elsewhere.
class Clock
{
public:
  virtual ~Clock() = default;
  /// Monotonic now, in nanoseconds.
  virtual ink_hrtime now() const = 0;
};

/// The process-wide CLOCK_MONOTONIC clock.
Clock &steady_clock();
} // namespace iocore
