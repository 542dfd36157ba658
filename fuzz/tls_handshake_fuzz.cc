// libFuzzer target: TLS input to a server built from iocore's TLSServerContext (two certificates
// with SNI names and a wildcard, ALPN "h2,http/1.1"), over memory BIOs. The first byte picks how the
// rest is used:
//   even: the rest is raw bytes from a "client" (records, a ClientHello or garbage) handed to the
//         server's handshake;
//   odd:  a real OpenSSL client whose SNI name is the next data[1] bytes and whose ALPN list is the
//         rest (when it is valid wire format) runs a whole handshake against the server, so the SNI
//         call-back (name lookup, context switch) and the ALPN selection see arbitrary names.
#include "iocore/tls/TLS.h"

#include "support/TestCerts.h"
#include "tls/TLSContext.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace {
struct Setup {
  iocore::test::TestPKI pki;
  std::shared_ptr<const iocore::TLSServerContext> server;
  SSL_CTX *client = nullptr;

  Setup()
  {
    auto a = pki.issue("a.test", {"DNS:a.test"});
    auto b = pki.issue("b.test", {"DNS:b.test", "DNS:*.wild.test"});
    iocore::TLSServerConfig cfg;
    cfg.certificates.push_back({a.cert_file, a.key_file, {}});
    cfg.certificates.push_back({b.cert_file, b.key_file, {}});
    cfg.alpn_protocols = "h2,http/1.1";
    std::string error;
    server = iocore::TLSServerContext::create(cfg, &error);
    client = iocore::client_ssl_ctx(false, "", &error);
    if (!server || !client) {
      std::abort();
    }
  }
};

SSL *
new_endpoint(SSL_CTX *ctx, bool is_server)
{
  SSL *ssl = SSL_new(ctx);
  SSL_set_bio(ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  if (is_server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  return ssl;
}

/// Move what `from` wrote to `to`'s input.
void
pump(SSL *from, SSL *to)
{
  char buf[16384];
  int n;
  while ((n = BIO_read(SSL_get_wbio(from), buf, sizeof(buf))) > 0) {
    BIO_write(SSL_get_rbio(to), buf, n);
  }
}

void
raw_input(Setup &s, const uint8_t *data, size_t size)
{
  SSL *srv = new_endpoint(iocore::TLSServerContextAccess::impl(*s.server).contexts.front().get(), true);
  if (size > 0) {
    BIO_write(SSL_get_rbio(srv), data, static_cast<int>(size));
  }
  (void)SSL_do_handshake(srv);
  SSL_free(srv);
}

void
full_handshake(Setup &s, const uint8_t *data, size_t size)
{
  size_t name_len = size > 0 ? std::min<size_t>(data[0], size - 1) : 0;
  std::string name(reinterpret_cast<const char *>(data + 1), name_len);
  const uint8_t *alpn = data + 1 + name_len;
  size_t alpn_len     = size > 0 ? size - 1 - name_len : 0;

  SSL *srv = new_endpoint(iocore::TLSServerContextAccess::impl(*s.server).contexts.front().get(), true);
  SSL *cli = new_endpoint(s.client, false);
  if (!name.empty()) {
    (void)SSL_set_tlsext_host_name(cli, name.c_str()); // refused for bad names: then no SNI
  }
  if (alpn_len > 0) {
    (void)SSL_set_alpn_protos(cli, alpn, static_cast<unsigned>(alpn_len)); // refused when not wire format
  }
  for (int round = 0; round < 8; ++round) {
    int c = SSL_do_handshake(cli);
    pump(cli, srv);
    int r = SSL_do_handshake(srv);
    pump(srv, cli);
    if ((c == 1 && r == 1) || (c <= 0 && SSL_get_error(cli, c) != SSL_ERROR_WANT_READ) ||
        (r <= 0 && SSL_get_error(srv, r) != SSL_ERROR_WANT_READ)) {
      break;
    }
  }
  const unsigned char *selected = nullptr;
  unsigned selected_len         = 0;
  SSL_get0_alpn_selected(srv, &selected, &selected_len);
  if (selected != nullptr && selected_len != 2 && selected_len != 8) { // "h2" or "http/1.1" only
    std::abort();
  }
  SSL_free(cli);
  SSL_free(srv);
}
} // namespace

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static Setup setup;
  if (size == 0) {
    return 0;
  }
  if (data[0] % 2 == 0) {
    raw_input(setup, data + 1, size - 1);
  } else {
    full_handshake(setup, data + 1, size - 1);
  }
  ERR_clear_error();
  return 0;
}
