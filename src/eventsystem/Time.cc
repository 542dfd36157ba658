// CLOCK_MONOTONIC time and the production Clock; the event-code names used in logs and tests.
#include "iocore/eventsystem/Clock.h"
#include "iocore/eventsystem/EventCodes.h"
#include "iocore/eventsystem/Time.h"

#include <ctime>

namespace iocore {
ink_hrtime
ink_get_hrtime()
{
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return HRTIME_SECONDS(ts.tv_sec) + ts.tv_nsec;
}

namespace {
  class SteadyClock final : public Clock
  {
  public:
    ink_hrtime now() const override { return ink_get_hrtime(); }
  };
} // namespace

Clock &
steady_clock()
{
  static SteadyClock clock;
  return clock;
}

const char *
event_name(int event)
{
  switch (event) {
  case EVENT_NONE:
    return "EVENT_NONE";
  case EVENT_IMMEDIATE:
    return "EVENT_IMMEDIATE";
  case EVENT_INTERVAL:
    return "EVENT_INTERVAL";
  case EVENT_ERROR:
    return "VC_EVENT_ERROR";
  case EVENT_CALL:
    return "EVENT_CALL";
  case EVENT_POLL:
    return "EVENT_POLL";
  case VC_EVENT_READ_READY:
    return "VC_EVENT_READ_READY";
  case VC_EVENT_WRITE_READY:
    return "VC_EVENT_WRITE_READY";
  case VC_EVENT_READ_COMPLETE:
    return "VC_EVENT_READ_COMPLETE";
  case VC_EVENT_WRITE_COMPLETE:
    return "VC_EVENT_WRITE_COMPLETE";
  case VC_EVENT_EOS:
    return "VC_EVENT_EOS";
  case VC_EVENT_INACTIVITY_TIMEOUT:
    return "VC_EVENT_INACTIVITY_TIMEOUT";
  case VC_EVENT_ACTIVE_TIMEOUT:
    return "VC_EVENT_ACTIVE_TIMEOUT";
  case VC_EVENT_OOB_COMPLETE:
    return "VC_EVENT_OOB_COMPLETE";
  case NET_EVENT_OPEN:
    return "NET_EVENT_OPEN";
  case NET_EVENT_OPEN_FAILED:
    return "NET_EVENT_OPEN_FAILED";
  case NET_EVENT_ACCEPT:
    return "NET_EVENT_ACCEPT";
  case NET_EVENT_ACCEPT_SUCCEED:
    return "NET_EVENT_ACCEPT_SUCCEED";
  case NET_EVENT_ACCEPT_FAILED:
    return "NET_EVENT_ACCEPT_FAILED";
  case SPLICE_TUNNEL_EVENT_DONE:
    return "SPLICE_TUNNEL_EVENT_DONE";
  default:
    return "EVENT_UNKNOWN";
  }
}
} // namespace iocore
