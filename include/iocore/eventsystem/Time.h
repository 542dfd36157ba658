// Monotonic time in nanoseconds, as ATS's ink_hrtime. Every timer, timeout and the event loop's cached
// "now" are expressed in this unit; HRTIME_* build durations.
#pragma once

#include <cstdint>

namespace iocore {
/// Nanoseconds: a monotonic time point (from ink_get_hrtime() or an EThread's clock) or a duration.
using ink_hrtime = std::int64_t;

/// @name Durations
/// n nanoseconds, microseconds, milliseconds or seconds as an ink_hrtime (ATS's HRTIME_* macros).
/// @{

/// n nanoseconds.
constexpr ink_hrtime
HRTIME_NSECONDS(std::int64_t n)
{
  return n;
}
/// n microseconds.
constexpr ink_hrtime
HRTIME_USECONDS(std::int64_t n)
{
  return n * 1000;
}
/// n milliseconds.
constexpr ink_hrtime
HRTIME_MSECONDS(std::int64_t n)
{
  return n * 1000 * 1000;
}
/// n seconds.
constexpr ink_hrtime
HRTIME_SECONDS(std::int64_t n)
{
  return n * 1000 * 1000 * 1000;
}
/// @}

/// Monotonic now (CLOCK_MONOTONIC), read fresh. Inside an event loop prefer EThread::get_hrtime(),
/// the value cached once per loop iteration (and driven by the thread's Clock in tests).
ink_hrtime ink_get_hrtime();
} // namespace iocore
