// UringPoller: the Poller contract over io_uring, for the io_uring backend. Each registration is a
// multishot poll (edge-triggered, as epoll with EPOLLET); every registration, update and removal of
// a loop pass is queued in the ring and goes to the kernel with the pass's one io_uring_enter, which
// also waits. Calls from a thread other than the ring's owner (a listener registered by the thread
// that called accept(), the old thread of a migrating connection) are queued under a lock and
// applied by the owner at its next wait, which an eventfd wakes.
#include "net/Poller.h"

#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace iocore {
namespace {
  /// user_data of completions that carry nothing (poll removals).
  constexpr uint64_t kIgnoreTag = 0;
  /// user_data of the wake-up eventfd's poll.
  constexpr uint64_t kWakeTag     = ~uint64_t{0};
  constexpr unsigned kRingEntries = 1024;

  uint32_t to_poll_mask(uint32_t interest)
  {
    uint32_t m = 0;
    if (interest & kReadable) {
      m |= POLLIN | POLLRDHUP | POLLPRI;
    }
    if (interest & kWritable) {
      m |= POLLOUT;
    }
    return m;
  }

  uint32_t from_poll_mask(uint32_t m)
  {
    uint32_t r = 0;
    if (m & (POLLIN | POLLPRI)) {
      r |= kReadable;
    }
    if (m & POLLOUT) {
      r |= kWritable;
    }
    if (m & POLLERR) {
      r |= kError;
    }
    if (m & POLLHUP) {
      r |= kHangup;
    }
    if (m & POLLRDHUP) {
      r |= kReadHangup;
    }
    if (m & POLLPRI) {
      r |= kUrgent;
    }
    return r;
  }

  class UringPoller final : public Poller
  {
  public:
    UringPoller() = default;
    ~UringPoller() override
    {
      if (_ring_ok) {
        io_uring_queue_exit(&_ring);
      }
      if (_wake_fd >= 0) {
        ::close(_wake_fd);
      }
    }
    UringPoller(const UringPoller &)            = delete;
    UringPoller &operator=(const UringPoller &) = delete;

    /// Set up the ring; the reason on failure.
    bool init(std::string &why)
    {
      io_uring_params p{};
      p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
      int r   = io_uring_queue_init_params(kRingEntries, &_ring, &p);
      if (r == -EINVAL) {
        p = io_uring_params{}; // a kernel before 6.1: no SINGLE_ISSUER / DEFER_TASKRUN
        r = io_uring_queue_init_params(kRingEntries, &_ring, &p);
      }
      if (r < 0) {
        why = std::string("io_uring_setup: ") + std::strerror(-r);
        return false;
      }
      _ring_ok = true;
      if (!(p.features & IORING_FEAT_EXT_ARG)) {
        why = "io_uring without IORING_FEAT_EXT_ARG (kernel before 5.11)";
        return false;
      }
      _wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (_wake_fd < 0) {
        why = std::string("eventfd: ") + std::strerror(errno);
        return false;
      }
      arm(_wake_fd, POLLIN, kWakeTag);
      return multishot_poll_works(why);
    }

    /// Kernels before 5.13 reject multishot polls (-EINVAL): try the wake-up poll once.
    bool multishot_poll_works(std::string &why)
    {
      uint64_t one = 1;
      (void)::write(_wake_fd, &one, sizeof(one));
      __kernel_timespec ts{};
      ts.tv_sec        = 1;
      io_uring_cqe *cq = nullptr;
      int r            = io_uring_submit_and_wait_timeout(&_ring, &cq, 1, &ts, nullptr);
      if (r < 0 || cq == nullptr) {
        why = std::string("io_uring: no completion for a poll: ") + std::strerror(r < 0 ? -r : ETIME);
        return false;
      }
      bool ok = io_uring_cqe_get_data64(cq) == kWakeTag && cq->res > 0 && (cq->flags & IORING_CQE_F_MORE) != 0;
      int res = cq->res;
      io_uring_cqe_seen(&_ring, cq);
      uint64_t v;
      (void)::read(_wake_fd, &v, sizeof(v));
      if (!ok) {
        why = std::string("io_uring without multishot polls (kernel before 5.13): ") + std::strerror(res < 0 ? -res : EINVAL);
      }
      return ok;
    }

    int add(int fd, uint32_t interest, PollToken token) override
    {
      if (!on_owner_thread()) {
        return defer({Op::kAdd, fd, interest, token});
      }
      catch_up();
      return do_add(fd, interest, token);
    }

    int modify(int fd, uint32_t interest, PollToken token) override
    {
      if (!on_owner_thread()) {
        return defer({Op::kModify, fd, interest, token});
      }
      catch_up();
      return do_modify(fd, interest, token);
    }

    int remove(int fd) override
    {
      if (!on_owner_thread()) {
        return defer({Op::kRemove, fd, 0, nullptr});
      }
      bool removed = apply_deferred();
      int r        = do_remove(fd);
      if (r == 0 || removed) {
        flush_removals(); // the caller closes fd next
      }
      return r;
    }

    int wait(ink_hrtime timeout, std::span<PollEvent> out) override
    {
      apply_deferred();
      int r;
      if (timeout > 0) {
        __kernel_timespec ts{};
        ts.tv_sec        = timeout / HRTIME_SECONDS(1);
        ts.tv_nsec       = timeout % HRTIME_SECONDS(1);
        io_uring_cqe *cq = nullptr;
        r                = io_uring_submit_and_wait_timeout(&_ring, &cq, 1, &ts, nullptr);
        if (r == -ETIME || r == -EINTR) {
          r = 0;
        }
      } else {
        r = io_uring_submit_and_get_events(&_ring);
        if (r == -EINTR) {
          r = 0;
        }
      }
      if (r < 0 && r != -EBUSY) {
        return r;
      }
      int n = 0;
      io_uring_cqe *cqe;
      unsigned head;
      unsigned seen = 0;
      io_uring_for_each_cqe(&_ring, head, cqe)
      {
        if (n == static_cast<int>(out.size())) {
          break; // the rest waits for the next pass
        }
        ++seen;
        harvest(*cqe, out, n);
      }
      io_uring_cq_advance(&_ring, seen);
      return n;
    }

  private:
    int do_add(int fd, uint32_t interest, PollToken token)
    {
      if (_by_fd.count(fd) != 0) {
        return -EEXIST;
      }
      if (fd < 0) {
        return -EBADF;
      }
      uint32_t slot;
      if (!_free.empty()) {
        slot = _free.back();
        _free.pop_back();
      } else {
        slot = static_cast<uint32_t>(_slots.size());
        _slots.push_back({});
      }
      Slot &s    = _slots[slot];
      s.fd       = fd;
      s.token    = token;
      s.mask     = to_poll_mask(interest);
      s.in_use   = true;
      _by_fd[fd] = slot;
      arm(fd, s.mask, tag_of(slot));
      return 0;
    }

    int do_remove(int fd)
    {
      auto it = _by_fd.find(fd);
      if (it == _by_fd.end()) {
        return -ENOENT;
      }
      uint32_t slot = it->second;
      _by_fd.erase(it);
      Slot &s = _slots[slot];
      // The generation moves on first: whatever the old poll still reports is ignored.
      io_uring_sqe *sqe = next_sqe();
      io_uring_prep_cancel64(sqe, tag_of(slot), 0); // POLL_REMOVE fails with -EALREADY while a wake-up is pending
      io_uring_sqe_set_data64(sqe, kIgnoreTag);
      s.in_use = false;
      ++s.gen;
      _free.push_back(slot);
      return 0;
    }

    struct Slot {
      int fd          = -1;
      PollToken token = nullptr;
      uint32_t mask   = 0;
      uint32_t gen    = 1;
      bool in_use     = false;
    };
    struct Op {
      enum Kind { kAdd, kModify, kRemove } kind;
      int fd;
      uint32_t interest;
      PollToken token;
    };

    uint64_t tag_of(uint32_t slot) const { return (uint64_t{slot} << 32) | _slots[slot].gen; }

    bool on_owner_thread() const { return std::this_thread::get_id() == _owner; }

    int defer(const Op &op)
    {
      {
        std::lock_guard<std::mutex> guard(_deferred_mutex);
        _deferred.push_back(op);
        _has_deferred.store(true, std::memory_order_release);
      }
      uint64_t one = 1;
      (void)::write(_wake_fd, &one, sizeof(one));
      return 0;
    }

    /// Send queued removals to the kernel and let them complete (DEFER_TASKRUN runs them only in
    /// io_uring_enter): an armed poll holds a reference to its socket, so until then a close() of
    /// it sends no FIN/RST.
    void flush_removals() { (void)io_uring_submit_and_get_events(&_ring); }

    /// Before an owner-thread call: what other threads asked for earlier comes first.
    void catch_up()
    {
      if (apply_deferred()) {
        flush_removals();
      }
    }

    int do_modify(int fd, uint32_t interest, PollToken token)
    {
      int r = do_remove(fd);
      return r == 0 ? do_add(fd, interest, token) : r;
    }

    /// True if a removal was among the operations applied.
    bool apply_deferred()
    {
      bool removed = false;
      if (!_has_deferred.load(std::memory_order_acquire)) {
        return false; // the common case: no lock taken
      }
      std::vector<Op> ops;
      {
        std::lock_guard<std::mutex> guard(_deferred_mutex);
        ops.swap(_deferred);
        _has_deferred.store(false, std::memory_order_relaxed);
      }
      for (const Op &op : ops) {
        switch (op.kind) {
        case Op::kAdd:
          (void)do_add(op.fd, op.interest, op.token);
          break;
        case Op::kModify:
          (void)do_modify(op.fd, op.interest, op.token);
          break;
        case Op::kRemove:
          removed |= do_remove(op.fd) == 0;
          break;
        }
      }
      return removed;
    }

    io_uring_sqe *next_sqe()
    {
      io_uring_sqe *sqe = io_uring_get_sqe(&_ring);
      while (sqe == nullptr) { // full: hand the queued entries to the kernel, then there is room
        (void)io_uring_submit(&_ring);
        sqe = io_uring_get_sqe(&_ring);
      }
      return sqe;
    }

    void arm(int fd, uint32_t mask, uint64_t tag)
    {
      io_uring_sqe *sqe = next_sqe();
      io_uring_prep_poll_multishot(sqe, fd, mask);
      io_uring_sqe_set_data64(sqe, tag);
    }

    void harvest(const io_uring_cqe &cqe, std::span<PollEvent> out, int &n)
    {
      uint64_t tag = io_uring_cqe_get_data64(&cqe);
      bool more    = (cqe.flags & IORING_CQE_F_MORE) != 0;
      if (tag == kIgnoreTag) {
        return;
      }
      if (tag == kWakeTag) {
        uint64_t v;
        (void)::read(_wake_fd, &v, sizeof(v));
        if (!more && (cqe.res >= 0 || cqe.res == -ECANCELED)) {
          arm(_wake_fd, POLLIN, kWakeTag); // a poll that failed is not re-armed: it would fail again at once
        }
        return;
      }
      auto slot = static_cast<uint32_t>(tag >> 32);
      auto gen  = static_cast<uint32_t>(tag);
      if (slot >= _slots.size() || !_slots[slot].in_use || _slots[slot].gen != gen) {
        return; // a registration removed since: its token may be gone
      }
      Slot &s = _slots[slot];
      if (cqe.res < 0) {
        if (cqe.res != -ECANCELED) {
          out[n++] = PollEvent{s.token, kError | kHangup}; // the poll itself failed: report, do not re-arm
        } else if (!more) {
          arm(s.fd, s.mask, tag);
        }
        return;
      }
      out[n++] = PollEvent{s.token, from_poll_mask(static_cast<uint32_t>(cqe.res))};
      if (!more) {
        arm(s.fd, s.mask, tag); // the multishot ended (an overflow, say): keep the registration alive
      }
    }

    io_uring _ring{};
    bool _ring_ok          = false;
    int _wake_fd           = -1;
    std::thread::id _owner = std::this_thread::get_id();
    std::vector<Slot> _slots;
    std::vector<uint32_t> _free;
    std::unordered_map<int, uint32_t> _by_fd;
    std::mutex _deferred_mutex;
    std::vector<Op> _deferred;
    std::atomic<bool> _has_deferred{false};
  };
} // namespace

std::unique_ptr<Poller>
make_uring_poller(std::string *why_not)
{
  auto p = std::make_unique<UringPoller>();
  std::string why;
  if (!p->init(why)) {
    if (why_not != nullptr) {
      *why_not = why;
    }
    return nullptr;
  }
  return p;
}
} // namespace iocore
