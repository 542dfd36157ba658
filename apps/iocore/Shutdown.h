// Signals and the drain of the `iocore` command. SIGTERM and SIGINT are blocked in every thread
// (block_shutdown_signals() runs before any thread starts) and taken synchronously by the main
// thread, which then stops the listeners, lets sessions finish up to --drain-timeout and closes
// the rest.
#pragma once

#include "Listener.h"

#include <iocore/iocore.h>

#include <memory>
#include <optional>
#include <vector>

namespace iocore_cli {
/// Block SIGTERM and SIGINT in the calling thread (threads started later inherit the mask).
void block_shutdown_signals();
/// Wait for SIGTERM or SIGINT; returns the signal number.
int wait_for_shutdown_signal();
/// From any thread: make wait_for_shutdown_signal() return, and the command exit with exit_code.
void request_stop(int exit_code);
/// The exit code asked for by request_stop(), if it was called.
std::optional<int> requested_exit_code();
/// Stop accepting on every listener, let sessions finish for up to drain_timeout, then close the
/// remaining ones ("drain" in the access log) and wait briefly for them to go.
void drain(const std::vector<std::unique_ptr<Listener>> &listeners, iocore::ink_hrtime drain_timeout);
} // namespace iocore_cli
