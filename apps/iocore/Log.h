// Diagnostics of the `iocore` command: leveled one-line messages on stderr ("iocore: warn: ...").
// Connection-level detail is logged at debug; start-up, drain and failures at info and above.
#pragma once

#include "Options.h"

namespace iocore_cli {
void set_log_level(LogLevel level);
bool is_log_enabled(LogLevel level);
/// printf-style; one line, the newline is added.
void log_message(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
} // namespace iocore_cli
