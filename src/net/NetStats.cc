// Storage of the net counters and configuration, and the public snapshot.
#include "iocore/net/NetProcessor.h"

#include "net/NetStats.h"

namespace iocore {
NetCounters &
net_counters()
{
  static NetCounters c;
  return c;
}

NetConfig &
net_config()
{
  static NetConfig config;
  return config;
}

NetStats
net_stats_snapshot()
{
  NetCounters &c = net_counters();
  NetStats s;
  s.connections_currently_open          = c.connections_currently_open.load(std::memory_order_relaxed);
  s.accepts                             = c.accepts.load(std::memory_order_relaxed);
  s.connects                            = c.connects.load(std::memory_order_relaxed);
  s.connect_failures                    = c.connect_failures.load(std::memory_order_relaxed);
  s.throttled                           = c.throttled.load(std::memory_order_relaxed);
  s.read_bytes                          = c.read_bytes.load(std::memory_order_relaxed);
  s.write_bytes                         = c.write_bytes.load(std::memory_order_relaxed);
  s.calls_to_read                       = c.calls_to_read.load(std::memory_order_relaxed);
  s.calls_to_write                      = c.calls_to_write.load(std::memory_order_relaxed);
  s.calls_to_read_nodata                = c.calls_to_read_nodata.load(std::memory_order_relaxed);
  s.calls_to_write_nodata               = c.calls_to_write_nodata.load(std::memory_order_relaxed);
  s.inactivity_timeouts                 = c.inactivity_timeouts.load(std::memory_order_relaxed);
  s.active_timeouts                     = c.active_timeouts.load(std::memory_order_relaxed);
  s.keep_alive_evictions                = c.keep_alive_evictions.load(std::memory_order_relaxed);
  s.accept_errors                       = c.accept_errors.load(std::memory_order_relaxed);
  s.tls_handshakes                      = c.tls_handshakes.load(std::memory_order_relaxed);
  s.tls_handshake_failures              = c.tls_handshake_failures.load(std::memory_order_relaxed);
  s.calls_to_readfromnet                = c.calls_to_readfromnet.load(std::memory_order_relaxed);
  s.calls_to_writetonet                 = c.calls_to_writetonet.load(std::memory_order_relaxed);
  s.calls_to_writetonet_afterpoll       = c.calls_to_writetonet_afterpoll.load(std::memory_order_relaxed);
  s.inactivity_cop_lock_acquire_failure = c.inactivity_cop_lock_acquire_failure.load(std::memory_order_relaxed);
  s.throttled_accepts                   = c.throttled_accepts.load(std::memory_order_relaxed);
  return s;
}
} // namespace iocore
