// `iocore proxy`: the proxy's shared configuration (upstream list, round-robin cursor, limits) and
// the entry point that turns each accepted client into a ProxyTunnel.
#pragma once

#include "Options.h"

#include <iocore/iocore.h>

#include <atomic>
#include <vector>

namespace iocore_cli {
struct TcpProxyConfig {
  std::vector<iocore::SocketAddress> upstreams;
  iocore::ink_hrtime connect_timeout = iocore::HRTIME_SECONDS(5);
  int64_t buffer_size                = 32768;
  int attempts                       = 1; ///< connection attempts per client (1 + --retries)
  CommonOptions common;
  /// TLS to the upstreams (--upstream-tls); upstream_options carries SNI / verification / CA.
  bool upstream_tls = false;
  iocore::NetVCOptions upstream_options;
  /// --splice auto: a direction of a plain TCP tunnel that shows bulk flow moves on to splice(2)
  /// (ProxyTunnel decides per direction).
  bool splice = true;
  /// Round-robin cursor: each client starts at the next upstream.
  std::atomic<uint64_t> next_upstream{0};

  void configure(const Options &options);
};

/// Start a tunnel for a freshly accepted client (called on its thread, holding its mutex). `config`
/// must outlive every tunnel.
void start_proxy_session(iocore::NetVConnection *client, TcpProxyConfig &config);
} // namespace iocore_cli
