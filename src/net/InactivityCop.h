// InactivityCop: one per net thread, run every NetConfig::inactivity_check_frequency under the
// NetHandler's mutex. It walks every open connection of its thread, frees those closed from
// elsewhere, and delivers inactivity and active timeouts whose deadline has passed — without one
// timer per connection. Deadlines are compared with the loop's cached time, which never runs ahead
// of the real clock, so a timeout never fires early.
#pragma once

#include "iocore/eventsystem/Continuation.h"

namespace iocore {
class NetHandler;

class InactivityCop : public Continuation
{
public:
  explicit InactivityCop(NetHandler &nh);
  int check_inactivity(int event, void *data);

private:
  NetHandler &_nh;
};
} // namespace iocore
