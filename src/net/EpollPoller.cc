// EpollPoller: Poller over Linux epoll, every registration edge-triggered (EPOLLET). Edge triggering
// is why the NetHandler keeps `triggered` per direction and drives IO until EAGAIN: the kernel
// reports each transition to ready once, so the interest set never has to change as VIOs are
// enabled and disabled (no epoll_ctl on the data path).
#include "net/Poller.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace iocore {
namespace {
  uint32_t to_epoll(uint32_t interest)
  {
    uint32_t ev = EPOLLET;
    if (interest & kReadable) {
      ev |= EPOLLIN | EPOLLRDHUP | EPOLLPRI;
    }
    if (interest & kWritable) {
      ev |= EPOLLOUT;
    }
    return ev;
  }

  uint32_t from_epoll(uint32_t ev)
  {
    uint32_t r = 0;
    if (ev & (EPOLLIN | EPOLLPRI)) {
      r |= kReadable;
    }
    if (ev & EPOLLOUT) {
      r |= kWritable;
    }
    if (ev & EPOLLERR) {
      r |= kError;
    }
    if (ev & EPOLLHUP) {
      r |= kHangup;
    }
    if (ev & EPOLLRDHUP) {
      r |= kReadHangup;
    }
    if (ev & EPOLLPRI) {
      r |= kUrgent;
    }
    return r;
  }

  class EpollPoller final : public Poller
  {
  public:
    EpollPoller() : _fd(epoll_create1(EPOLL_CLOEXEC)) {}
    ~EpollPoller() override
    {
      if (_fd >= 0) {
        ::close(_fd);
      }
    }
    bool ok() const { return _fd >= 0; }

    int add(int fd, uint32_t interest, PollToken token) override
    {
      epoll_event ev{};
      ev.events   = to_epoll(interest);
      ev.data.ptr = token;
      return epoll_ctl(_fd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
    }

    int modify(int fd, uint32_t interest, PollToken token) override
    {
      epoll_event ev{};
      ev.events   = to_epoll(interest);
      ev.data.ptr = token;
      return epoll_ctl(_fd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -errno;
    }

    int remove(int fd) override
    {
      epoll_event ev{};
      return epoll_ctl(_fd, EPOLL_CTL_DEL, fd, &ev) == 0 ? 0 : -errno;
    }

    int wait(ink_hrtime timeout, std::span<PollEvent> out) override
    {
      if (_events.size() < out.size()) {
        _events.resize(out.size());
      }
      // Round up so a wait for a timer does not return just before it is due.
      int ms = timeout <= 0 ? 0 : static_cast<int>((timeout + HRTIME_MSECONDS(1) - 1) / HRTIME_MSECONDS(1));
      int n  = epoll_wait(_fd, _events.data(), static_cast<int>(out.size()), ms);
      if (n < 0) {
        return errno == EINTR ? 0 : -errno;
      }
      for (int i = 0; i < n; ++i) {
        out[i] = PollEvent{_events[i].data.ptr, from_epoll(_events[i].events)};
      }
      return n;
    }

  private:
    int _fd;
    std::vector<epoll_event> _events;
  };
} // namespace

std::unique_ptr<Poller>
make_epoll_poller()
{
  auto p = std::make_unique<EpollPoller>();
  if (!p->ok()) {
    return nullptr;
  }
  return p;
}
} // namespace iocore
