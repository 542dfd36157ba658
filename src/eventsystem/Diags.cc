// Diags: the debug tag set (a bit mask, read from IOCORE_DEBUG_TAGS when the library is loaded)
// and the line writer.
#include "iocore/eventsystem/Diags.h"

#include "iocore/eventsystem/EThread.h"

#include "eventsystem/DebugLog.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdlib>

namespace iocore {
namespace detail {
  std::atomic<uint32_t> g_debug_tags{0};
} // namespace detail

namespace {
  constexpr std::array<const char *, static_cast<std::size_t>(DebugTag::kCount)> kTagNames = {
      "iocore_net", "inactivity_cop", "socket", "ssl", "accept", "connect", "event"};

  std::atomic<std::FILE *> g_output{nullptr};

  /// Parse a tag list into a mask; false (with the bad name) on an unknown tag.
  bool parse_tags(std::string_view list, uint32_t &mask, std::string *error)
  {
    mask = 0;
    while (!list.empty()) {
      std::size_t end       = list.find_first_of(", ");
      std::string_view name = list.substr(0, end);
      list.remove_prefix(end == std::string_view::npos ? list.size() : end + 1);
      if (name.empty()) {
        continue;
      }
      if (name == "all") {
        mask |= (1u << kTagNames.size()) - 1;
        continue;
      }
      bool known = false;
      for (std::size_t i = 0; i < kTagNames.size(); ++i) {
        if (name == kTagNames[i]) {
          mask |= 1u << i;
          known = true;
        }
      }
      if (!known) {
        if (error != nullptr) {
          *error = "unknown debug tag '" + std::string(name) + "' (known: " + "iocore_net, inactivity_cop, socket, ssl, " +
                   "accept, connect, event, all)";
        }
        return false;
      }
    }
    return true;
  }

  /// IOCORE_DEBUG_TAGS, read once when the library is loaded.
  const bool g_env_read = [] {
    if (const char *env = std::getenv("IOCORE_DEBUG_TAGS"); env != nullptr) {
      std::string error;
      if (!set_debug_tags(env, &error)) {
        std::fprintf(stderr, "iocore: IOCORE_DEBUG_TAGS: %s\n", error.c_str());
      }
    }
    return true;
  }();
} // namespace

const char *
debug_tag_name(DebugTag tag)
{
  auto i = static_cast<std::size_t>(tag);
  return i < kTagNames.size() ? kTagNames[i] : "?";
}

bool
set_debug_tags(std::string_view list, std::string *error)
{
  uint32_t mask = 0;
  if (!parse_tags(list, mask, error)) {
    return false;
  }
  detail::g_debug_tags.store(mask, std::memory_order_relaxed);
  return true;
}

bool
check_debug_tags(std::string_view list, std::string *error)
{
  uint32_t mask = 0;
  return parse_tags(list, mask, error);
}

std::string
debug_tags()
{
  uint32_t mask = detail::g_debug_tags.load(std::memory_order_relaxed);
  std::string out;
  for (std::size_t i = 0; i < kTagNames.size(); ++i) {
    if (mask & (1u << i)) {
      out += out.empty() ? "" : ",";
      out += kTagNames[i];
    }
  }
  return out;
}

void
set_debug_output(std::FILE *out)
{
  g_output.store(out, std::memory_order_release);
}

void
detail::misuse(const char *fmt, ...)
{
  char line[1024];
  int n = std::snprintf(line, sizeof(line), "iocore: misuse: ");
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof(line) - static_cast<std::size_t>(n) - 1, fmt, ap);
  va_end(ap);
  std::size_t len = std::min(static_cast<std::size_t>(n) + static_cast<std::size_t>(std::max(0, m)), sizeof(line) - 2);
  line[len++]     = '\n';
  (void)::write(STDERR_FILENO, line, len);
  std::abort();
}

void
detail::debug_write(DebugTag tag, const char *fmt, ...)
{
  char line[1024];
  EThread *t = this_ethread();
  int n      = t != nullptr ? std::snprintf(line, sizeof(line), "iocore debug %s [ET %d] ", debug_tag_name(tag), t->id)
                            : std::snprintf(line, sizeof(line), "iocore debug %s [-] ", debug_tag_name(tag));
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof(line) - static_cast<std::size_t>(n) - 1, fmt, ap);
  va_end(ap);
  std::size_t len = static_cast<std::size_t>(n) + static_cast<std::size_t>(std::max(0, m));
  len             = std::min(len, sizeof(line) - 2);
  line[len++]     = '\n';
  std::FILE *out  = g_output.load(std::memory_order_acquire);
  if (out == nullptr) {
    (void)::write(STDERR_FILENO, line, len);
    return;
  }
  std::fwrite(line, 1, len, out);
  std::fflush(out);
}
} // namespace iocore
