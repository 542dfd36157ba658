// IoBackend: the backend choice (NetConfig::io_backend, IOCORE_IO_BACKEND, a probe of io_uring)
// and the per-thread poller it implies.
#include "net/IoBackend.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace iocore {
namespace {
  std::atomic<IoBackend> g_backend{IoBackend::kAuto};

  /// kAuto without io_uring's completion-based IO path is epoll: io_uring used only to poll saves
  /// no system call per read or write.
  constexpr IoBackend kAutoPrefers = IoBackend::kEpoll;
} // namespace

#ifndef IOCORE_HAVE_LIBURING
std::unique_ptr<Poller>
make_uring_poller(std::string *why_not)
{
  if (why_not != nullptr) {
    *why_not = "this build of iocore has no io_uring support (liburing was not found when it was built)";
  }
  return nullptr;
}
#endif

const char *
io_backend_name(IoBackend backend)
{
  switch (backend) {
  case IoBackend::kAuto:
    return "auto";
  case IoBackend::kEpoll:
    return "epoll";
  case IoBackend::kIoUring:
    return "io_uring";
  }
  return "?";
}

IoBackend
net_io_backend()
{
  return g_backend.load(std::memory_order_acquire);
}

bool
choose_io_backend(std::string &error)
{
  IoBackend want = net_config().io_backend;
  bool asked     = want != IoBackend::kAuto;
  if (!asked) {
    if (const char *env = std::getenv("IOCORE_IO_BACKEND"); env != nullptr && *env != '\0') {
      std::string_view v(env);
      if (v == "epoll") {
        want = IoBackend::kEpoll;
      } else if (v == "io_uring") {
        want = IoBackend::kIoUring;
      } else if (v != "auto") {
        error = "IOCORE_IO_BACKEND: expected epoll, io_uring or auto, got '" + std::string(v) + "'";
        return false;
      }
      asked = want != IoBackend::kAuto;
    }
  }
  if (want == IoBackend::kAuto) {
    want = kAutoPrefers;
  }
  if (want == IoBackend::kIoUring) {
    std::string why;
    if (make_uring_poller(&why) == nullptr) {
      if (asked) {
        error = "io_uring was asked for but is not available: " + why;
        return false;
      }
      std::fprintf(stderr, "iocore: io_uring is not available (%s): using epoll\n", why.c_str());
      want = IoBackend::kEpoll;
    }
  }
  g_backend.store(want, std::memory_order_release);
  return true;
}

std::unique_ptr<Poller>
make_backend_poller(std::string &why)
{
  if (net_io_backend() == IoBackend::kIoUring) {
    return make_uring_poller(&why);
  }
  auto p = make_epoll_poller();
  if (p == nullptr) {
    why = std::string("epoll_create1: ") + std::strerror(errno);
  }
  return p;
}
} // namespace iocore
