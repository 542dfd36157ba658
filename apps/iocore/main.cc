// The `iocore` command: parses the command line, starts the event and net processors, opens the
// listeners of the chosen mode (proxy, http, echo, demo) plus the optional --stats endpoint, prints
// one "listening on" line per listener, and runs until SIGTERM/SIGINT, then drains.
#include "AccessLog.h"
#include "EchoServer.h"
#include "HttpResponder.h"
#include "Listener.h"
#include "Log.h"
#include "MetricsServer.h"
#include "Options.h"
#include "Shutdown.h"
#include "Stats.h"
#include "TcpProxy.h"

#include <iocore/iocore.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace iocore_cli {
namespace {
  constexpr int kExitUsage   = 2;
  constexpr int kExitFailure = 1;

  constexpr uint16_t kDemoProxyPort  = 8080;
  constexpr uint16_t kDemoOriginPort = 8081;

  /// Everything the listeners' factories refer to; lives until after eventProcessor.shutdown().
  struct Services {
    TcpProxyConfig proxy;
    HttpResponderConfig http;
    CommonOptions common;
    unsigned stats_modes = 0;
    std::vector<std::unique_ptr<Listener>> listeners;
    /// Where each listener was asked to listen, and its TLS context (null: plain TCP), in the
    /// order of `listeners`.
    std::vector<ListenTarget> addresses;
    std::vector<std::shared_ptr<const iocore::TLSServerContext>> tls;
  };

  /// A listener failed for good: the command goes on while another listener of its mode still
  /// serves (the stats endpoint does not count), else it stops with exit code 1.
  void stop_if_nothing_listens(const Services &s)
  {
    for (const auto &l : s.listeners) {
      if (l->name() != "stats" && !l->has_failed()) {
        return;
      }
    }
    log_message(LogLevel::kError, "no listener left: stopping");
    request_stop(1);
  }

  void add_listener(Services &s, const char *name, const ListenTarget &target, Listener::Factory f,
                    std::shared_ptr<const iocore::TLSServerContext> tls = nullptr)
  {
    s.listeners.push_back(std::make_unique<Listener>(name, std::move(f), [&s](Listener &, int) { stop_if_nothing_listens(s); }));
    s.addresses.push_back(target);
    s.tls.push_back(std::move(tls));
  }

  /// The TLS setup of --tls-cert / --tls-key (null without them); loads the files now, so a bad
  /// certificate is a start-up error (exit 2), not a failure of the first connection.
  bool load_tls(const Options &o, std::shared_ptr<const iocore::TLSServerContext> &out, std::string &error)
  {
    if (!o.common.tls_cert) {
      return true;
    }
    iocore::TLSServerConfig cfg;
    cfg.certificates.push_back({*o.common.tls_cert, o.common.tls_key.value_or(""), {}});
    out = iocore::TLSServerContext::create(cfg, &error);
    return out != nullptr;
  }

  /// --upstream-ca must be readable (the library would only say so at the first connection).
  bool check_upstream_ca(const Options &o, std::string &error)
  {
    const std::string &ca = o.proxy.upstream_ca;
    if (ca.empty()) {
      return true;
    }
    std::FILE *f = std::fopen(ca.c_str(), "r");
    if (f == nullptr) {
      error = "--upstream-ca: cannot read " + ca + ": " + std::strerror(errno);
      return false;
    }
    std::fclose(f);
    return true;
  }

  void plan_listeners(const Options &o, Services &s, const std::shared_ptr<const iocore::TLSServerContext> &tls)
  {
    s.common               = o.common;
    ListenTarget on_listen = {o.listen, o.listen_fd};
    switch (o.mode) {
    case Mode::kProxy:
      s.proxy.configure(o);
      s.stats_modes = kStatsProxy;
      add_listener(
          s, "proxy", on_listen, [&s](iocore::NetVConnection *vc) { start_proxy_session(vc, s.proxy); }, tls);
      break;
    case Mode::kHttp:
      s.http.configure(o);
      s.stats_modes = kStatsHttp;
      add_listener(
          s, "http", on_listen, [&s](iocore::NetVConnection *vc) { start_http_session(vc, s.http); }, tls);
      break;
    case Mode::kEcho:
      s.stats_modes = kStatsEcho;
      add_listener(
          s, "echo", on_listen, [&s](iocore::NetVConnection *vc) { start_echo_session(vc, s.common); }, tls);
      break;
    case Mode::kDemo: {
      Options proxy_options         = o;
      auto origin                   = iocore::IpEndpoint::loopback(AF_INET, kDemoOriginPort);
      proxy_options.proxy.upstreams = {origin};
      s.proxy.configure(proxy_options);
      s.http.configure(o);
      s.stats_modes = kStatsProxy | kStatsHttp;
      add_listener(s, "http", {origin, {}}, [&s](iocore::NetVConnection *vc) { start_http_session(vc, s.http); });
      add_listener(s, "proxy", {iocore::IpEndpoint::loopback(AF_INET, kDemoProxyPort), {}},
                   [&s](iocore::NetVConnection *vc) { start_proxy_session(vc, s.proxy); });
      break;
    }
    }
    if (o.common.stats) {
      unsigned modes                  = s.stats_modes;
      iocore::ink_hrtime head_timeout = o.common.request_head_timeout;
      add_listener(s, "stats", {*o.common.stats, {}},
                   [modes, head_timeout](iocore::NetVConnection *vc) { start_metrics_session(vc, modes, head_timeout); });
    }
  }

  int usage_error(const std::string &message)
  {
    std::fprintf(stderr, "iocore: %s\n", message.c_str());
    return kExitUsage;
  }

  int run(const Options &o)
  {
    set_log_level(o.common.log_level);
    if (o.common.debug_tags) {
      (void)iocore::set_debug_tags(*o.common.debug_tags); // validated by the parser
    } else if (o.common.log_level == LogLevel::kDebug) {
      (void)iocore::set_debug_tags("all");
    }
    if (o.common.access_log) {
      std::string err;
      if (!open_access_log(*o.common.access_log, err)) {
        return usage_error(err);
      }
    }
    std::shared_ptr<const iocore::TLSServerContext> tls;
    if (std::string err; !load_tls(o, tls, err) || !check_upstream_ca(o, err)) {
      return usage_error(err);
    }
    block_shutdown_signals();
    int threads = o.common.threads.value_or(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    if (o.common.max_connections) {
      iocore::net_config().max_connections_in = *o.common.max_connections;
    }
    if (o.common.io_backend) {
      iocore::net_config().io_backend = *o.common.io_backend;
    }
    if (iocore::eventProcessor.start(threads) != 0) {
      std::fprintf(stderr, "iocore: cannot start %d event threads\n", threads);
      return 1;
    }
    if (iocore::netProcessor.start() != 0) { // it said why on stderr
      std::fprintf(stderr, "iocore: cannot start the net threads\n");
      iocore::eventProcessor.shutdown();
      return 1;
    }

    auto services = std::make_unique<Services>();
    plan_listeners(o, *services, tls);
    for (size_t i = 0; i < services->listeners.size(); ++i) {
      std::string err;
      const ListenTarget &target = services->addresses[i];
      if (!services->listeners[i]->start(target, err, services->tls[i])) {
        for (size_t j = 0; j < i; ++j) {
          services->listeners[j]->stop();
        }
        iocore::eventProcessor.shutdown();
        // A Unix path in the way or an unusable descriptor is the environment's problem (1); an
        // IP address that cannot be listened on has always been reported as a usage error (2).
        bool environment = target.fd || target.addr.is_unix();
        std::fprintf(stderr, "iocore: %s\n", err.c_str());
        return environment ? kExitFailure : kExitUsage;
      }
    }
    for (auto &l : services->listeners) {
      std::printf("iocore %s listening on %s\n", l->name().c_str(), l->bound().to_string().c_str());
    }
    if (o.mode == Mode::kDemo) {
      std::printf("iocore demo: try  curl http://127.0.0.1:%u/\n", kDemoProxyPort);
    }
    std::fflush(stdout);
    log_message(LogLevel::kInfo, "%s running with %d net thread(s) on %s; SIGTERM or SIGINT to stop", mode_name(o.mode), threads,
                iocore::io_backend_name(iocore::net_io_backend()));
    log_message(LogLevel::kInfo, "limits: %s", describe_limits(o).c_str());

    int sig                   = wait_for_shutdown_signal();
    std::optional<int> failed = requested_exit_code();
    if (!failed) {
      log_message(LogLevel::kInfo, "received %s: no longer accepting", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    drain(services->listeners, o.common.drain_timeout);
    iocore::eventProcessor.shutdown();
    close_access_log();
    log_message(LogLevel::kInfo, "stopped");
    return failed.value_or(0);
  }
} // namespace
} // namespace iocore_cli

int
main(int argc, char **argv)
{
  using namespace iocore_cli;
  ParseResult r = parse_command_line(argc, argv, socket_activation_fds());
  switch (r.kind) {
  case ParseResult::Kind::kHelp:
    std::fputs(r.text.c_str(), stdout);
    return 0;
  case ParseResult::Kind::kVersion:
    std::printf("iocore %s\n", IOCORE_CLI_VERSION);
    return 0;
  case ParseResult::Kind::kError:
    return usage_error(r.text);
  case ParseResult::Kind::kRun:
    break;
  }
  return run(r.options);
}
