// IpEndpoint: an IPv4 or IPv6 socket address and port in one union, as ATS's IpEndpoint, with the
// parsing and printing the command line and logs need ("1.2.3.4:80", "[::1]:80").
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iocore {
/// An IPv4 or IPv6 socket address (ATS's IpEndpoint): the sockaddr views share one storage.
union IpEndpoint {
  sockaddr sa;       ///< the generic view (family in sa.sa_family)
  sockaddr_in sin4;  ///< the AF_INET view
  sockaddr_in6 sin6; ///< the AF_INET6 view

  /// Invalid (AF_UNSPEC) until assigned.
  IpEndpoint() { sin6 = {}; }

  /// Copy an AF_INET or AF_INET6 address; anything else leaves the endpoint invalid (AF_UNSPEC).
  void assign(const sockaddr *addr);
  /// AF_INET, AF_INET6, or AF_UNSPEC when unset.
  int family() const { return sa.sa_family; }
  /// Whether it holds an IPv4 or IPv6 address.
  bool is_valid() const { return family() == AF_INET || family() == AF_INET6; }
  /// Whether the address is the family's any-address (0.0.0.0 or ::).
  bool is_any() const;
  /// Port in host order.
  uint16_t port() const;
  /// Set the port (host order).
  void set_port(uint16_t port);
  /// The size to pass to bind/connect.
  socklen_t size() const { return family() == AF_INET6 ? sizeof(sin6) : sizeof(sin4); }
  /// "1.2.3.4:80" or "[::1]:80"; "<unset>" when invalid.
  std::string to_string() const;
  /// The address alone: "1.2.3.4" or "::1".
  std::string host_string() const;

  /// Parse "HOST:PORT" where HOST is a dotted IPv4 address or a bracketed IPv6 address ("[::1]:80");
  /// "*:PORT" and ":PORT" mean any IPv4 address. No name resolution. nullopt on any error.
  static std::optional<IpEndpoint> parse(std::string_view text);
  /// Any-address of the family (AF_INET or AF_INET6) with the given port.
  static IpEndpoint any(int family, uint16_t port = 0);
  /// The loopback address of the family with the given port.
  static IpEndpoint loopback(int family, uint16_t port = 0);

  /// Same family, address and port.
  bool operator==(const IpEndpoint &o) const;
};
} // namespace iocore
