// SocketAddress: building IP and Unix-domain addresses, reading them back from the kernel, and
// their text form.
#include "iocore/net/SocketAddress.h"

#include <algorithm>
#include <cstring>

namespace iocore {
namespace {
  constexpr std::size_t kPathOffset      = offsetof(sockaddr_un, sun_path);
  constexpr std::string_view kUnixPrefix = "unix:";

  bool fits_unix(std::string_view s)
  {
    return !s.empty() && s.size() <= SocketAddress::kMaxUnixPath && s.find('\0') == std::string_view::npos;
  }
} // namespace

SocketAddress::SocketAddress(const IpEndpoint &ip)
{
  if (ip.is_valid()) {
    _u.ip = ip;
    _len  = ip.size();
  }
}

std::optional<SocketAddress>
SocketAddress::unix_path(std::string_view path)
{
  if (!fits_unix(path)) {
    return std::nullopt;
  }
  SocketAddress a;
  a._u.un.sun_family = AF_UNIX;
  std::memcpy(a._u.un.sun_path, path.data(), path.size());
  a._len = static_cast<socklen_t>(kPathOffset + path.size() + 1);
  return a;
}

std::optional<SocketAddress>
SocketAddress::unix_abstract(std::string_view name)
{
  if (!fits_unix(name)) {
    return std::nullopt;
  }
  SocketAddress a;
  a._u.un.sun_family = AF_UNIX;
  std::memcpy(a._u.un.sun_path + 1, name.data(), name.size());
  a._len = static_cast<socklen_t>(kPathOffset + 1 + name.size());
  return a;
}

SocketAddress
SocketAddress::from_kernel(const sockaddr *addr, socklen_t len)
{
  SocketAddress a;
  if (addr == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) {
    return a;
  }
  if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) {
    IpEndpoint ip;
    ip.assign(addr);
    return SocketAddress(ip);
  }
  if (addr->sa_family == AF_UNIX) {
    len = std::min<socklen_t>(len, sizeof(sockaddr_un));
    std::memcpy(&a._u.un, addr, len);
    a._len = len;
    if (len > kPathOffset && a._u.un.sun_path[0] != '\0') {
      // A path: the kernel may or may not count its NUL; keep one in the length either way.
      std::size_t n = strnlen(a._u.un.sun_path, len - kPathOffset);
      a._len        = static_cast<socklen_t>(kPathOffset + std::min(n + 1, sizeof(a._u.un.sun_path)));
    }
  }
  return a;
}

SocketAddress
SocketAddress::from_sockaddr(const sockaddr *addr)
{
  if (addr == nullptr || addr->sa_family != AF_UNIX) {
    IpEndpoint ip;
    ip.assign(addr);
    return SocketAddress(ip);
  }
  const auto *un = reinterpret_cast<const sockaddr_un *>(addr);
  if (un->sun_path[0] != '\0') {
    std::size_t n = strnlen(un->sun_path, sizeof(un->sun_path));
    return unix_path(std::string_view(un->sun_path, n)).value_or(SocketAddress());
  }
  std::size_t n = strnlen(un->sun_path + 1, sizeof(un->sun_path) - 1);
  if (n == 0) {
    SocketAddress unnamed;
    unnamed._u.un.sun_family = AF_UNIX;
    unnamed._len             = kPathOffset;
    return unnamed;
  }
  return unix_abstract(std::string_view(un->sun_path + 1, n)).value_or(SocketAddress());
}

std::optional<SocketAddress>
SocketAddress::parse(std::string_view text)
{
  if (text.starts_with(kUnixPrefix)) {
    std::string_view rest = text.substr(kUnixPrefix.size());
    if (rest.starts_with('@')) {
      return unix_abstract(rest.substr(1));
    }
    return unix_path(rest);
  }
  auto ip = IpEndpoint::parse(text);
  if (!ip) {
    return std::nullopt;
  }
  return SocketAddress(*ip);
}

bool
SocketAddress::is_abstract() const
{
  return is_unix() && _len > kPathOffset && _u.un.sun_path[0] == '\0';
}

IpEndpoint
SocketAddress::ip() const
{
  return is_ip() ? _u.ip : IpEndpoint();
}

std::string
SocketAddress::path() const
{
  if (!is_unix() || _len <= kPathOffset) {
    return {};
  }
  if (is_abstract()) {
    return std::string(_u.un.sun_path + 1, _len - kPathOffset - 1);
  }
  return std::string(_u.un.sun_path, strnlen(_u.un.sun_path, _len - kPathOffset));
}

std::string
SocketAddress::to_string() const
{
  if (is_ip()) {
    return _u.ip.to_string();
  }
  if (!is_unix()) {
    return "<unset>";
  }
  return std::string(kUnixPrefix) + (is_abstract() ? "@" : "") + path();
}

bool
SocketAddress::operator==(const SocketAddress &o) const
{
  if (family() != o.family()) {
    return false;
  }
  if (is_ip()) {
    return _u.ip == o._u.ip;
  }
  if (is_unix()) {
    return is_abstract() == o.is_abstract() && path() == o.path();
  }
  return true;
}
} // namespace iocore
