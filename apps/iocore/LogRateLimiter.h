// LogRateLimiter: at most one log line per key (an upstream, say) per interval, so a failure that
// repeats for every connection is reported, not repeated thousands of times; the lines held back
// are counted and the next line that is written says how many.
#pragma once

#include <iocore/eventsystem/Time.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace iocore_cli {
class LogRateLimiter
{
public:
  explicit LogRateLimiter(iocore::ink_hrtime interval) : _interval(interval) {}

  /// Whether a line about `key` may be written at `now`. When it may, `held_back` is how many
  /// lines about it were held back since the last one written. Any thread.
  bool allow(const std::string &key, iocore::ink_hrtime now, int64_t &held_back);

private:
  struct Entry {
    iocore::ink_hrtime last_written = 0;
    int64_t held_back               = 0;
  };
  const iocore::ink_hrtime _interval;
  std::mutex _mutex;
  std::unordered_map<std::string, Entry> _entries;
};
} // namespace iocore_cli
