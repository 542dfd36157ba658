// sslNetProcessor: the TLS NetProcessor. Listening and connecting are netProcessor's (same threads,
// same NetHandlers); the connections are SSLNetVConnections. accept() needs
// AcceptOptions::tls_context; connect_re() checks the client options before anything starts.
#include "iocore/eventsystem/Continuation.h"
#include "iocore/net/NetProcessor.h"

#include "net/UnixNetProcessor.h"
#include "tls/SSLNetVConnection.h"
#include "tls/TLSContext.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

namespace iocore {
namespace {
  class SSLNetProcessor final : public UnixNetProcessor
  {
  public:
    Action *accept(Continuation *cont, const AcceptOptions &opt) override
    {
      if (!opt.tls_context) {
        std::fprintf(stderr, "iocore: sslNetProcessor.accept() needs AcceptOptions::tls_context (see iocore/tls/TLS.h)\n");
        errno = EINVAL;
        return nullptr;
      }
      return accept_internal(cont, opt, &SSLNetVConnection::alloc_for_accept);
    }

    Action *connect_re(Continuation *cont, const sockaddr *addr, const NetVCOptions *opt) override
    {
      NetVCOptions defaults;
      const NetVCOptions &o = opt ? *opt : defaults;
      std::string error, wire;
      SSL_CTX *ctx = nullptr;
      int fail     = -ENET_SSL_FAILED;
      if (!alpn_to_wire(o.alpn_protocols, wire)) {
        error = "TLS: invalid ALPN protocol list '" + o.alpn_protocols + "'";
        fail  = -EINVAL;
      } else if (o.sni_servername.size() > 255 || o.sni_servername.find('\0') != std::string::npos) {
        error = "TLS: invalid SNI name (longer than 255 bytes or with a NUL)";
        fail  = -EINVAL;
      } else {
        ctx = client_ssl_ctx(o.verify_peer, o.ca_file, &error);
      }
      if (ctx == nullptr) {
        std::fprintf(stderr, "iocore: sslNetProcessor.connect_re: %s\n", error.c_str());
        MutexLock lock(cont->mutex, nullptr);
        cont->handleEvent(NET_EVENT_OPEN_FAILED, reinterpret_cast<void *>(static_cast<intptr_t>(fail)));
        return ACTION_RESULT_DONE;
      }
      SSLNetVConnection *vc = SSLNetVConnection::alloc();
      vc->client_ctx        = ctx;
      return connect_vc(cont, vc, addr, opt);
    }

    /// A TLS client over someone else's socket is not offered (yet): the socket is closed (it was
    /// handed over) and the continuation told.
    Action *adopt_fd(Continuation *cont, int fd, const NetVCOptions *opt) override
    {
      (void)opt;
      if (fd >= 0) {
        ::close(fd);
      }
      MutexLock lock(cont->mutex, this_ethread());
      cont->handleEvent(NET_EVENT_OPEN_FAILED, reinterpret_cast<void *>(static_cast<intptr_t>(-EOPNOTSUPP)));
      return ACTION_RESULT_DONE;
    }
    /// The net threads are netProcessor's: starting either starts both.
    int start(int n) override { return netProcessor.start(n); }

  protected:
    UnixNetVConnection *allocate_vc() override { return SSLNetVConnection::alloc(); }
    bool is_tls() const override { return true; }
  };

  SSLNetProcessor g_ssl_net_processor;
} // namespace

NetProcessor &sslNetProcessor = g_ssl_net_processor;
} // namespace iocore
