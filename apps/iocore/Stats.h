// Counters of the `iocore` command's own modes (proxy, http, echo) and their rendering, with the
// library's NetStats, in the Prometheus text exposition format (served by MetricsServer at
// GET /metrics). Counters are relaxed atomics bumped from any net thread.
#pragma once

#include <iocore/iocore.h>

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
  std::atomic<int64_t> proxy_no_upstream{0}; ///< clients closed because no upstream answered
  // http
  std::atomic<int64_t> http_connections_total{0};
  std::atomic<int64_t> http_requests{0};
  std::atomic<int64_t> http_responses_200{0};
  std::atomic<int64_t> http_responses_400{0};
  std::atomic<int64_t> http_responses_431{0};
  // echo
  std::atomic<int64_t> echo_connections_total{0};
  std::atomic<int64_t> echo_bytes{0};
  // every mode
  std::atomic<int64_t> active_sessions{0};
};

AppStats &app_stats();

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
