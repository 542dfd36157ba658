// FakePoller: hand-driven readiness with the edge-triggered contract of EpollPoller.
#include "support/FakePoller.h"

#include <cerrno>

namespace iocore::test {
int
FakePoller::add(int fd, uint32_t interest, PollToken token)
{
  std::lock_guard<std::mutex> g(_m);
  if (fd < 0) {
    return -EBADF;
  }
  if (_fds.count(fd)) {
    return -EEXIST;
  }
  _fds[fd] = Entry{interest, token, 0};
  return 0;
}

int
FakePoller::modify(int fd, uint32_t interest, PollToken token)
{
  std::lock_guard<std::mutex> g(_m);
  auto it = _fds.find(fd);
  if (it == _fds.end()) {
    return -ENOENT;
  }
  it->second.interest = interest;
  it->second.token    = token;
  return 0;
}

int
FakePoller::remove(int fd)
{
  std::lock_guard<std::mutex> g(_m);
  return _fds.erase(fd) ? 0 : -ENOENT;
}

int
FakePoller::wait(ink_hrtime timeout, std::span<PollEvent> out)
{
  std::lock_guard<std::mutex> g(_m);
  _waits.push_back(timeout);
  int n = 0;
  for (auto &[fd, e] : _fds) {
    if (e.pending != 0 && n < static_cast<int>(out.size())) {
      out[n++]  = PollEvent{e.token, e.pending};
      e.pending = 0;
    }
  }
  return n;
}

void
FakePoller::make_ready(int fd, uint32_t ready)
{
  std::lock_guard<std::mutex> g(_m);
  auto it = _fds.find(fd);
  if (it == _fds.end()) {
    return;
  }
  // Errors and hang-ups are always reported, as epoll does; the rest only if asked for.
  uint32_t interest = it->second.interest;
  uint32_t wanted =
      (ready & (kError | kHangup)) | (ready & interest) | ((interest & kReadable) ? ready & (kReadHangup | kUrgent) : 0);
  it->second.pending |= wanted;
}

bool
FakePoller::is_registered(int fd) const
{
  std::lock_guard<std::mutex> g(_m);
  return _fds.count(fd) != 0;
}

std::vector<ink_hrtime>
FakePoller::waits() const
{
  std::lock_guard<std::mutex> g(_m);
  return _waits;
}
} // namespace iocore::test
