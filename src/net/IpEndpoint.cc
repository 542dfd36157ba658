// IpEndpoint parsing and printing (no name resolution: the command line takes literal addresses).
#include "iocore/net/IpEndpoint.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace iocore {
void
IpEndpoint::assign(const sockaddr *addr)
{
  sin6 = {};
  if (addr == nullptr) {
    return;
  }
  if (addr->sa_family == AF_INET) {
    std::memcpy(&sin4, addr, sizeof(sin4));
  } else if (addr->sa_family == AF_INET6) {
    std::memcpy(&sin6, addr, sizeof(sin6));
  }
}

bool
IpEndpoint::is_any() const
{
  if (family() == AF_INET) {
    return sin4.sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (family() == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(&sin6.sin6_addr);
  }
  return false;
}

uint16_t
IpEndpoint::port() const
{
  if (family() == AF_INET) {
    return ntohs(sin4.sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(sin6.sin6_port);
  }
  return 0;
}

void
IpEndpoint::set_port(uint16_t p)
{
  if (family() == AF_INET) {
    sin4.sin_port = htons(p);
  } else if (family() == AF_INET6) {
    sin6.sin6_port = htons(p);
  }
}

std::string
IpEndpoint::host_string() const
{
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &sin4.sin_addr, buf, sizeof(buf));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof(buf));
  } else {
    return "<unset>";
  }
  return buf;
}

std::string
IpEndpoint::to_string() const
{
  if (!is_valid()) {
    return "<unset>";
  }
  std::string host = host_string();
  if (family() == AF_INET6) {
    host = "[" + host + "]";
  }
  return host + ":" + std::to_string(port());
}

std::optional<IpEndpoint>
IpEndpoint::parse(std::string_view text)
{
  std::string_view host;
  std::string_view port_text;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host      = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    v6        = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return std::nullopt;
    }
    host      = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port  = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  IpEndpoint ep;
  std::string h(host);
  if (v6) {
    ep.sin6.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, h.c_str(), &ep.sin6.sin6_addr) != 1) {
      return std::nullopt;
    }
  } else {
    ep.sin4.sin_family = AF_INET;
    if (h.empty() || h == "*") {
      ep.sin4.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, h.c_str(), &ep.sin4.sin_addr) != 1) {
      return std::nullopt;
    }
  }
  ep.set_port(static_cast<uint16_t>(port));
  return ep;
}

IpEndpoint
IpEndpoint::any(int fam, uint16_t p)
{
  IpEndpoint ep;
  if (fam == AF_INET6) {
    ep.sin6.sin6_family = AF_INET6;
    ep.sin6.sin6_addr   = in6addr_any;
  } else {
    ep.sin4.sin_family      = AF_INET;
    ep.sin4.sin_addr.s_addr = htonl(INADDR_ANY);
  }
  ep.set_port(p);
  return ep;
}

IpEndpoint
IpEndpoint::loopback(int fam, uint16_t p)
{
  IpEndpoint ep;
  if (fam == AF_INET6) {
    ep.sin6.sin6_family = AF_INET6;
    ep.sin6.sin6_addr   = in6addr_loopback;
  } else {
    ep.sin4.sin_family      = AF_INET;
    ep.sin4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  ep.set_port(p);
  return ep;
}

bool
IpEndpoint::operator==(const IpEndpoint &o) const
{
  if (family() != o.family()) {
    return false;
  }
  if (family() == AF_INET) {
    return sin4.sin_port == o.sin4.sin_port && sin4.sin_addr.s_addr == o.sin4.sin_addr.s_addr;
  }
  if (family() == AF_INET6) {
    return sin6.sin6_port == o.sin6.sin6_port && std::memcmp(&sin6.sin6_addr, &o.sin6.sin6_addr, sizeof(in6_addr)) == 0;
  }
  return true;
}
} // namespace iocore
