// TcpProxyConfig: turning the proxy's command-line options into per-tunnel settings (the default
// --retries is "every other upstream once").
#include "TcpProxy.h"

#include "ProxyTunnel.h"
#include "Session.h"
#include "Stats.h"

namespace iocore_cli {
void
TcpProxyConfig::configure(const Options &options)
{
  upstreams       = options.proxy.upstreams;
  connect_timeout = options.proxy.connect_timeout;
  buffer_size     = options.proxy.buffer_size;
  int retries     = options.proxy.retries.value_or(static_cast<int>(upstreams.size()) - 1);
  attempts        = 1 + retries;
  common          = options.common;
  upstream_tls    = options.proxy.upstream_tls.has_value();
  splice          = options.proxy.splice;
  if (upstream_tls) {
    upstream_options.verify_peer    = *options.proxy.upstream_tls == "verify";
    upstream_options.ca_file        = options.proxy.upstream_ca;
    upstream_options.sni_servername = options.proxy.upstream_sni;
  }
}

void
start_proxy_session(iocore::NetVConnection *client, TcpProxyConfig &config)
{
  stat_add(app_stats().proxy_tunnels_total);
  auto *tunnel = new ProxyTunnel(client, config);
  SessionRegistry::instance().add(tunnel);
  tunnel->start();
}
} // namespace iocore_cli
