// Defaults of NetVConnection's optional operations.
#include "iocore/net/NetVConnection.h"

#include "iocore/eventsystem/Continuation.h"

#include <cerrno>

namespace iocore {
Action *
NetVConnection::send_OOB(Continuation *cont, char *buf, int len)
{
  (void)buf;
  (void)len;
  lerrno = ENOTSUP;
  cont->handleEvent(VC_EVENT_ERROR, nullptr);
  return ACTION_RESULT_DONE;
}

void
NetVConnection::cancel_OOB()
{
}
} // namespace iocore
