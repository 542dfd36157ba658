// SocketAddress: any address a stream socket of iocore can listen on or connect to — an IP endpoint
// (IpEndpoint) or a Unix-domain one (a path, or a Linux abstract name) — with the text form the
// command line and logs use ("127.0.0.1:80", "[::1]:80", "unix:/run/x.sock", "unix:@name").
#pragma once

#include "iocore/net/IpEndpoint.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace iocore {
/// An IP or Unix-domain stream socket address (see the file comment), as listeners, connects and
/// NetVConnection::get_remote_endpoint() use it.
class SocketAddress
{
public:
  /// The longest Unix path (the kernel's sun_path less its terminating NUL) and abstract name.
  static constexpr std::size_t kMaxUnixPath = sizeof(sockaddr_un::sun_path) - 1;

  /// An unset address (AF_UNSPEC).
  SocketAddress() = default;
  /// An IP address; an invalid IpEndpoint gives an unset address.
  SocketAddress(const IpEndpoint &ip); // NOLINT(google-explicit-constructor): an IpEndpoint is one

  /// A path in the file system ("/run/app.sock", or relative). nullopt when empty, longer than
  /// kMaxUnixPath, or holding a NUL byte.
  static std::optional<SocketAddress> unix_path(std::string_view path);
  /// A Linux abstract name (no file; gone with the last socket bound to it). nullopt when empty,
  /// longer than kMaxUnixPath, or holding a NUL byte (so that sa() alone, without size(), still
  /// says where the name ends: see from_sockaddr).
  static std::optional<SocketAddress> unix_abstract(std::string_view name);

  /// What the kernel returned (accept, getsockname, getpeername): `len` bytes at `addr`. An
  /// AF_UNIX address of no more than the family is an unnamed socket ("unix:"). Other families
  /// than AF_INET, AF_INET6 and AF_UNIX give an unset address.
  static SocketAddress from_kernel(const sockaddr *addr, socklen_t len);
  /// An address given without its length (connect_re): IP addresses as IpEndpoint::assign; an
  /// AF_UNIX path ends at its NUL, an abstract name (sun_path[0] == 0) at the next NUL or the end
  /// of sun_path — the form sa() of unix_abstract() produces; nothing there is an unnamed socket.
  static SocketAddress from_sockaddr(const sockaddr *addr);

  /// "HOST:PORT" (IpEndpoint::parse), "unix:PATH" or "unix:@NAME" (abstract). nullopt on any error,
  /// including a Unix path or name too long for sun_path.
  static std::optional<SocketAddress> parse(std::string_view text);

  /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC when unset.
  int family() const { return _u.sa.sa_family; }
  /// Set to an IP or Unix-domain address.
  bool is_valid() const { return family() == AF_INET || family() == AF_INET6 || family() == AF_UNIX; }
  /// An IPv4 or IPv6 address.
  bool is_ip() const { return family() == AF_INET || family() == AF_INET6; }
  /// A Unix-domain address (path, abstract name or unnamed).
  bool is_unix() const { return family() == AF_UNIX; }
  /// A Linux abstract name (no file behind it).
  bool is_abstract() const;
  /// An AF_UNIX socket with no name (the usual client end of a Unix connection).
  bool is_unnamed() const { return is_unix() && _len <= offsetof(sockaddr_un, sun_path); }

  /// The address in the kernel's form, for bind / connect with size().
  const sockaddr *sa() const { return &_u.sa; }
  /// The length to pass to bind / connect with sa().
  socklen_t size() const { return _len; }
  /// The IP endpoint (unset unless is_ip()).
  IpEndpoint ip() const;
  /// Port in host order (0 for Unix addresses).
  uint16_t port() const { return is_ip() ? _u.ip.port() : 0; }
  /// A Unix address's path, or its abstract name without the leading NUL; "" otherwise.
  std::string path() const;

  /// "1.2.3.4:80", "[::1]:80", "unix:/path", "unix:@name", "unix:" (unnamed) or "<unset>".
  std::string to_string() const;

  /// Same family and the same address (IP and port, or the same path / abstract name).
  bool operator==(const SocketAddress &o) const;

private:
  union Storage {
    Storage() : ss{} {}
    sockaddr sa;
    IpEndpoint ip;
    sockaddr_un un;
    sockaddr_storage ss;
  } _u;
  socklen_t _len = 0;
};
} // namespace iocore
