// The source of "now" for an event loop. Production threads read CLOCK_MONOTONIC through
// steady_clock(); tests hand an EThread a manual clock and advance time by hand, so timers and
// timeouts can be checked without sleeping.
#pragma once

#include "iocore/eventsystem/Time.h"

namespace iocore {
class Clock
{
public:
  virtual ~Clock()               = default;
  virtual ink_hrtime now() const = 0;
};

/// The process-wide CLOCK_MONOTONIC clock.
Clock &steady_clock();
} // namespace iocore
