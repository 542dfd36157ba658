// LogRateLimiter: one mutex-guarded map entry per key; the first line about a key is always written.
#include "LogRateLimiter.h"

namespace iocore_cli {
bool
LogRateLimiter::allow(const std::string &key, iocore::ink_hrtime now, int64_t &held_back)
{
  std::lock_guard<std::mutex> guard(_mutex);
  auto [it, first] = _entries.try_emplace(key);
  Entry &e         = it->second;
  if (!first && now - e.last_written < _interval) {
    ++e.held_back;
    return false;
  }
  held_back      = e.held_back;
  e.held_back    = 0;
  e.last_written = now;
  return true;
}
} // namespace iocore_cli
