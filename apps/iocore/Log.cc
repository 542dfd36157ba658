// Leveled stderr logging for the `iocore` command. Each message is formatted into one buffer and
// written with a single write(2), so lines from different net threads do not interleave.
#include "Log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace iocore_cli {
namespace {
  std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

  const char *level_name(LogLevel level)
  {
    switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
    }
    return "?";
  }
} // namespace

void
set_log_level(LogLevel level)
{
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool
is_log_enabled(LogLevel level)
{
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void
log_message(LogLevel level, const char *fmt, ...)
{
  if (!is_log_enabled(level)) {
    return;
  }
  char buf[1024];
  int n = std::snprintf(buf, sizeof(buf), "iocore: %s: ", level_name(level));
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf + n, sizeof(buf) - static_cast<size_t>(n) - 1, fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + static_cast<size_t>(m < 0 ? 0 : m);
  if (len > sizeof(buf) - 2) {
    len = sizeof(buf) - 2;
  }
  buf[len++] = '\n';
  (void)!::write(STDERR_FILENO, buf, len);
}
} // namespace iocore_cli
