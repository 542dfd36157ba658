// The --stats endpoint: a tiny HTTP server answering GET /metrics with the Prometheus text of
// Stats.h (one request per connection). Its connections are not sessions: they never hold up a drain.
#pragma once

#include <iocore/iocore.h>

namespace iocore_cli {
/// Serve one metrics request on a freshly accepted connection. `modes` selects the families
/// (StatsModes bits); the whole request must arrive within `request_timeout` (0: no limit).
void start_metrics_session(iocore::NetVConnection *vc, unsigned modes, iocore::ink_hrtime request_timeout);
} // namespace iocore_cli
