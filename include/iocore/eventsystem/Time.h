// Monotonic time in nanoseconds, as ATS's ink_hrtime. Every timer, timeout and the event loop's cached
// "now" are expressed in this unit; HRTIME_* build durations.
#pragma once

#include <cstdint>

namespace iocore {
using ink_hrtime = std::int64_t;

constexpr ink_hrtime
HRTIME_NSECONDS(std::int64_t n)
{
  return n;
}
constexpr ink_hrtime
HRTIME_USECONDS(std::int64_t n)
{
  return n * 1000;
}
constexpr ink_hrtime
HRTIME_MSECONDS(std::int64_t n)
{
  return n * 1000 * 1000;
}
constexpr ink_hrtime
HRTIME_SECONDS(std::int64_t n)
{
  return n * 1000 * 1000 * 1000;
}

/// Monotonic now (CLOCK_MONOTONIC), read fresh. Inside an event loop prefer EThread::get_hrtime(),
/// the value cached once per loop iteration (and driven by the thread's Clock in tests).
ink_hrtime ink_get_hrtime();
} // namespace iocore
