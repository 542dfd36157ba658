// LingeringClose: the graceful end of a socket (drain, FIN, bounded wait for acknowledgement or
// the peer's FIN), with one Lingerer continuation per net thread holding the sockets that wait.
#include "net/LingeringClose.h"

#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EThread.h"

#include "eventsystem/DebugLog.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <vector>

namespace iocore {
namespace {
  constexpr int kDrainReadsPerLook = 16;

  /// Bytes written to fd (and its FIN) not yet acknowledged by the peer; 0 when fd is no TCP
  /// socket with a send queue.
  int unacknowledged(int fd)
  {
    int unacked = 0;
    return ::ioctl(fd, SIOCOUTQ, &unacked) != 0 ? 0 : unacked;
  }

  /// True when every byte written to fd has been acknowledged by the peer (or fd is no TCP socket
  /// with a send queue): a reset can no longer cost the peer anything we sent.
  bool all_sent_acknowledged(int fd)
  {
    return unacknowledged(fd) == 0;
  }

  /// Close with a reset: the kernel drops what it still holds for the peer and tells it at once.
  void reset_socket(int fd)
  {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    ::close(fd);
  }

  class Lingerer : public Continuation
  {
  public:
    Lingerer() : Continuation(new_ProxyMutex()) { set_handler(&Lingerer::tick); }
    ~Lingerer() override
    {
      for (const Waiting &w : _waiting) {
        ::close(w.fd);
      }
    }
    Lingerer(const Lingerer &)            = delete;
    Lingerer &operator=(const Lingerer &) = delete;

    void add(int fd, ink_hrtime deadline, EThread &t)
    {
      if (static_cast<int>(_waiting.size()) >= kMaxLingeringPerThread) {
        ::close(fd);
        return;
      }
      _waiting.push_back({fd, deadline, unacknowledged(fd), t.now()});
      if (!_scheduled) {
        _scheduled = true;
        t.schedule_in_local(this, kLingerTick);
      }
    }

    int tick(int, void *)
    {
      ink_hrtime now = this_ethread()->now();
      std::erase_if(_waiting, [now](Waiting &w) {
        if (all_sent_acknowledged(w.fd) || drain_socket(w.fd)) {
          ::close(w.fd);
          return true;
        }
        int unacked = unacknowledged(w.fd);
        if (unacked < w.unacked) {
          w.unacked     = unacked;
          w.progress_at = now;
        }
        if (now < w.deadline) {
          return false;
        }
        // Time is up with data unacknowledged. A peer that took some of it lately is reading: the
        // kernel delivers the rest after close(). One that took nothing for the last part of the
        // linger (its window filled and stayed full) will not take it later: a plain close() would
        // leave the socket to the kernel in FIN-WAIT-1, holding the unsent data and probing that
        // zero window for minutes, the peer never told.
        if (now - w.progress_at >= kLingerStallToReset) {
          reset_socket(w.fd);
        } else {
          ::close(w.fd);
        }
        return true;
      });
      _scheduled = !_waiting.empty();
      if (_scheduled) {
        this_ethread()->schedule_in_local(this, kLingerTick);
      }
      return EVENT_DONE;
    }

    int size() const { return static_cast<int>(_waiting.size()); }

  private:
    struct Waiting {
      int fd;
      ink_hrtime deadline;
      int unacked;            ///< the least unacknowledged() seen so far
      ink_hrtime progress_at; ///< when it last went down (or the linger began)
    };
    std::vector<Waiting> _waiting;
    bool _scheduled = false;
  };

  int lingerer_key()
  {
    static int key = EThread::register_local_data_key();
    return key;
  }

  Lingerer &lingerer_of(EThread &t)
  {
    auto *l = static_cast<Lingerer *>(t.local_data(lingerer_key()));
    if (l == nullptr) {
      l = new Lingerer();
      t.set_local_data(lingerer_key(), l, [](void *p) { delete static_cast<Lingerer *>(p); });
    }
    return *l;
  }
} // namespace

bool
drain_socket(int fd)
{
  char buf[4096];
  for (int i = 0; i < kDrainReadsPerLook; ++i) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) {
      return true;
    }
    if (n < 0) {
      return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
  }
  return false;
}

void
close_socket_gracefully(EThread &t, int fd, uint64_t id)
{
  // The input first: a socket closed with unread input resets. Then, if the peer may still send
  // and part of our data is unacknowledged, our FIN goes now and the socket waits on the list.
  if (drain_socket(fd) || all_sent_acknowledged(fd)) {
    IOCORE_DEBUG(DebugTag::kSocket, "vc %" PRIu64 ": socket %d closed", id, fd);
    ::close(fd);
    return;
  }
  IOCORE_DEBUG(DebugTag::kSocket, "vc %" PRIu64 ": socket %d half-closed, lingering until acknowledged or the peer's FIN", id, fd);
  ::shutdown(fd, SHUT_WR);
  lingerer_of(t).add(fd, t.now() + kLingerTime, t);
}

void
close_socket_after_timeout(int fd, uint64_t id)
{
  // The peer let a whole timeout pass without taking anything: lingering for it is pointless.
  (void)drain_socket(fd);
  if (all_sent_acknowledged(fd)) {
    IOCORE_DEBUG(DebugTag::kSocket, "vc %" PRIu64 ": socket %d closed after a timeout", id, fd);
    ::close(fd);
    return;
  }
  IOCORE_DEBUG(DebugTag::kSocket, "vc %" PRIu64 ": socket %d reset after a timeout, data unacknowledged", id, fd);
  reset_socket(fd);
}

int
lingering_sockets(EThread &t)
{
  auto *l = static_cast<Lingerer *>(t.local_data(lingerer_key()));
  return l ? l->size() : 0;
}
} // namespace iocore
