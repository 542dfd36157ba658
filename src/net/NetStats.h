// The net layer's counters, one relaxed atomic each (a counter is bumped from several net threads).
// net_stats_snapshot() copies them into the public NetStats struct.
#pragma once

#include <atomic>
#include <cstdint>

namespace iocore {
struct NetCounters {
  std::atomic<int64_t> connections_currently_open{0};
  std::atomic<int64_t> inbound_currently_open{0}; ///< accepted and not yet freed (max_connections_in)
  std::atomic<int64_t> accepts{0};
  std::atomic<int64_t> connects{0};
  std::atomic<int64_t> connect_failures{0};
  std::atomic<int64_t> throttled{0};
  std::atomic<int64_t> read_bytes{0};
  std::atomic<int64_t> write_bytes{0};
  std::atomic<int64_t> calls_to_read{0};
  std::atomic<int64_t> calls_to_write{0};
  std::atomic<int64_t> calls_to_read_nodata{0};
  std::atomic<int64_t> calls_to_write_nodata{0};
  std::atomic<int64_t> inactivity_timeouts{0};
  std::atomic<int64_t> active_timeouts{0};
  std::atomic<int64_t> keep_alive_evictions{0};
  std::atomic<int64_t> accept_errors{0};
  std::atomic<int64_t> tls_handshakes{0};
  std::atomic<int64_t> tls_handshake_failures{0};
  std::atomic<int64_t> calls_to_readfromnet{0};
  std::atomic<int64_t> calls_to_writetonet{0};
  std::atomic<int64_t> calls_to_writetonet_afterpoll{0};
  std::atomic<int64_t> inactivity_cop_lock_acquire_failure{0};
  std::atomic<int64_t> throttled_accepts{0};
};

NetCounters &net_counters();

inline void
net_count(std::atomic<int64_t> &c, int64_t n = 1)
{
  c.fetch_add(n, std::memory_order_relaxed);
}
} // namespace iocore
