// Counters of the `iocore` command's own modes (proxy, http, echo) and their rendering, with the
// library's NetStats, in the Prometheus text exposition format (served by MetricsServer at
// GET /metrics). Counters are relaxed atomics bumped from any net thread.
#pragma once

#include <iocore/iocore.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace iocore_cli {
struct AppStats {
  // proxy
  std::atomic<int64_t> proxy_tunnels_total{0};
  std::atomic<int64_t> proxy_active_tunnels{0};
  std::atomic<int64_t> proxy_upstream_connect_failures{0};
  std::atomic<int64_t> proxy_bytes_client_to_upstream{0};
  std::atomic<int64_t> proxy_bytes_upstream_to_client{0};
  std::atomic<int64_t> proxy_no_upstream{0};     ///< clients closed because no upstream answered
  std::atomic<int64_t> proxy_spliced_tunnels{0}; ///< tunnels with a direction switched to splice(2)
  // http
  std::atomic<int64_t> http_connections_total{0};
  std::atomic<int64_t> http_requests{0};
  /// Responses by status code, in the order of kHttpStatusCodes (see http_responses()).
  std::array<std::atomic<int64_t>, 8> http_responses_by_code{};
  // echo
  std::atomic<int64_t> echo_connections_total{0};
  std::atomic<int64_t> echo_bytes{0};
  // every mode
  std::atomic<int64_t> active_sessions{0};
};

AppStats &app_stats();

/// Every status code `iocore http` answers with; the metrics show each, 0 until it is sent.
inline constexpr std::array<int, 8> kHttpStatusCodes = {200, 400, 405, 408, 413, 431, 501, 505};

/// The counter of responses with `code`, which must be one of kHttpStatusCodes.
std::atomic<int64_t> &http_responses(AppStats &stats, int code);

inline void
stat_add(std::atomic<int64_t> &counter, int64_t n = 1)
{
  counter.fetch_add(n, std::memory_order_relaxed);
}

/// Which mode families to render (bit per mode; see StatsModes).
enum StatsModes : unsigned { kStatsProxy = 1, kStatsHttp = 2, kStatsEcho = 4 };

/// The whole exposition: iocore_net_* from the snapshot, then the families of the modes in `modes`.
std::string render_prometheus(const iocore::NetStats &net, const AppStats &app, unsigned modes);
} // namespace iocore_cli
