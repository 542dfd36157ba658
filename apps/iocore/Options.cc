// Command-line parsing for the `iocore` command: a table of flags (which modes take them, how their
// value is checked) and the per-mode rules (required flags, mutually exclusive ones). Every error is
// one line that names the flag or argument at fault.
#include "Options.h"

#include <iocore/eventsystem/Diags.h>

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>

namespace iocore_cli {
namespace {
  using iocore::IpEndpoint;

  enum ModeMask : unsigned {
    kProxyOnly = 1u << static_cast<unsigned>(Mode::kProxy),
    kHttpOnly  = 1u << static_cast<unsigned>(Mode::kHttp),
    kEchoOnly  = 1u << static_cast<unsigned>(Mode::kEcho),
    kDemoOnly  = 1u << static_cast<unsigned>(Mode::kDemo),
    kAllModes  = kProxyOnly | kHttpOnly | kEchoOnly | kDemoOnly,
  };

  /// What the parser knows beyond Options while it runs (mutually exclusive flags, presence).
  struct ParseState {
    Options &options;
    bool saw_listen    = false;
    bool saw_body      = false;
    bool saw_body_size = false;
  };

  /// Applies a flag's value; returns an error message (without the "iocore: " prefix) or "".
  using Apply = std::function<std::string(ParseState &, std::string_view)>;

  /// A flag whose value is a file name (checked when the program starts, not here).
  Apply file_flag(std::string_view flag, std::function<void(Options &, std::string)> set)
  {
    return [flag, set = std::move(set)](ParseState &st, std::string_view v) -> std::string {
      if (v.empty()) {
        return std::string(flag) + ": expected a file name";
      }
      set(st.options, std::string(v));
      return {};
    };
  }

  /// --debug-tags: checked here, so that a misspelt tag is a usage error and not a silent no-op.
  std::string set_debug_tags_flag(ParseState &st, std::string_view v)
  {
    if (std::string err; !iocore::check_debug_tags(v, &err)) {
      return "--debug-tags: " + err;
    }
    st.options.common.debug_tags = std::string(v);
    return {};
  }

  /// --io-backend: auto (the library's choice), epoll or io_uring.
  std::string set_io_backend_flag(ParseState &st, std::string_view v)
  {
    for (auto b : {iocore::IoBackend::kAuto, iocore::IoBackend::kEpoll, iocore::IoBackend::kIoUring}) {
      if (v == iocore::io_backend_name(b)) {
        st.options.common.io_backend = b;
        return {};
      }
    }
    return "--io-backend: expected auto, epoll or io_uring, got '" + std::string(v) + "'";
  }

  /// --splice: auto (plain TCP tunnels splice their bulk directions) or off (buffers always).
  std::string set_splice_flag(ParseState &st, std::string_view v)
  {
    if (v != "auto" && v != "off") {
      return "--splice: expected auto or off, got '" + std::string(v) + "'";
    }
    st.options.proxy.splice = v == "auto";
    return {};
  }

  struct Flag {
    std::string_view name;
    unsigned modes;
    Apply apply;
  };

  std::string quoted(std::string_view v)
  {
    return "'" + std::string(v) + "'";
  }

  std::optional<int64_t> parse_int(std::string_view text)
  {
    int64_t v = 0;
    if (text.empty()) {
      return std::nullopt;
    }
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || ptr != text.data() + text.size()) {
      return std::nullopt;
    }
    return v;
  }

  std::string parse_endpoint(std::string_view flag, std::string_view text, IpEndpoint &out)
  {
    auto ep = IpEndpoint::parse(text);
    if (!ep) {
      return std::string(flag) + ": cannot parse address " + quoted(text) +
             " (expected IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)";
    }
    out = *ep;
    return {};
  }

  /// An IP address or a Unix-domain one ("unix:/path", "unix:@name").
  std::string parse_socket_address(std::string_view flag, std::string_view text, iocore::SocketAddress &out)
  {
    if (!text.starts_with("unix:")) {
      auto ip = IpEndpoint::parse(text);
      if (!ip) {
        return std::string(flag) + ": cannot parse address " + quoted(text) +
               " (expected IPv4:PORT, [IPv6]:PORT, unix:PATH or unix:@NAME, e.g. 127.0.0.1:8080 or unix:/run/iocore.sock)";
      }
      out = *ip;
      return {};
    }
    auto a = iocore::SocketAddress::parse(text);
    if (!a) {
      std::string_view rest = text.substr(5);
      if (rest.starts_with('@')) {
        rest.remove_prefix(1);
      }
      if (rest.size() > iocore::SocketAddress::kMaxUnixPath) {
        return std::string(flag) + ": Unix socket path " + quoted(text) + " is longer than " +
               std::to_string(iocore::SocketAddress::kMaxUnixPath) + " bytes (the limit of sun_path)";
      }
      return std::string(flag) + ": cannot parse " + quoted(text) + " (expected unix:PATH or unix:@NAME)";
    }
    out = *a;
    return {};
  }

  /// "--listen fd:N": a descriptor number.
  std::string parse_listen_fd(std::string_view text, std::optional<int> &out)
  {
    auto n = parse_int(text.substr(3));
    if (!n || *n < 0 || *n > std::numeric_limits<int>::max()) {
      return "--listen: expected fd:N with N a descriptor number, got " + quoted(text);
    }
    out = static_cast<int>(*n);
    return {};
  }

  Apply int_flag(std::string_view flag, int64_t min, int64_t max, std::function<void(Options &, int64_t)> set)
  {
    return [flag, min, max, set = std::move(set)](ParseState &st, std::string_view v) -> std::string {
      auto n = parse_int(v);
      if (!n || *n < min || *n > max) {
        return std::string(flag) + ": expected an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
               quoted(v);
      }
      set(st.options, *n);
      return {};
    };
  }

  Apply seconds_flag(std::string_view flag, bool allow_zero, std::function<void(Options &, iocore::ink_hrtime)> set)
  {
    return [flag, allow_zero, set = std::move(set)](ParseState &st, std::string_view v) -> std::string {
      auto t = parse_seconds(v);
      if (!t || (!allow_zero && *t == 0)) {
        return std::string(flag) + ": expected " + (allow_zero ? "a number of seconds >= 0" : "a number of seconds > 0") +
               " (e.g. 5 or 0.5), got " + quoted(v);
      }
      set(st.options, *t);
      return {};
    };
  }

  /// A flag whose value is a byte limit (K/M/G suffixes allowed; 0: no limit).
  Apply limit_flag(std::string_view flag, std::function<void(Options &, int64_t)> set)
  {
    return [flag, set = std::move(set)](ParseState &st, std::string_view v) -> std::string {
      auto n = parse_size(v);
      if (!n) {
        return std::string(flag) + ": expected a byte count (e.g. 1M, 64K; 0: no limit), got " + quoted(v);
      }
      set(st.options, *n);
      return {};
    };
  }

  // Setters of the table's newer flags, named: a lambda more in the table's braced list makes
  // clang-format 14 reflow the lambdas after it.
  void set_request_head_timeout(Options &o, iocore::ink_hrtime t)
  {
    o.common.request_head_timeout = t;
  }

  void set_max_body_size(Options &o, int64_t n)
  {
    o.http.max_body_size = n;
  }

  const std::vector<Flag> &flag_table()
  {
    static const std::vector<Flag> table = {
        {"--listen", kProxyOnly | kHttpOnly | kEchoOnly,
         [](ParseState &st, std::string_view v) {
           st.saw_listen = true;
           if (v.starts_with("fd:")) {
             return parse_listen_fd(v, st.options.listen_fd);
           }
           return parse_socket_address("--listen", v, st.options.listen);
         }},
        {"--threads", kAllModes, int_flag("--threads", 1, 1024, [](Options &o, int64_t n) { o.common.threads = int(n); })},
        {"--inactivity-timeout", kAllModes,
         seconds_flag("--inactivity-timeout", true, [](Options &o, iocore::ink_hrtime t) { o.common.inactivity_timeout = t; })},
        {"--active-timeout", kAllModes,
         seconds_flag("--active-timeout", true, [](Options &o, iocore::ink_hrtime t) { o.common.active_timeout = t; })},
        {"--max-connections", kAllModes,
         int_flag("--max-connections", 1, 10'000'000, [](Options &o, int64_t n) { o.common.max_connections = int(n); })},
        {"--stats", kAllModes,
         [](ParseState &st, std::string_view v) {
           IpEndpoint ep;
           std::string err = parse_endpoint("--stats", v, ep);
           if (err.empty()) {
             st.options.common.stats = ep;
           }
           return err;
         }},
        {"--log-level", kAllModes,
         [](ParseState &st, std::string_view v) -> std::string {
           static const std::pair<std::string_view, LogLevel> levels[] = {
               {"error", LogLevel::kError}, {"warn", LogLevel::kWarn}, {"info", LogLevel::kInfo}, {"debug", LogLevel::kDebug}};
           for (auto &[name, level] : levels) {
             if (v == name) {
               st.options.common.log_level = level;
               return {};
             }
           }
           return "--log-level: expected error, warn, info or debug, got " + quoted(v);
         }},
        {"--debug-tags", kAllModes, set_debug_tags_flag},
        {"--io-backend", kAllModes, set_io_backend_flag},
        {"--access-log", kAllModes,
         [](ParseState &st, std::string_view v) -> std::string {
           if (v.empty()) {
             return "--access-log: expected a file name or '-' (stdout)";
           }
           st.options.common.access_log = std::string(v);
           return {};
         }},
        {"--tls-cert", kProxyOnly | kHttpOnly | kEchoOnly,
         file_flag("--tls-cert", [](Options &o, std::string f) { o.common.tls_cert = std::move(f); })},
        {"--tls-key", kProxyOnly | kHttpOnly | kEchoOnly,
         file_flag("--tls-key", [](Options &o, std::string f) { o.common.tls_key = std::move(f); })},
        {"--upstream-tls", kProxyOnly,
         [](ParseState &st, std::string_view v) -> std::string {
           if (v != "verify" && v != "insecure") {
             return "--upstream-tls: expected verify or insecure, got " + quoted(v);
           }
           st.options.proxy.upstream_tls = std::string(v);
           return {};
         }},
        {"--upstream-ca", kProxyOnly,
         file_flag("--upstream-ca", [](Options &o, std::string f) { o.proxy.upstream_ca = std::move(f); })},
        {"--upstream-sni", kProxyOnly,
         [](ParseState &st, std::string_view v) -> std::string {
           if (v.empty() || v.size() > 253 || v.find_first_of(" /:") != std::string_view::npos) {
             return "--upstream-sni: expected a host name, got " + quoted(v);
           }
           st.options.proxy.upstream_sni = std::string(v);
           return {};
         }},
        {"--request-head-timeout", kAllModes, seconds_flag("--request-head-timeout", true, set_request_head_timeout)},
        {"--max-body-size", kHttpOnly | kDemoOnly, limit_flag("--max-body-size", set_max_body_size)},
        {"--drain-timeout", kAllModes,
         seconds_flag("--drain-timeout", true, [](Options &o, iocore::ink_hrtime t) { o.common.drain_timeout = t; })},
        {"--upstream", kProxyOnly,
         [](ParseState &st, std::string_view v) -> std::string {
           std::vector<iocore::SocketAddress> list;
           std::string_view rest = v;
           while (true) {
             size_t comma         = rest.find(',');
             std::string_view one = rest.substr(0, comma);
             iocore::SocketAddress ep;
             if (std::string err = parse_socket_address("--upstream", one, ep); !err.empty()) {
               return err;
             }
             if (ep.is_ip() && (ep.port() == 0 || ep.ip().is_any())) {
               return "--upstream: " + quoted(one) + " is not a connectable address (needs a host and a port > 0)";
             }
             list.push_back(ep);
             if (comma == std::string_view::npos) {
               break;
             }
             rest = rest.substr(comma + 1);
           }
           st.options.proxy.upstreams.insert(st.options.proxy.upstreams.end(), list.begin(), list.end());
           return {};
         }},
        {"--connect-timeout", kProxyOnly,
         seconds_flag("--connect-timeout", false, [](Options &o, iocore::ink_hrtime t) { o.proxy.connect_timeout = t; })},
        {"--buffer-size", kProxyOnly,
         [](ParseState &st, std::string_view v) -> std::string {
           auto n = parse_size(v);
           if (!n || *n < 128 || *n > (int64_t{1} << 30)) {
             return "--buffer-size: expected a byte count from 128 to 1G (e.g. 4096, 32K, 1M), got " + quoted(v);
           }
           st.options.proxy.buffer_size = *n;
           return {};
         }},
        {"--retries", kProxyOnly, int_flag("--retries", 0, 1000, [](Options &o, int64_t n) { o.proxy.retries = int(n); })},
        {"--splice", kProxyOnly, set_splice_flag},
        {"--body", kHttpOnly,
         [](ParseState &st, std::string_view v) -> std::string {
           st.saw_body          = true;
           st.options.http.body = std::string(v);
           return {};
         }},
        {"--body-size", kHttpOnly,
         [](ParseState &st,
            std::string_view v) -> std::
                                    string {
                                      auto n = parse_size(v);
                                      if (!n || *n > (int64_t{1} << 30)) {
                                        return "--body-size: expected a byte count from 0 to 1G (e.g. 100, 64K), got " + quoted(v);
                                      }
                                      st.saw_body_size          = true;
                                      st.options.http.body_size = *n;
                                      return {};
                                    }},
    };
    return table;
  }

  std::optional<Mode> mode_from_name(std::string_view name)
  {
    for (Mode m : {Mode::kProxy, Mode::kHttp, Mode::kEcho, Mode::kDemo}) {
      if (name == mode_name(m)) {
        return m;
      }
    }
    return std::nullopt;
  }

  ParseResult error(std::string text)
  {
    ParseResult r;
    r.kind = ParseResult::Kind::kError;
    r.text = std::move(text);
    return r;
  }

  std::string check_mode_rules(const ParseState &st)
  {
    const Options &o = st.options;
    if (o.mode != Mode::kDemo && !st.saw_listen) {
      return std::string("iocore ") + mode_name(o.mode) + " needs --listen HOST:PORT (or unix:PATH, fd:N)";
    }
    if (o.mode == Mode::kProxy && o.proxy.upstreams.empty()) {
      return "iocore proxy needs --upstream HOST:PORT[,HOST:PORT...]";
    }
    if (st.saw_body && st.saw_body_size) {
      return "--body and --body-size are mutually exclusive";
    }
    if (o.common.tls_key && !o.common.tls_cert) {
      return "--tls-key needs --tls-cert";
    }
    if (!o.proxy.upstream_tls && (!o.proxy.upstream_ca.empty() || !o.proxy.upstream_sni.empty())) {
      return std::string(o.proxy.upstream_ca.empty() ? "--upstream-sni" : "--upstream-ca") + " needs --upstream-tls";
    }
    if (o.proxy.upstream_tls == "insecure" && !o.proxy.upstream_ca.empty()) {
      return "--upstream-ca has no use with --upstream-tls insecure";
    }
    return {};
  }
} // namespace

const char *
mode_name(Mode mode)
{
  switch (mode) {
  case Mode::kProxy:
    return "proxy";
  case Mode::kHttp:
    return "http";
  case Mode::kEcho:
    return "echo";
  case Mode::kDemo:
    return "demo";
  }
  return "?";
}

std::optional<iocore::ink_hrtime>
parse_seconds(std::string_view text)
{
  if (text.empty() || text.size() > 32) {
    return std::nullopt;
  }
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || c == '.')) {
      return std::nullopt;
    }
  }
  double v       = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size() || !std::isfinite(v) || v < 0 || v > 1e9) {
    return std::nullopt;
  }
  return static_cast<iocore::ink_hrtime>(std::llround(v * 1e9));
}

std::optional<int64_t>
parse_size(std::string_view text)
{
  int64_t mult = 1;
  if (!text.empty()) {
    switch (text.back()) {
    case 'k':
    case 'K':
      mult = int64_t{1} << 10;
      break;
    case 'm':
    case 'M':
      mult = int64_t{1} << 20;
      break;
    case 'g':
    case 'G':
      mult = int64_t{1} << 30;
      break;
    default:
      break;
    }
    if (mult != 1) {
      text.remove_suffix(1);
    }
  }
  auto n = parse_int(text);
  if (!n || *n < 0 || *n > std::numeric_limits<int64_t>::max() / mult) {
    return std::nullopt;
  }
  return *n * mult;
}

std::string
usage(std::optional<Mode> mode)
{
  static const char *common = "Common options:\n"
                              "  --threads N               net threads (default: number of cores)\n"
                              "  --io-backend NAME         auto (default: epoll, or IOCORE_IO_BACKEND), epoll or\n"
                              "                            io_uring (exit 1 if the kernel or the build lacks it)\n"
                              "  --inactivity-timeout SEC  close a connection idle this long (default 60; 0: never)\n"
                              "  --active-timeout SEC      close a connection open this long\n"
                              "  --max-connections N       concurrent clients; the rest wait in the kernel's queue\n"
                              "  --stats HOST:PORT         Prometheus metrics at GET /metrics\n"
                              "  --log-level LEVEL         error, warn, info (default) or debug (debug: every\n"
                              "                            library debug tag too, unless --debug-tags says which)\n"
                              "  --debug-tags LIST         the library's debug lines for these tags (iocore_net,\n"
                              "                            inactivity_cop, socket, ssl, accept, connect, event, all);\n"
                              "                            also IOCORE_DEBUG_TAGS in the environment\n"
                              "  --access-log FILE|-       one line per connection\n"
                              "  --drain-timeout SEC       on SIGTERM/SIGINT, time open connections get (default 10)\n"
                              "  --request-head-timeout SEC  time an HTTP client (http, --stats) has to send a whole\n"
                              "                            request head, from the connection's start or from the\n"
                              "                            first byte of a keep-alive request (default 10; 0: none)\n"
                              "  --tls-cert FILE           serve TLS with this certificate (PEM; chain after it)\n"
                              "  --tls-key FILE            its private key (default: in the --tls-cert file)\n";
  if (!mode) {
    return std::string("Usage:\n"
                       "  iocore proxy --listen HOST:PORT --upstream HOST:PORT[,HOST:PORT...] [options]\n"
                       "  iocore http  --listen HOST:PORT [--body TEXT | --body-size BYTES] [options]\n"
                       "  iocore echo  --listen HOST:PORT [options]\n"
                       "  iocore demo  [options]   proxy on 127.0.0.1:8080 -> built-in http origin on 127.0.0.1:8081\n"
                       "  iocore --help | iocore MODE --help | iocore --version\n\n"
                       "HOST:PORT is IPv4:PORT or [IPv6]:PORT; port 0 picks a free port (printed when listening).\n"
                       "--listen and --upstream also take unix:PATH or unix:@NAME (a Unix-domain socket; @: a\n"
                       "Linux abstract name). --listen fd:N serves a listening socket the caller opened; with no\n"
                       "--listen, a socket passed by systemd socket activation (LISTEN_FDS) is served.\n\n"
                       "Exit status: 0 after SIGTERM/SIGINT, 2 for a usage error (or an IP address that cannot\n"
                       "be listened on), 1 when a Unix socket path or a passed descriptor cannot be served.\n\n") +
           common;
  }
  switch (*mode) {
  case Mode::kProxy:
    return std::string("Usage: iocore proxy --listen HOST:PORT --upstream HOST:PORT[,HOST:PORT...] [options]\n"
                       "TCP proxy: each client is tunnelled to the next upstream (round-robin).\n\n"
                       "Proxy options:\n"
                       "  --connect-timeout SEC     per upstream attempt (default 5)\n"
                       "  --buffer-size BYTES       buffered per direction (default 32768; K/M suffixes)\n"
                       "  --retries N               other upstreams tried on connect failure (default: each once)\n"
                       "  --splice auto|off         auto (default): in a tunnel whose client and upstream are both\n"
                       "                            plain TCP, a direction that fills its buffer (bulk flow)\n"
                       "                            moves on to splice(2), kernel to kernel, through a pipe of\n"
                       "                            --buffer-size; small requests stay buffered. off: always\n"
                       "                            buffers\n"
                       "  --upstream-tls MODE       TLS to the upstreams: verify (certificate checked) or insecure\n"
                       "  --upstream-ca FILE        CA certificates for verify (default: the system's store)\n"
                       "  --upstream-sni NAME       SNI sent, and the name verify expects (default: none; the\n"
                       "                            certificate must then name the upstream's IP address)\n\n") +
           common;
  case Mode::kHttp:
    return std::string("Usage: iocore http --listen HOST:PORT [--body TEXT | --body-size BYTES] [options]\n"
                       "HTTP/1.1 responder: every request is answered 200 with the body (keep-alive, pipelining);\n"
                       "malformed ones 400, CONNECT 405, a slow head 408, a large body 413, a large head 431,\n"
                       "an overlong method 501, HTTP versions other than 1.x 505, each followed by a close.\n\n"
                       "HTTP options:\n"
                       "  --body TEXT               the body of every 200 (default: a greeting)\n"
                       "  --body-size BYTES         a body of this many bytes instead (K/M/G suffixes)\n"
                       "  --max-body-size BYTES     larger request bodies get 413 unread (default 1M; 0: no limit)\n\n") +
           common;
  case Mode::kEcho:
    return std::string("Usage: iocore echo --listen HOST:PORT [options]\n"
                       "Echo server: every byte received is sent back; a half-close is returned after the echo.\n\n") +
           common;
  case Mode::kDemo:
    return std::string("Usage: iocore demo [options]\n"
                       "Runs the http origin on 127.0.0.1:8081 and a proxy to it on 127.0.0.1:8080.\n\n"
                       "Demo options:\n"
                       "  --max-body-size BYTES     as for iocore http (default 1M; 0: no limit)\n\n") +
           common;
  }
  return {};
}

std::string
describe_limits(const Options &o)
{
  auto seconds = [](iocore::ink_hrtime t) {
    if (t == 0) {
      return std::string("none");
    }
    char text[32];
    std::snprintf(text, sizeof(text), "%gs", static_cast<double>(t) / 1e9);
    return std::string(text);
  };
  std::string line = "inactivity timeout " + seconds(o.common.inactivity_timeout) + ", active timeout " +
                     seconds(o.common.active_timeout.value_or(0));
  if (o.mode == Mode::kHttp || o.mode == Mode::kDemo || o.common.stats) {
    line += ", request head timeout " + seconds(o.common.request_head_timeout);
  }
  if (o.mode == Mode::kHttp || o.mode == Mode::kDemo) {
    line += ", max body size " + (o.http.max_body_size == 0 ? std::string("none") : std::to_string(o.http.max_body_size));
  }
  return line;
}

int
socket_activation_fds()
{
  const char *pid = std::getenv("LISTEN_PID");
  const char *fds = std::getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr) {
    return 0;
  }
  auto p = parse_int(pid);
  auto n = parse_int(fds);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!p || *p != ::getpid() || !n || *n <= 0 || *n > std::numeric_limits<int>::max() - kListenFdsStart) {
    return 0; // meant for another process, or nothing passed
  }
  return static_cast<int>(*n);
}

ParseResult
parse_command_line(int argc, const char *const *argv, int activated_fds)
{
  ParseResult result;
  if (argc < 2) {
    return error("missing mode (proxy, http, echo or demo); try 'iocore --help'");
  }
  std::string_view first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    result.kind = ParseResult::Kind::kHelp;
    result.text = usage(std::nullopt);
    return result;
  }
  if (first == "--version" || first == "-V") {
    result.kind = ParseResult::Kind::kVersion;
    return result;
  }
  auto mode = mode_from_name(first);
  if (!mode) {
    if (first.starts_with("-")) {
      return error("unknown option " + quoted(first) + " before the mode; try 'iocore --help'");
    }
    return error("unknown mode " + quoted(first) + " (expected proxy, http, echo or demo)");
  }
  result.options.mode = *mode;
  ParseState st{result.options};

  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      result.kind = ParseResult::Kind::kHelp;
      result.text = usage(*mode);
      return result;
    }
    if (!arg.starts_with("--")) {
      return error("unexpected argument " + quoted(arg) + " to iocore " + mode_name(*mode));
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name  = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const Flag *flag = nullptr;
    for (const Flag &f : flag_table()) {
      if (f.name == name) {
        flag = &f;
        break;
      }
    }
    if (flag == nullptr) {
      return error("unknown option " + quoted(name) + " for iocore " + mode_name(*mode) + "; try 'iocore " + mode_name(*mode) +
                   " --help'");
    }
    if ((flag->modes & (1u << static_cast<unsigned>(*mode))) == 0) {
      return error("option " + quoted(name) + " does not apply to iocore " + mode_name(*mode));
    }
    if (!value) {
      if (i + 1 >= argc) {
        return error("option " + quoted(name) + " needs a value");
      }
      value = argv[++i];
    }
    if (std::string err = flag->apply(st, *value); !err.empty()) {
      return error(err);
    }
  }
  if (!st.saw_listen && activated_fds > 0 && *mode != Mode::kDemo) {
    if (activated_fds > 1) {
      return error("systemd passed " + std::to_string(activated_fds) + " sockets (LISTEN_FDS) but iocore " + mode_name(*mode) +
                   " has one listener; choose one with --listen fd:N");
    }
    st.saw_listen            = true;
    result.options.listen_fd = kListenFdsStart;
  }
  if (std::string err = check_mode_rules(st); !err.empty()) {
    return error(err);
  }
  result.kind = ParseResult::Kind::kRun;
  return result;
}
} // namespace iocore_cli
