// TLS contexts over OpenSSL: building a TLSServerContext from its config (certificates, SNI names,
// ALPN), the SNI and ALPN call-backs, and the process-wide cache of client contexts.
#include "tls/TLSContext.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <utility>

namespace iocore {
namespace {
  std::string lower(std::string_view s)
  {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
  }

  /// Options every iocore context shares. Renegotiation is refused (a read must never have to
  /// write, nor a write read, in the middle of a transfer); a FIN without close_notify is an end of
  /// stream, not an error (as for plain TCP, and what ATS does); partial writes let SSL_write send
  /// what fits; buffers of idle connections are released.
  void apply_common_options(SSL_CTX *ctx)
  {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_info_callback(ctx, tls_info_callback);
  }

  /// OpenSSL decodes a certificate's extensions (key identifiers, constraints, usages) on first
  /// use and marks them done with a flag it reads without a lock. The certificates of a context
  /// (its own chain, its trust store) are shared by every net thread's handshakes, so they are
  /// decoded here, once, while the context still belongs to the thread building it.
  void decode_shared_certificates(SSL_CTX *ctx)
  {
    if (X509 *leaf = SSL_CTX_get0_certificate(ctx); leaf != nullptr) {
      (void)X509_check_purpose(leaf, -1, 0);
    }
    STACK_OF(X509) *chain = nullptr;
    if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 && chain != nullptr) {
      for (int i = 0; i < sk_X509_num(chain); ++i) {
        (void)X509_check_purpose(sk_X509_value(chain, i), -1, 0);
      }
    }
    if (X509_STORE *store = SSL_CTX_get_cert_store(ctx); store != nullptr) {
      STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(store);
      for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
        if (X509 *cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i)); cert != nullptr) {
          (void)X509_check_purpose(cert, -1, 0);
        }
      }
    }
  }

  /// SNI: switch to the context of the certificate named by the client (the default stays when
  /// nothing matches: the client then decides whether the default certificate will do).
  int servername_callback(SSL *ssl, int *alert, void *arg)
  {
    (void)alert;
    auto *impl       = static_cast<TLSServerContext::Impl *>(arg);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) {
      return SSL_TLSEXT_ERR_OK;
    }
    if (SSL_CTX *ctx = impl->find(name); ctx != nullptr && ctx != SSL_get_SSL_CTX(ssl)) {
      SSL_set_SSL_CTX(ssl, ctx);
    }
    return SSL_TLSEXT_ERR_OK;
  }

  /// ALPN: the server's first protocol the client also offers; none in common: no ALPN (the
  /// connection goes on; the application decides what to speak).
  int alpn_callback(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned int inlen,
                    void *arg)
  {
    (void)ssl;
    auto *impl              = static_cast<TLSServerContext::Impl *>(arg);
    const auto *server_list = reinterpret_cast<const unsigned char *>(impl->alpn_wire.data());
    unsigned char *selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, server_list, static_cast<unsigned int>(impl->alpn_wire.size()), in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
      *out = selected;
      return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
  }

  /// The names a certificate is for: its subjectAltName DNS entries, else its common name.
  std::vector<std::string> names_in_certificate(SSL_CTX *ctx)
  {
    std::vector<std::string> names;
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    if (cert == nullptr) {
      return names;
    }
    auto *sans = static_cast<GENERAL_NAMES *>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (sans != nullptr) {
      for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS) {
          const unsigned char *data = ASN1_STRING_get0_data(gn->d.dNSName);
          names.emplace_back(reinterpret_cast<const char *>(data), static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName)));
        }
      }
      GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
      char cn[256];
      if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0) {
        names.emplace_back(cn);
      }
    }
    return names;
  }

  /// One certificate's context; nullptr with *error set on failure.
  SslCtxPtr make_server_ctx(const TLSCertificate &c, TLSServerContext::Impl &impl, std::string &error)
  {
    SslCtxPtr owned(SSL_CTX_new(TLS_server_method()));
    SSL_CTX *ctx = owned.get();
    if (ctx == nullptr) {
      error = take_openssl_errors("SSL_CTX_new failed");
      return nullptr;
    }
    apply_common_options(ctx);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    const std::string &key_file = c.key_file.empty() ? c.cert_file : c.key_file;
    if (c.cert_file.empty()) {
      error = "TLS: a certificate has no cert_file";
    } else if (SSL_CTX_use_certificate_chain_file(ctx, c.cert_file.c_str()) != 1) {
      error = "TLS: cannot load certificate " + c.cert_file + ": " + take_openssl_errors("unreadable");
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        error = "TLS: private key " + key_file + " does not match certificate " + c.cert_file;
        ERR_clear_error();
      } else {
        error = "TLS: cannot load private key " + key_file + ": " + take_openssl_errors("unreadable");
      }
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
      error = "TLS: private key " + key_file + " does not match certificate " + c.cert_file;
      ERR_clear_error();
    } else if (!impl.config.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, impl.config.ciphers.c_str()) != 1) {
      error = "TLS: invalid cipher list '" + impl.config.ciphers + "'";
      ERR_clear_error();
    }
    if (!error.empty()) {
      return nullptr;
    }
    static const unsigned char kSessionContext[] = "iocore";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
    decode_shared_certificates(ctx);
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_callback);
    SSL_CTX_set_tlsext_servername_arg(ctx, &impl);
    if (!impl.alpn_wire.empty()) {
      SSL_CTX_set_alpn_select_cb(ctx, alpn_callback, &impl);
    }
    return owned;
  }
} // namespace

std::string
take_openssl_errors(const char *fallback)
{
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out.empty() ? std::string(fallback) : out;
}

bool
alpn_to_wire(std::string_view list, std::string &wire)
{
  wire.clear();
  while (!list.empty()) {
    std::size_t comma     = list.find(',');
    std::string_view name = list.substr(0, comma);
    while (!name.empty() && name.front() == ' ') {
      name.remove_prefix(1);
    }
    while (!name.empty() && name.back() == ' ') {
      name.remove_suffix(1);
    }
    if (name.empty() || name.size() > 255) {
      return false;
    }
    wire += static_cast<char>(name.size());
    wire += name;
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  return true;
}

SSL_CTX *
TLSServerContext::Impl::find(std::string_view server_name) const
{
  std::string name = lower(server_name);
  if (auto it = exact_names.find(name); it != exact_names.end()) {
    return it->second;
  }
  if (std::size_t dot = name.find('.'); dot != std::string::npos && dot > 0) {
    if (auto it = wildcard_names.find(name.substr(dot + 1)); it != wildcard_names.end()) {
      return it->second;
    }
  }
  return nullptr;
}

TLSServerContext::TLSServerContext(std::unique_ptr<Impl> impl) : _impl(std::move(impl)) {}
TLSServerContext::~TLSServerContext() = default;

const TLSServerConfig &
TLSServerContext::config() const
{
  return _impl->config;
}

std::shared_ptr<const TLSServerContext>
TLSServerContext::create(const TLSServerConfig &config, std::string *error)
{
  std::string err;
  auto impl    = std::make_unique<Impl>();
  impl->config = config;
  if (config.certificates.empty()) {
    err = "TLS: no certificate configured";
  } else if (!alpn_to_wire(config.alpn_protocols, impl->alpn_wire)) {
    err = "TLS: invalid ALPN protocol list '" + config.alpn_protocols + "'";
  }
  for (std::size_t i = 0; err.empty() && i < config.certificates.size(); ++i) {
    const TLSCertificate &c = config.certificates[i];
    SslCtxPtr owned         = make_server_ctx(c, *impl, err);
    if (owned == nullptr) {
      break;
    }
    SSL_CTX *ctx = owned.get();
    impl->contexts.push_back(std::move(owned));
    std::vector<std::string> names = c.server_names.empty() ? names_in_certificate(ctx) : c.server_names;
    for (const std::string &n : names) {
      std::string name = lower(n);
      if (name.rfind("*.", 0) == 0) {
        impl->wildcard_names.emplace(name.substr(2), ctx); // the first certificate to claim a name keeps it
      } else if (!name.empty()) {
        impl->exact_names.emplace(name, ctx);
      }
    }
  }
  if (!err.empty()) {
    if (error) {
      *error = err;
    }
    return nullptr;
  }
  return std::shared_ptr<const TLSServerContext>(new TLSServerContext(std::move(impl)));
}

SSL_CTX *
client_ssl_ctx(bool verify_peer, const std::string &ca_file, std::string *error)
{
  // Process lifetime, a handful at most; never destroyed (a connection may still use one while
  // static destructors run), so it stays reachable rather than leaked.
  static std::mutex mutex;
  static auto &cache = *new std::map<std::pair<bool, std::string>, SSL_CTX *>();
  std::lock_guard<std::mutex> guard(mutex);
  auto key = std::make_pair(verify_peer, verify_peer ? ca_file : std::string());
  if (auto it = cache.find(key); it != cache.end()) {
    return it->second;
  }
  SslCtxPtr owned(SSL_CTX_new(TLS_client_method()));
  SSL_CTX *ctx = owned.get();
  if (ctx == nullptr) {
    if (error) {
      *error = take_openssl_errors("SSL_CTX_new failed");
    }
    return nullptr;
  }
  apply_common_options(ctx);
  if (verify_peer) {
    int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
    if (ok != 1) {
      if (error) {
        *error = "TLS: cannot load CA file " + (ca_file.empty() ? std::string("(system default)") : ca_file) + ": " +
                 take_openssl_errors("unreadable");
      }
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  decode_shared_certificates(ctx);
  cache.emplace(key, owned.release()); // kept for the process (above)
  return ctx;
}
} // namespace iocore
