// `iocore echo`: every byte a client sends is written back through one bounded buffer (the read
// VIO fills it, the write VIO drains it); when the client half-closes, the rest is echoed and the
// server half-closes too.
#pragma once

#include "Options.h"

#include <iocore/iocore.h>

namespace iocore_cli {
/// Start an echo session on a freshly accepted connection (called on its thread, holding its mutex).
void start_echo_session(iocore::NetVConnection *vc, const CommonOptions &common);
} // namespace iocore_cli
