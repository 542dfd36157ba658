// The shutdown sequence: sigwait() in the main thread (no async-signal-safety concerns), then the
// drain through SessionRegistry.
#include "Shutdown.h"

#include "Log.h"
#include "Session.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include <chrono>

namespace iocore_cli {
namespace {
  /// After the forced close, how long sessions get to run their close on their own threads.
  constexpr auto kForceCloseGrace = std::chrono::seconds(2);

  /// Set by request_stop() (-1: not requested).
  std::atomic<int> g_requested_exit{-1};

  sigset_t shutdown_signals()
  {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
  }
} // namespace

void
block_shutdown_signals()
{
  sigset_t set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void
request_stop(int exit_code)
{
  g_requested_exit.store(exit_code, std::memory_order_release);
  ::kill(::getpid(), SIGTERM); // process-directed: the main thread's sigwait() takes it
}

std::optional<int>
requested_exit_code()
{
  int code = g_requested_exit.load(std::memory_order_acquire);
  return code >= 0 ? std::optional<int>(code) : std::nullopt;
}

int
wait_for_shutdown_signal()
{
  sigset_t set = shutdown_signals();
  int sig      = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

void
drain(const std::vector<std::unique_ptr<Listener>> &listeners, iocore::ink_hrtime drain_timeout)
{
  for (auto &l : listeners) {
    l->stop();
  }
  SessionRegistry &registry = SessionRegistry::instance();
  auto deadline             = std::chrono::steady_clock::now() + std::chrono::nanoseconds(drain_timeout);
  log_message(LogLevel::kInfo, "draining %zu open connection(s) for up to %.1f s", registry.size(),
              static_cast<double>(drain_timeout) / 1e9);
  registry.start_drain();
  if (registry.wait_until_empty(deadline)) {
    return;
  }
  log_message(LogLevel::kInfo, "drain timeout: closing %zu remaining connection(s)", registry.size());
  registry.force_close_all();
  if (!registry.wait_until_empty(std::chrono::steady_clock::now() + kForceCloseGrace)) {
    log_message(LogLevel::kWarn, "%zu connection(s) did not close in time", registry.size());
  }
}
} // namespace iocore_cli
