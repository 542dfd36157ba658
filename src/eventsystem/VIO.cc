// VIO: forwarding of reenable to the VConnection that owns the VIO.
#include "iocore/eventsystem/VIO.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/VConnection.h"

namespace iocore {
void
VIO::set_continuation(Continuation *c)
{
  _cont = c;
  if (c) {
    mutex = c->mutex;
  } else {
    mutex.clear();
  }
}

void
VIO::reenable()
{
  if (vc_server) {
    vc_server->reenable(this);
  }
}

void
VIO::reenable_re()
{
  if (vc_server) {
    vc_server->reenable_re(this);
  }
}
} // namespace iocore
