// Prometheus text format rendering: each family gets its # HELP and # TYPE line, counters end in
// _total, names carry the iocore_ prefix. Responses by status are one family with a status label.
#include "Stats.h"

#include <cassert>

namespace iocore_cli {
namespace {
  void family(std::string &out, const char *name, const char *type, const char *help)
  {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  }

  void sample(std::string &out, const char *name, int64_t value, const char *labels = nullptr)
  {
    out += name;
    if (labels != nullptr) {
      out += '{';
      out += labels;
      out += '}';
    }
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  }

  void metric(std::string &out, const char *name, const char *type, const char *help, int64_t value)
  {
    family(out, name, type, help);
    sample(out, name, value);
  }

  int64_t get(const std::atomic<int64_t> &a)
  {
    return a.load(std::memory_order_relaxed);
  }

  void render_net(std::string &out, const iocore::NetStats &n)
  {
    // The backend as an info-style gauge: 1 for the one the net threads run.
    family(out, "iocore_net_io_backend", "gauge", "The net threads' IO backend (1: in use).");
    std::string label = std::string("backend=\"") + iocore::io_backend_name(iocore::net_io_backend()) + "\"";
    sample(out, "iocore_net_io_backend", 1, label.c_str());
    metric(out, "iocore_net_connections_currently_open", "gauge", "Open connections (both directions).",
           n.connections_currently_open);
    metric(out, "iocore_net_accepts_total", "counter", "Connections accepted.", n.accepts);
    metric(out, "iocore_net_connects_total", "counter", "Outgoing connections opened.", n.connects);
    metric(out, "iocore_net_connect_failures_total", "counter", "Outgoing connections that failed to open.", n.connect_failures);
    metric(out, "iocore_net_throttled_total", "counter", "Connects refused by the throttle.", n.throttled);
    metric(out, "iocore_net_throttled_accepts_total", "counter", "Accepted connections closed at once by the throttle.",
           n.throttled_accepts);
    metric(out, "iocore_net_calls_to_readfromnet_total", "counter", "Read steps run.", n.calls_to_readfromnet);
    metric(out, "iocore_net_calls_to_writetonet_total", "counter", "Write steps run.", n.calls_to_writetonet);
    metric(out, "iocore_net_calls_to_writetonet_afterpoll_total", "counter", "Write steps run by a net thread's pass.",
           n.calls_to_writetonet_afterpoll);
    metric(out, "iocore_net_inactivity_cop_lock_acquire_failures_total", "counter",
           "Timeouts and evictions put off because a connection's lock was busy.", n.inactivity_cop_lock_acquire_failure);
    metric(out, "iocore_net_read_bytes_total", "counter", "Bytes read from sockets.", n.read_bytes);
    metric(out, "iocore_net_write_bytes_total", "counter", "Bytes written to sockets.", n.write_bytes);
    metric(out, "iocore_net_calls_to_read_total", "counter", "read() calls.", n.calls_to_read);
    metric(out, "iocore_net_calls_to_write_total", "counter", "write() calls.", n.calls_to_write);
    metric(out, "iocore_net_calls_to_read_nodata_total", "counter", "read() calls that found no data.", n.calls_to_read_nodata);
    metric(out, "iocore_net_calls_to_write_nodata_total", "counter", "write() calls that could not write.",
           n.calls_to_write_nodata);
    metric(out, "iocore_net_inactivity_timeouts_total", "counter", "Inactivity timeouts fired.", n.inactivity_timeouts);
    metric(out, "iocore_net_active_timeouts_total", "counter", "Active timeouts fired.", n.active_timeouts);
    metric(out, "iocore_net_keep_alive_evictions_total", "counter", "Keep-alive connections closed to make room.",
           n.keep_alive_evictions);
    metric(out, "iocore_net_accept_errors_total", "counter", "accept() failures (EMFILE...).", n.accept_errors);
    metric(out, "iocore_net_tls_handshakes_total", "counter", "TLS handshakes completed (client and server side).",
           n.tls_handshakes);
    metric(out, "iocore_net_tls_handshake_failures_total", "counter",
           "TLS handshakes that failed (protocol error, certificate refused, peer gone).", n.tls_handshake_failures);
  }

  void render_proxy(std::string &out, const AppStats &a)
  {
    metric(out, "iocore_proxy_tunnels_total", "counter", "Client connections accepted by the proxy.", get(a.proxy_tunnels_total));
    metric(out, "iocore_proxy_active_tunnels", "gauge", "Client connections the proxy is serving.", get(a.proxy_active_tunnels));
    metric(out, "iocore_proxy_upstream_connect_failures_total", "counter", "Upstream connection attempts that failed or timed out.",
           get(a.proxy_upstream_connect_failures));
    metric(out, "iocore_proxy_no_upstream_total", "counter", "Clients closed because no upstream answered.",
           get(a.proxy_no_upstream));
    metric(out, "iocore_proxy_spliced_tunnels_total", "counter",
           "Tunnels that switched at least one direction to splice(2) (bulk flow).", get(a.proxy_spliced_tunnels));
    metric(out, "iocore_proxy_client_to_upstream_bytes_total", "counter", "Bytes forwarded from clients to upstreams.",
           get(a.proxy_bytes_client_to_upstream));
    metric(out, "iocore_proxy_upstream_to_client_bytes_total", "counter", "Bytes forwarded from upstreams to clients.",
           get(a.proxy_bytes_upstream_to_client));
  }

  void render_http(std::string &out, const AppStats &a)
  {
    metric(out, "iocore_http_connections_total", "counter", "Connections accepted by the http responder.",
           get(a.http_connections_total));
    metric(out, "iocore_http_requests_total", "counter", "Requests answered (each gets exactly one response).",
           get(a.http_requests));
    family(out, "iocore_http_responses_total", "counter", "Responses sent, by status code.");
    for (size_t i = 0; i < kHttpStatusCodes.size(); ++i) {
      std::string label = "status=\"" + std::to_string(kHttpStatusCodes[i]) + "\"";
      sample(out, "iocore_http_responses_total", get(a.http_responses_by_code[i]), label.c_str());
    }
  }

  void render_echo(std::string &out, const AppStats &a)
  {
    metric(out, "iocore_echo_connections_total", "counter", "Connections accepted by the echo server.",
           get(a.echo_connections_total));
    metric(out, "iocore_echo_bytes_total", "counter", "Bytes echoed back.", get(a.echo_bytes));
  }
} // namespace

AppStats &
app_stats()
{
  static AppStats stats;
  return stats;
}

std::atomic<int64_t> &
http_responses(AppStats &stats, int code)
{
  for (size_t i = 0; i < kHttpStatusCodes.size(); ++i) {
    if (kHttpStatusCodes[i] == code) {
      return stats.http_responses_by_code[i];
    }
  }
  assert(!"http_responses: a status code missing from kHttpStatusCodes");
  return stats.http_responses_by_code[1]; // counted as 400 in a release build
}

std::string
render_prometheus(const iocore::NetStats &net, const AppStats &app, unsigned modes)
{
  std::string out;
  out.reserve(4096);
  render_net(out, net);
  metric(out, "iocore_active_sessions", "gauge", "Client sessions in progress (all modes).", get(app.active_sessions));
  if (modes & kStatsProxy) {
    render_proxy(out, app);
  }
  if (modes & kStatsHttp) {
    render_http(out, app);
  }
  if (modes & kStatsEcho) {
    render_echo(out, app);
  }
  return out;
}
} // namespace iocore_cli
