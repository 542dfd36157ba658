// Diags: the library's debug tags (ATS's names: iocore_net, inactivity_cop, socket, ssl, accept,
// connect, event). Every tag is off by default and costs one predictable branch where it is used;
// switch tags on at start with the environment variable IOCORE_DEBUG_TAGS="iocore_net,socket"
// (read when the library is loaded) or at any time with set_debug_tags(). Lines about a
// connection carry its id ("vc 17"), so one connection can be followed from accept to close.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace iocore {
/// A subject of debug output, switched on and off by name (debug_tag_name()).
enum class DebugTag : uint32_t {
  kIocoreNet,     ///< "iocore_net": VIO calls, reads, writes, events signalled, closes
  kInactivityCop, ///< "inactivity_cop": timeouts, orphans, keep-alive and active-queue evictions
  kSocket,        ///< "socket": socket creation, options, the graceful close
  kSsl,           ///< "ssl": TLS handshakes and their failures
  kAccept,        ///< "accept": listeners, accepted connections, accept errors, throttling
  kConnect,       ///< "connect": outgoing connections and how their connect ends
  kEvent,         ///< "event": event threads starting and stopping
  kCount
};

/// The tag's name as used in IOCORE_DEBUG_TAGS and set_debug_tags().
const char *debug_tag_name(DebugTag tag);

/// Switch on exactly the tags in `list`: names separated by commas or spaces, "all" for every
/// tag, "" for none. Any thread, any time. On an unknown name nothing changes, the result is
/// false and `error` (if given) names it.
bool set_debug_tags(std::string_view list, std::string *error = nullptr);
/// Whether set_debug_tags(list) would accept the list (changes nothing).
bool check_debug_tags(std::string_view list, std::string *error = nullptr);
/// The tags that are on, comma-separated, in DebugTag order ("" when none).
std::string debug_tags();
/// Where debug lines go (default: stderr). Each line is written with one call, so lines of
/// different threads do not interleave.
void set_debug_output(std::FILE *out);

namespace detail {
  extern std::atomic<uint32_t> g_debug_tags;
}

/// Whether a tag is on: one relaxed load and a bit test.
inline bool
is_debug_tag_enabled(DebugTag tag)
{
  return (detail::g_debug_tags.load(std::memory_order_relaxed) >> static_cast<uint32_t>(tag)) & 1u;
}
} // namespace iocore
