// The `iocore` command line: modes, flags and their validation. Parsing is pure (no I/O, no
// library state) so every rule of the command-line contract can be unit tested; main.cc prints the
// outcome and exits 2 on an error.
#pragma once

#include <iocore/eventsystem/Time.h>
#include <iocore/net/IpEndpoint.h>
#include <iocore/net/NetProcessor.h>
#include <iocore/net/SocketAddress.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iocore_cli {
enum class Mode { kProxy, kHttp, kEcho, kDemo };

enum class LogLevel { kError = 0, kWarn, kInfo, kDebug };

/// Defaults that keep a hostile or vanished client from holding a connection for ever; each has a
/// flag, and 0 turns it off.
inline constexpr iocore::ink_hrtime kDefaultInactivityTimeout  = iocore::HRTIME_SECONDS(60);
inline constexpr iocore::ink_hrtime kDefaultRequestHeadTimeout = iocore::HRTIME_SECONDS(10);
inline constexpr int64_t kDefaultMaxBodySize                   = int64_t{1} << 20;

/// Flags every mode takes.
struct CommonOptions {
  std::optional<int> threads; ///< net threads; unset: number of cores
  /// epoll or io_uring for the net threads (unset: the library's choice, IOCORE_IO_BACKEND included).
  std::optional<iocore::IoBackend> io_backend;
  iocore::ink_hrtime inactivity_timeout = kDefaultInactivityTimeout; ///< 0: none
  std::optional<iocore::ink_hrtime> active_timeout;                  ///< unset: none
  std::optional<int> max_connections;                                ///< concurrent clients; unset: the library default
  std::optional<iocore::IpEndpoint> stats;                           ///< Prometheus endpoint
  LogLevel log_level = LogLevel::kInfo;
  /// Library debug tags to switch on (unset: all with --log-level debug, else IOCORE_DEBUG_TAGS).
  std::optional<std::string> debug_tags;
  std::optional<std::string> access_log; ///< a file name, or "-" for stdout
  iocore::ink_hrtime drain_timeout = iocore::HRTIME_SECONDS(10);
  /// How long a client of an HTTP listener (`http` and --stats) may take to send a whole request
  /// head, however slowly it trickles (0: no limit; the inactivity timeout still applies).
  iocore::ink_hrtime request_head_timeout = kDefaultRequestHeadTimeout;
  /// The listener speaks TLS with this certificate (PEM, chain after it) and key (unset: in the
  /// certificate file). Not the --stats listener.
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
};

struct ProxyOptions {
  std::vector<iocore::SocketAddress> upstreams; ///< IP addresses or Unix-domain ones (unix:/path, unix:@name)
  iocore::ink_hrtime connect_timeout = iocore::HRTIME_SECONDS(5);
  int64_t buffer_size                = 32768; ///< per direction
  std::optional<int> retries;                 ///< unset: every other upstream once
  /// TLS to the upstreams: "verify" (certificate checked against upstream_ca, else the system's
  /// store, and the name upstream_sni, else the upstream's address) or "insecure" (not checked).
  std::optional<std::string> upstream_tls;
  std::string upstream_ca;
  std::string upstream_sni;
  /// --splice auto (the default): in a tunnel whose client and upstream are both plain TCP, a
  /// direction that shows bulk flow moves on to splice(2) (no copy through user space); the other
  /// tunnels and directions, and every tunnel with off, use buffers.
  bool splice = true;
};

struct HttpOptions {
  std::string body = "Hello from iocore\n";
  /// --body-size: serve a body of this many bytes ("xx...x\n") instead of `body`. Kept as a size:
  /// the bytes are laid out once, where they are served, not copied here first.
  std::optional<int64_t> body_size;
  int64_t max_body_size = kDefaultMaxBodySize; ///< larger request bodies get 413; 0: no limit
};

/// systemd socket activation (sd_listen_fds): the passed listening sockets start at this descriptor.
inline constexpr int kListenFdsStart = 3;

struct Options {
  Mode mode = Mode::kDemo;
  /// --listen HOST:PORT, unix:PATH or unix:@NAME (unset when listen_fd is set).
  iocore::SocketAddress listen;
  /// --listen fd:N, or the socket systemd passed when there is no --listen: serve this listening
  /// socket.
  std::optional<int> listen_fd;
  CommonOptions common;
  ProxyOptions proxy;
  HttpOptions http;
};

struct ParseResult {
  enum class Kind { kRun, kHelp, kVersion, kError };
  Kind kind = Kind::kError;
  Options options;  ///< valid for kRun
  std::string text; ///< the help text (kHelp) or a one-line error naming the problem (kError)
};

/// Parse argv (argv[0] is the program name). Flags take their value as the next argument or after
/// '=' ("--threads 4", "--threads=4"). `activated_fds`: how many listening sockets systemd socket
/// activation passed (socket_activation_fds()); without --listen, a mode listens on the first.
ParseResult parse_command_line(int argc, const char *const *argv, int activated_fds = 0);

/// The number of sockets systemd passed to this process (LISTEN_FDS, when LISTEN_PID is this
/// process; sd_listen_fds without libsystemd), 0 for none. Unsets the variables, as sd_listen_fds(1)
/// does, so that child processes do not take the sockets for theirs.
int socket_activation_fds();

/// The help text of a mode, or of the whole command when mode is unset.
std::string usage(std::optional<Mode> mode);

/// One line saying which timeouts and limits a run applies (logged at start, so that the defaults
/// in force are visible).
std::string describe_limits(const Options &options);

const char *mode_name(Mode mode);

/// "1.5" -> 1.5 s as ink_hrtime; nullopt for anything that is not a non-negative decimal number.
std::optional<iocore::ink_hrtime> parse_seconds(std::string_view text);
/// A non-negative decimal integer with an optional K/M/G (binary) suffix; nullopt otherwise.
std::optional<int64_t> parse_size(std::string_view text);
} // namespace iocore_cli
