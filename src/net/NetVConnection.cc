// Defaults of NetVConnection's optional operations, and its addresses (IP ones in the IpEndpoint
// members, Unix-domain ones allocated beside them).
#include "iocore/net/NetVConnection.h"

#include "iocore/eventsystem/Continuation.h"

#include <cerrno>

namespace iocore {
namespace {
  /// What a connection that cannot splice answers to do_io_read_splice / do_io_write_splice: no VIO,
  /// and ENOTSUP in its lerrno (`err`).
  VIO *refuse_splice(int &err)
  {
    err = ENOTSUP;
    return nullptr;
  }
} // namespace

Action *
NetVConnection::send_OOB(Continuation *cont, char *buf, int len)
{
  (void)buf;
  (void)len;
  lerrno = ENOTSUP;
  cont->handleEvent(VC_EVENT_ERROR, nullptr);
  return ACTION_RESULT_DONE;
}

void
NetVConnection::cancel_OOB()
{
}

VIO *
NetVConnection::do_io_read_splice(Continuation *, int64_t, SplicePipe *)
{
  return refuse_splice(lerrno);
}

VIO *
NetVConnection::do_io_write_splice(Continuation *, int64_t, SplicePipe *)
{
  return refuse_splice(lerrno);
}

int
NetVConnection::apply_options()
{
  return -EOPNOTSUPP;
}

int
NetVConnection::set_tcp_init_cwnd(int init_cwnd)
{
  (void)init_cwnd;
  return -EOPNOTSUPP;
}

SocketAddress
NetVConnection::get_remote_endpoint() const
{
  return unix_addresses ? unix_addresses->remote : SocketAddress(remote_addr);
}

SocketAddress
NetVConnection::get_local_endpoint() const
{
  return unix_addresses ? unix_addresses->local : SocketAddress(local_addr);
}

void
NetVConnection::set_remote_endpoint(const SocketAddress &addr)
{
  if (addr.is_unix()) {
    if (!unix_addresses) {
      unix_addresses = std::make_unique<UnixAddresses>();
    }
    unix_addresses->remote = addr;
    remote_addr            = IpEndpoint();
    return;
  }
  unix_addresses.reset();
  remote_addr = addr.ip();
}

void
NetVConnection::set_local_endpoint(const SocketAddress &addr)
{
  if (addr.is_unix()) {
    if (!unix_addresses) {
      unix_addresses = std::make_unique<UnixAddresses>();
    }
    unix_addresses->local = addr;
    local_addr            = IpEndpoint();
    return;
  }
  unix_addresses.reset();
  local_addr = addr.ip();
}
} // namespace iocore
