// Owning pointers to OpenSSL objects: std::unique_ptr with the object's own free function, so an
// SSL_CTX or SSL is freed exactly once on every path (failed set-up, close, migration).
#pragma once

#include <openssl/ssl.h>

#include <memory>

namespace iocore {
/// Frees an SSL_CTX (SSL_CTX_free).
struct SslCtxFree {
  void operator()(SSL_CTX *ctx) const { SSL_CTX_free(ctx); }
};
/// Frees an SSL (SSL_free).
struct SslFree {
  void operator()(SSL *ssl) const { SSL_free(ssl); }
};
/// An owned SSL_CTX.
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
/// An owned SSL session.
using SslPtr = std::unique_ptr<SSL, SslFree>;
} // namespace iocore
