// The OpenSSL side of TLS contexts: TLSServerContext's implementation (one SSL_CTX per certificate,
// the SNI table, ALPN selection) and the cache of client SSL_CTXs (one per verification setting).
#pragma once

#include "iocore/tls/TLS.h"

#include "tls/OpenSslPtr.h"

#include <openssl/ssl.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace iocore {
struct TLSServerContext::Impl {
  Impl()                        = default;
  ~Impl()                       = default;
  Impl(const Impl &)            = delete;
  Impl &operator=(const Impl &) = delete;

  /// The context of the certificate to serve for an SNI name (case-insensitive; "*.example.com"
  /// matches one label); nullptr when no certificate names it.
  SSL_CTX *find(std::string_view server_name) const;

  TLSServerConfig config;
  std::vector<SslCtxPtr> contexts; ///< one per certificate, in config order; [0] is the default
  std::unordered_map<std::string, SSL_CTX *> exact_names;
  std::unordered_map<std::string, SSL_CTX *> wildcard_names; ///< "example.com" for "*.example.com"
  std::string alpn_wire;                                     ///< config.alpn_protocols in ALPN wire format
};

/// The Impl of a context, for the library's own code outside SSLNetVConnection (the TLS fuzz target).
struct TLSServerContextAccess {
  static TLSServerContext::Impl &impl(const TLSServerContext &c) { return c.impl(); }
};

/// A comma-separated protocol list in ALPN wire format (length-prefixed names). False if an entry
/// is empty or longer than 255 bytes.
bool alpn_to_wire(std::string_view list, std::string &wire);

/// The client context for this verification setting, created on first use and kept for the
/// process. nullptr (and *error set) when the CA file cannot be loaded.
SSL_CTX *client_ssl_ctx(bool verify_peer, const std::string &ca_file, std::string *error);

/// The info call-back every iocore context installs (SSLNetVConnection.cc): notes a close_notify
/// read from the peer.
void tls_info_callback(const SSL *ssl, int where, int ret);

/// OpenSSL's thread-local error queue as one line (emptying it); `fallback` when it is empty.
std::string take_openssl_errors(const char *fallback);
} // namespace iocore
