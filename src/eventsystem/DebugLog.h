// DebugLog: how the library writes a debug line. IOCORE_DEBUG(tag, fmt, ...) formats and writes
// only when the tag is on (iocore/eventsystem/Diags.h); the arguments are not evaluated otherwise.
// Replaces ATS's Debug("tag", ...).
#pragma once

#include "iocore/eventsystem/Diags.h"

namespace iocore::detail {
/// Format and write one line: "iocore debug <tag> [<thread>] <message>".
void debug_write(DebugTag tag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/// Report a misuse of the API ("iocore: misuse: <message>") and abort.
[[noreturn]] void misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
} // namespace iocore::detail

// A macro, not a function: the arguments (a formatted address, say) must cost nothing while the
// tag is off, and printf formats are checked at each call.
// Debug builds (no NDEBUG) check the calling rules that ATS asserts: a broken rule aborts with a
// message that names it. Release builds compile the check away. Replaces ATS's ink_assert for them.
#ifdef NDEBUG
#define IOCORE_ASSERT_USAGE(cond, ...)                                                                                             \
  do {                                                                                                                             \
  } while (0)
#else
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define IOCORE_ASSERT_USAGE(cond, ...)                                                                                             \
  do {                                                                                                                             \
    if (!(cond)) [[unlikely]] {                                                                                                    \
      ::iocore::detail::misuse(__VA_ARGS__);                                                                                       \
    }                                                                                                                              \
  } while (0)
#endif

// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define IOCORE_DEBUG(tag, ...)                                                                                                     \
  do {                                                                                                                             \
    if (::iocore::is_debug_tag_enabled(tag)) [[unlikely]] {                                                                        \
      ::iocore::detail::debug_write((tag), __VA_ARGS__);                                                                           \
    }                                                                                                                              \
  } while (0)
