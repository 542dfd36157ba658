// sslNetProcessor: the TLS NetProcessor. TLS (SSLNetVConnection over OpenSSL) is a later milestone;
// until it lands every accept or connect through this processor fails loudly and immediately
// (errno / NET_EVENT_OPEN_FAILED with -EPROTONOSUPPORT) rather than silently speaking plain TCP.
#include "iocore/eventsystem/Continuation.h"
#include "iocore/net/NetProcessor.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>

namespace iocore {
namespace {
  class SSLNetProcessor final : public NetProcessor
  {
  public:
    Action *accept(Continuation *, const AcceptOptions &) override
    {
      std::fprintf(stderr, "iocore: TLS is not implemented yet: sslNetProcessor.accept() refused\n");
      errno = EPROTONOSUPPORT;
      return nullptr;
    }

    Action *connect_re(Continuation *cont, const sockaddr *, const NetVCOptions *) override
    {
      MutexLock lock(cont->mutex, nullptr);
      cont->handleEvent(NET_EVENT_OPEN_FAILED, reinterpret_cast<void *>(static_cast<intptr_t>(-EPROTONOSUPPORT)));
      return ACTION_RESULT_DONE;
    }

    int start(int) override { return 0; }
  };

  SSLNetProcessor g_ssl_net_processor;
} // namespace

NetProcessor &sslNetProcessor = g_ssl_net_processor;
} // namespace iocore
