// TLS for iocore's net layer: sslNetProcessor's connections are SSLNetVConnections, which run the
// TLS handshake inside the NetHandler's read and write paths (never blocking a thread) and show the
// user's VIOs plaintext only. This header is how TLS is configured and inspected.
//
// Server side: build a TLSServerContext once from a TLSServerConfig (certificates, each served for
// its SNI names, the first one by default; ALPN; handshake timeout) and pass it to
// sslNetProcessor.accept() in AcceptOptions::tls_context. Connections keep the context alive, so it
// may be dropped once the listener is cancelled.
//
//   TLSServerConfig cfg;
//   cfg.certificates.push_back({"site.pem", "site.key", {}});
//   std::string error;
//   auto ctx = TLSServerContext::create(cfg, &error);
//   if (!ctx) { std::fprintf(stderr, "%s\n", error.c_str()); ... }
//   NetProcessor::AcceptOptions opt;
//   opt.tls_context = ctx;
//   sslNetProcessor.accept(acceptor, opt);
//
// Client side: sslNetProcessor.connect_re() with NetVCOptions: sni_servername (sent as SNI and, when
// verify_peer is set, the name the certificate must carry; without it the certificate must carry the
// peer's IP address), alpn_protocols, verify_peer (on by default) and ca_file (empty: the system's
// trust store).
//
// Events. NET_EVENT_ACCEPT / NET_EVENT_OPEN come as for plain TCP, before the handshake. Reads see
// data, and writes get WRITE_READY, only once the handshake is done; a connection whose handshake
// fails (bad certificate, not TLS at all, ...) reports VC_EVENT_ERROR with lerrno ENET_SSL_FAILED to
// whichever VIO is enabled (tls_info() says why), once: the connection does no more TLS after
// that and should be closed; a server-side handshake that does not finish in
// TLSServerConfig::handshake_timeout reports VC_EVENT_INACTIVITY_TIMEOUT. The peer's close_notify
// (or a plain FIN) is VC_EVENT_EOS. do_io_shutdown(IO_SHUTDOWN_WRITE) sends close_notify before the
// FIN, and closing a connection whose handshake completed sends close_notify.
#pragma once

#include "iocore/eventsystem/Time.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace iocore {
class NetVConnection;
class SSLNetVConnection;

/// lerrno of a VC_EVENT_ERROR caused by TLS (handshake failure, bad record, failed verification).
/// As ATS's ENET_SSL_FAILED.
inline constexpr int ENET_SSL_FAILED = 20105;

/// One certificate a server can present.
struct TLSCertificate {
  std::string cert_file; ///< PEM: the certificate, then any intermediate certificates
  std::string key_file;  ///< PEM private key; empty: the key is in cert_file
  /// The SNI names this certificate is served for ("www.example.com", "*.example.com"); empty: the
  /// DNS names of its subjectAltName extension (or its common name when it has none).
  std::vector<std::string> server_names;
};

/// What a TLS server serves; TLSServerContext::create() turns it into a context.
struct TLSServerConfig {
  /// At least one. The first is served when the client sends no SNI or a name nothing matches.
  std::vector<TLSCertificate> certificates;
  /// ALPN protocols in the server's order of preference, comma-separated ("h2,http/1.1"). The
  /// first of them the client also offers is chosen; none in common (or empty): no ALPN.
  std::string alpn_protocols;
  /// A handshake not finished this long after it began reports VC_EVENT_INACTIVITY_TIMEOUT
  /// (ATS: proxy.config.ssl.handshake_timeout_in). The connection's own inactivity timeout applies
  /// again once the handshake is done. 0: only the connection's inactivity timeout.
  ink_hrtime handshake_timeout = HRTIME_SECONDS(30);
  /// OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults); empty: OpenSSL's
  /// default. TLS 1.2 is the oldest version accepted.
  std::string ciphers;
};

/// A server's TLS setup (an OpenSSL SSL_CTX per certificate plus the SNI table). Immutable once
/// created; shared by the listener and every connection accepted with it.
class TLSServerContext
{
public:
  /// Load and check every certificate and key. On failure returns nullptr and sets *error (if
  /// given) to one line naming the file and the problem.
  static std::shared_ptr<const TLSServerContext> create(const TLSServerConfig &config, std::string *error = nullptr);

  ~TLSServerContext();
  TLSServerContext(const TLSServerContext &)            = delete;
  TLSServerContext &operator=(const TLSServerContext &) = delete;

  /// The configuration the context was made from.
  const TLSServerConfig &config() const;

  /// The OpenSSL side; defined in the library's sources, opaque to users.
  struct Impl;

private:
  // Read by the connections that serve the context.
  friend class SSLNetVConnection;
  friend struct TLSServerContextAccess; // the library's own tools (the TLS fuzz target)
  Impl &impl() const { return *_impl; }

  explicit TLSServerContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> _impl;
};

/// What a TLS connection negotiated. Read it on the connection's thread (in one of its call-backs).
struct TLSInfo {
  /// The handshake finished (the fields below are filled in).
  bool handshake_complete = false;
  /// The peer ended its side with close_notify. An EOS without it is a TCP FIN alone (reported as
  /// EOS too, as ATS does): a peer that did not mean to stop there cannot be told from one that
  /// did unless the protocol above says how long the data is.
  bool close_notify_received = false;
  std::string version;     ///< "TLSv1.3", ... (empty before the handshake completes)
  std::string cipher;      ///< the cipher suite's OpenSSL name
  std::string alpn;        ///< the selected ALPN protocol (empty: none)
  std::string server_name; ///< the SNI name the client sent (server) or asked for (client)
  /// Why the handshake or a later TLS operation failed (OpenSSL's reason, or the certificate
  /// verification result); empty if nothing failed.
  std::string error;
};

/// The TLS state of vc; nullopt when vc is plain TCP.
std::optional<TLSInfo> tls_info(NetVConnection *vc);
} // namespace iocore
