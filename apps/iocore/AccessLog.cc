// Access log writer: lines are formatted on the calling net thread and appended under one mutex
// with a flush per line (the log is for humans and tests, not the hot path; leave it off to bench).
#include "AccessLog.h"

#include <iocore/net/SocketAddress.h>
#include <iocore/tls/TLS.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

namespace iocore_cli {
namespace {
  std::mutex g_mutex;
  std::FILE *g_file = nullptr;
  bool g_is_stdout  = false;

  std::string utc_timestamp()
  {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    tm tmv{};
    ::gmtime_r(&ts.tv_sec, &tmv);
    char buf[64];
    size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tmv);
    std::snprintf(buf + n, sizeof(buf) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return buf;
  }
} // namespace

const char *
end_reason_name(EndReason reason)
{
  switch (reason) {
  case EndReason::kEof:
    return "eof";
  case EndReason::kTimeout:
    return "timeout";
  case EndReason::kError:
    return "error";
  case EndReason::kDrain:
    return "drain";
  }
  return "?";
}

bool
open_access_log(const std::string &target, std::string &error)
{
  std::lock_guard<std::mutex> guard(g_mutex);
  if (target == "-") {
    g_file      = stdout;
    g_is_stdout = true;
    return true;
  }
  g_file = std::fopen(target.c_str(), "a");
  if (g_file == nullptr) {
    error = "--access-log: cannot open '" + target + "' for appending";
    return false;
  }
  return true;
}

bool
is_access_log_enabled()
{
  std::lock_guard<std::mutex> guard(g_mutex);
  return g_file != nullptr;
}

void
write_access_log(const AccessRecord &r)
{
  if (!is_access_log_enabled()) {
    return;
  }
  std::string line = utc_timestamp();
  line += ' ';
  line += r.mode;
  line += " client=" + r.client;
  if (!r.upstream.empty()) {
    line += " upstream=" + r.upstream;
  }
  line += " bytes_in=" + std::to_string(r.bytes_in);
  line += " bytes_out=" + std::to_string(r.bytes_out);
  if (r.requests >= 0) {
    line += " requests=" + std::to_string(r.requests);
  }
  char dur[32];
  std::snprintf(dur, sizeof(dur), "%.3f", static_cast<double>(r.duration) / 1e6);
  line += " duration_ms=";
  line += dur;
  line += " end=";
  line += end_reason_name(r.end);
  if (!r.detail.empty()) {
    line += " detail=" + r.detail;
  }
  line += '\n';
  std::lock_guard<std::mutex> guard(g_mutex);
  if (g_file != nullptr) {
    std::fputs(line.c_str(), g_file);
    std::fflush(g_file);
  }
}

void
close_access_log()
{
  std::lock_guard<std::mutex> guard(g_mutex);
  if (g_file != nullptr && !g_is_stdout) {
    std::fclose(g_file);
  }
  g_file = nullptr;
}

std::string
errno_name(int err)
{
  if (err == iocore::ENET_SSL_FAILED) {
    return "ETLS"; // a TLS handshake or record failure (the library's lerrno, not an OS errno)
  }
  const char *name = ::strerrorname_np(err);
  return name ? name : "errno_" + std::to_string(err);
}

std::string
endpoint_string(const sockaddr *addr)
{
  return iocore::SocketAddress::from_sockaddr(addr).to_string();
}
} // namespace iocore_cli
