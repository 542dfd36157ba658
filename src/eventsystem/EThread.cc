// The event loop. Queues, in the order one iteration visits them:
//   external  - lock-free stack that any thread pushes onto (reversed to FIFO when taken)
//   local     - FIFO of immediate events of this thread
//   heap      - binary min-heap of timed events by (timeout_at, seq); a timer never fires early
//   negative  - events that run once per iteration (schedule_every with a negative period)
// then the tail handler waits until the next deadline or a wake-up through the eventfd.
#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EventProcessor.h"

#include "eventsystem/ClassAllocator.h"
#include "eventsystem/MemoryReclaimer.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace iocore {
namespace {
  thread_local EThread *t_current = nullptr;
  std::atomic<int> g_next_local_key{0};
  constexpr int kMaxLocalDataKeys = 16;

  ClassAllocator<Event> &event_allocator()
  {
    static ClassAllocator<Event> a;
    return a;
  }

  /// Waits on the thread's eventfd only: enough for threads that do no network IO.
  class DefaultTailHandler final : public TailHandler
  {
  public:
    explicit DefaultTailHandler(EThread &t) : _t(t) {}
    void wait_for_activity(ink_hrtime timeout) override
    {
      pollfd p{_t.signal_fd(), POLLIN, 0};
      // Round up so that a wait for a timer never returns just before it is due (a busy spin).
      int ms = timeout <= 0 ? 0 : static_cast<int>((timeout + HRTIME_MSECONDS(1) - 1) / HRTIME_MSECONDS(1));
      if (::poll(&p, 1, ms) > 0) {
        _t.drain_signal();
      }
    }

  private:
    EThread &_t;
  };

  [[noreturn]] void fatal(const char *what)
  {
    std::fprintf(stderr, "iocore: %s\n", what);
    std::abort();
  }
} // namespace

EThread *
this_ethread()
{
  return t_current;
}

EThread::EThread(ThreadType type, int aid, Clock *c)
    : mutex(new_ProxyMutex()), tt(type), id(aid), _clock(c ? c : &steady_clock()), _local_data(kMaxLocalDataKeys)
{
  _evfd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (_evfd < 0) {
    fatal("eventfd() failed: cannot create an event thread");
  }
  _default_tail = std::make_unique<DefaultTailHandler>(*this);
  _tail         = _default_tail.get();
  _loop_now     = _clock->now();
}

EThread::~EThread()
{
  for (auto &ld : _local_data) {
    if (ld.data && ld.destroy) {
      ld.destroy(ld.data);
    }
    ld = {};
  }
  for (Event *e = _external_head.exchange(nullptr); e;) {
    Event *n = e->_q.next;
    free_event(e);
    e = n;
  }
  while (Event *e = _local_head) {
    _local_head = e->_q.next;
    free_event(e);
  }
  for (Event *e : _heap) {
    free_event(e);
  }
  for (Event *e : _negative) {
    free_event(e);
  }
  delete start_event; // allocated by EventProcessor::spawn_thread
  ::close(_evfd);
}

ink_hrtime
EThread::get_hrtime()
{
  return t_current ? t_current->_loop_now : ink_get_hrtime();
}

ink_hrtime
EThread::get_hrtime_updated()
{
  if (!t_current) {
    return ink_get_hrtime();
  }
  t_current->_loop_now = t_current->_clock->now();
  return t_current->_loop_now;
}

void
EThread::set_current()
{
  t_current = this;
  _loop_now = _clock->now();
}

void
EThread::clear_current()
{
  t_current = nullptr;
}

void
EThread::assert_current() const
{
  if (t_current != this) {
    fatal("a *_local schedule or Event re-schedule was called from a thread that does not own the event");
  }
}

int
EThread::register_local_data_key()
{
  int k = g_next_local_key.fetch_add(1);
  if (k >= kMaxLocalDataKeys) {
    fatal("too many EThread local data keys");
  }
  return k;
}

void
EThread::set_local_data(int key, void *data, void (*destroy)(void *))
{
  _local_data.at(key) = {data, destroy};
}

void *
EThread::local_data(int key) const
{
  return _local_data.at(key).data;
}

void
EThread::set_tail_handler(TailHandler *h)
{
  _tail = h ? h : _default_tail.get();
}

void
EThread::signal_activity()
{
  std::uint64_t one = 1;
  // EAGAIN means the counter is saturated: the thread is already going to wake.
  [[maybe_unused]] ssize_t r = ::write(_evfd, &one, sizeof(one));
}

void
EThread::drain_signal()
{
  std::uint64_t v;
  while (::read(_evfd, &v, sizeof(v)) > 0) {
  }
}

void
EThread::stop()
{
  _stop.store(true, std::memory_order_release);
  signal_activity();
}

// --- scheduling ------------------------------------------------------------------------------------

Event *
EThread::make_event(Continuation *c, int callback_event, void *cookie)
{
  Event *e = event_allocator().alloc();
  if (!c->mutex) {
    // As in ATS: a continuation without a lock runs under the thread's lock.
    c->mutex = mutex;
  }
  *static_cast<Action *>(e) = c;
  e->ethread                = this;
  e->callback_event         = callback_event;
  e->cookie                 = cookie;
  return e;
}

Event *
EThread::schedule(Event *e)
{
  if (tt == DEDICATED) {
    // A dedicated thread runs only its start event; work scheduled "on" it goes to the default group.
    EThread *other = eventProcessor.assign_thread(ET_CALL);
    if (!other) {
      fatal("event scheduled on a DEDICATED thread with no ET_CALL thread to run it");
    }
    e->ethread = other;
    return other->schedule(e);
  }
  e->ethread = this;
  if (t_current == this) {
    enqueue_local(e);
    return e;
  }
  e->_q.in_external_queue = true;
  Event *head             = _external_head.load(std::memory_order_relaxed);
  do {
    e->_q.next = head;
  } while (!_external_head.compare_exchange_weak(head, e, std::memory_order_release, std::memory_order_relaxed));
  if (head == nullptr) {
    // The queue was empty, so the loop may be asleep; later pushers rely on this wake-up.
    signal_activity();
  }
  return e;
}

Event *
EThread::schedule_imm(Continuation *c, int callback_event, void *cookie)
{
  Event *e      = make_event(c, callback_event, cookie);
  e->timeout_at = 0;
  return schedule(e);
}

Event *
EThread::schedule_at(Continuation *c, ink_hrtime at, int callback_event, void *cookie)
{
  Event *e      = make_event(c, callback_event, cookie);
  e->timeout_at = std::max<ink_hrtime>(at, 1);
  return schedule(e);
}

Event *
EThread::schedule_in(Continuation *c, ink_hrtime in, int callback_event, void *cookie)
{
  return schedule_at(c, now() + std::max<ink_hrtime>(in, 0), callback_event, cookie);
}

Event *
EThread::schedule_every(Continuation *c, ink_hrtime p, int callback_event, void *cookie)
{
  Event *e      = make_event(c, callback_event, cookie);
  e->period     = p;
  e->timeout_at = p < 0 ? p : now() + p;
  return schedule(e);
}

Event *
EThread::schedule_imm_local(Continuation *c, int callback_event, void *cookie)
{
  assert_current();
  return schedule_imm(c, callback_event, cookie);
}

Event *
EThread::schedule_at_local(Continuation *c, ink_hrtime at, int callback_event, void *cookie)
{
  assert_current();
  return schedule_at(c, at, callback_event, cookie);
}

Event *
EThread::schedule_in_local(Continuation *c, ink_hrtime in, int callback_event, void *cookie)
{
  assert_current();
  return schedule_in(c, in, callback_event, cookie);
}

Event *
EThread::schedule_every_local(Continuation *c, ink_hrtime p, int callback_event, void *cookie)
{
  assert_current();
  return schedule_every(c, p, callback_event, cookie);
}

void
EThread::enqueue_local(Event *e)
{
  // e->ethread is already this thread: set by schedule() before the event became visible to others
  // (writing it again here would race with Event::cancel() reading it on another thread).
  if (e->timeout_at == 0) {
    e->_q.next           = nullptr;
    e->_q.in_local_queue = true;
    if (_local_tail) {
      _local_tail->_q.next = e;
    } else {
      _local_head = e;
    }
    _local_tail = e;
  } else if (e->timeout_at < 0) {
    e->_q.in_negative_queue = true;
    _negative.push_back(e);
  } else {
    heap_push(e);
  }
}

// --- the timer heap --------------------------------------------------------------------------------

bool
EThread::is_earlier(const Event *a, const Event *b)
{
  return a->timeout_at != b->timeout_at ? a->timeout_at < b->timeout_at : a->_q.seq < b->_q.seq;
}

void
EThread::heap_push(Event *e)
{
  e->_q.seq        = _seq++;
  e->_q.heap_index = _heap.size();
  _heap.push_back(e);
  heap_sift_up(e->_q.heap_index);
}

void
EThread::heap_sift_up(std::size_t i)
{
  Event *e = _heap[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!is_earlier(e, _heap[parent])) {
      break;
    }
    _heap[i]                = _heap[parent];
    _heap[i]->_q.heap_index = i;
    i                       = parent;
  }
  _heap[i]         = e;
  e->_q.heap_index = i;
}

void
EThread::heap_sift_down(std::size_t i)
{
  Event *e            = _heap[i];
  const std::size_t n = _heap.size();
  for (;;) {
    std::size_t c = 2 * i + 1;
    if (c >= n) {
      break;
    }
    if (c + 1 < n && is_earlier(_heap[c + 1], _heap[c])) {
      ++c;
    }
    if (!is_earlier(_heap[c], e)) {
      break;
    }
    _heap[i]                = _heap[c];
    _heap[i]->_q.heap_index = i;
    i                       = c;
  }
  _heap[i]         = e;
  e->_q.heap_index = i;
}

void
EThread::heap_remove(Event *e)
{
  std::size_t i    = e->_q.heap_index;
  Event *last      = _heap.back();
  e->_q.heap_index = SIZE_MAX;
  _heap.pop_back();
  if (last != e) {
    _heap[i]            = last;
    last->_q.heap_index = i;
    heap_sift_down(i);
    heap_sift_up(last->_q.heap_index);
  }
}

// --- the loop --------------------------------------------------------------------------------------

void
EThread::free_event(Event *e)
{
  event_allocator().free(e);
}

void
EThread::process_event(Event *e, int code)
{
  if (e->cancelled.load(std::memory_order_acquire)) {
    free_event(e);
    return;
  }
  MutexTryLock lock(e->mutex, this);
  if (!lock.is_locked()) {
    // Never drop an event: try again shortly (ATS: DELAY_FOR_RETRY).
    e->timeout_at = _clock->now() + kLockRetryDelay;
    heap_push(e);
    return;
  }
  // Checked again under the lock: a cancel made under this mutex is now visible.
  if (e->cancelled.load(std::memory_order_acquire)) {
    lock.release();
    free_event(e);
    return;
  }
  Continuation *c = e->continuation;
  if (c->mutex.get() != e->mutex.get()) {
    // The continuation changed its lock since the event was scheduled: run under the new one.
    e->mutex = c->mutex;
    lock.release();
    e->timeout_at = 0;
    enqueue_local(e);
    return;
  }
  _dispatching = e;
  c->handleEvent(code, e);
  _dispatching = nullptr;
  if (e->is_queued()) {
    return; // the handler re-scheduled it
  }
  lock.release();
  if (e->cancelled.load(std::memory_order_acquire) || e->period == 0) {
    free_event(e);
    return;
  }
  e->timeout_at = e->period < 0 ? e->period : _clock->now() + e->period;
  enqueue_local(e);
}

void
EThread::process_external_queue()
{
  Event *list = _external_head.exchange(nullptr, std::memory_order_acquire);
  Event *fifo = nullptr;
  while (list) { // reverse the stack into arrival order
    Event *n      = list->_q.next;
    list->_q.next = fifo;
    fifo          = list;
    list          = n;
  }
  while (fifo) {
    Event *e                = fifo;
    fifo                    = e->_q.next;
    e->_q.next              = nullptr;
    e->_q.in_external_queue = false;
    if (e->cancelled.load(std::memory_order_acquire)) {
      free_event(e);
    } else {
      enqueue_local(e);
    }
  }
}

void
EThread::run_immediate()
{
  // Only what is queued now: events scheduled by these handlers wait for the next iteration, so a
  // handler that keeps re-scheduling itself cannot starve the network.
  Event *e    = _local_head;
  _local_head = _local_tail = nullptr;
  while (e) {
    Event *n             = e->_q.next;
    e->_q.next           = nullptr;
    e->_q.in_local_queue = false;
    if (e->timeout_at != 0) {
      enqueue_local(e); // re-scheduled to a later time while it waited
    } else {
      process_event(e, e->callback_event);
    }
    e = n;
  }
}

void
EThread::run_due_timers()
{
  _loop_now                 = _clock->now();
  const std::uint64_t bound = _seq;
  while (!_heap.empty()) {
    Event *e = _heap.front();
    if (e->timeout_at > _loop_now || e->_q.seq >= bound) {
      break;
    }
    heap_remove(e);
    process_event(e, e->callback_event);
  }
}

void
EThread::run_negative()
{
  if (_negative.empty()) {
    return;
  }
  std::vector<Event *> batch;
  batch.swap(_negative);
  for (Event *e : batch) {
    e->_q.in_negative_queue = false;
  }
  for (Event *e : batch) {
    process_event(e, e->callback_event);
  }
}

ink_hrtime
EThread::compute_wait(ink_hrtime max_wait) const
{
  if (_local_head || _external_head.load(std::memory_order_relaxed) || _stop.load(std::memory_order_relaxed)) {
    return 0;
  }
  if (!_heap.empty()) {
    ink_hrtime until = _heap.front()->timeout_at - _clock->now();
    return std::clamp<ink_hrtime>(until, 0, max_wait);
  }
  return max_wait;
}

void
EThread::run_one_iteration(ink_hrtime max_wait)
{
  _loop_now = _clock->now();
  process_external_queue();
  run_immediate();
  run_due_timers();
  run_negative();
  // Once per MemoryReclaimer::kInterval: free what this thread's free lists did not need, so a
  // burst's objects do not stay cached (and resident) after it.
  MemoryReclaimer::run_if_due(_loop_now);
  _tail->wait_for_activity(compute_wait(max_wait));
  _loop_now = _clock->now();
}

void
EThread::execute()
{
  while (!_stop.load(std::memory_order_acquire)) {
    run_one_iteration(kMaxHeartbeat);
  }
}

std::size_t
EThread::pending_events() const
{
  std::size_t n = _heap.size() + _negative.size();
  for (Event *e = _local_head; e; e = e->_q.next) {
    ++n;
  }
  for (Event *e = _external_head.load(std::memory_order_acquire); e; e = e->_q.next) {
    ++n;
  }
  return n;
}

// --- Event ------------------------------------------------------------------------------------------

namespace {
  void reschedule(Event *e)
  {
    EThread *t = e->ethread;
    if (t == nullptr || this_ethread() != t) {
      fatal("Event::schedule_* must be called on the event's own thread");
    }
    e->mutex = e->continuation->mutex;
  }
} // namespace

void
Event::schedule_imm(int callback_event)
{
  reschedule(this);
  this->callback_event = callback_event;
  period               = 0;
  ethread->requeue(this, 0);
}

void
Event::schedule_at(ink_hrtime at, int callback_event)
{
  reschedule(this);
  this->callback_event = callback_event;
  period               = 0;
  ethread->requeue(this, std::max<ink_hrtime>(at, 1));
}

void
Event::schedule_in(ink_hrtime in, int callback_event)
{
  reschedule(this);
  this->callback_event = callback_event;
  period               = 0;
  ethread->requeue(this, std::max<ink_hrtime>(ethread->now() + std::max<ink_hrtime>(in, 0), 1));
}

void
Event::schedule_every(ink_hrtime period, int callback_event)
{
  reschedule(this);
  this->callback_event = callback_event;
  this->period         = period;
  ethread->requeue(this, period < 0 ? period : ethread->now() + period);
}

void
Event::cancel(Continuation *c)
{
  // On the owning thread a waiting timer can be dropped at once, so cancelled timers do not pile up
  // in the heap until their deadline. Elsewhere (or while queued otherwise) the loop frees it later.
  // Decided before the flag is published: once it is, the owner may free this event at any moment.
  EThread *owner = this_ethread();
  bool drop_now  = owner != nullptr && owner == ethread && _q.heap_index != SIZE_MAX && !owner->is_dispatching(this);
  Action::cancel(c);
  if (drop_now) {
    owner->drop_cancelled_timer(this);
  }
}

void
EThread::requeue(Event *e, ink_hrtime at)
{
  if (e->_q.heap_index != SIZE_MAX) {
    heap_remove(e);
  }
  if (e->_q.in_negative_queue) {
    _negative.erase(std::find(_negative.begin(), _negative.end(), e));
    e->_q.in_negative_queue = false;
  }
  e->timeout_at = at;
  if (e->_q.in_external_queue || e->_q.in_local_queue) {
    return; // routed by its new timeout_at when the loop reaches it
  }
  enqueue_local(e);
}

void
EThread::drop_cancelled_timer(Event *e)
{
  heap_remove(e);
  free_event(e);
}
} // namespace iocore
