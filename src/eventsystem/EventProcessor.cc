// EventProcessor: creates the OS threads that run EThreads, assigns work to them round-robin, and
// takes them all down again in shutdown().
#include "iocore/eventsystem/EventProcessor.h"

#include "iocore/eventsystem/Continuation.h"

#include "eventsystem/DebugLog.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>

namespace iocore {
EventProcessor eventProcessor;

struct EventProcessor::OsThread {
  pthread_t handle{};
  bool joinable = false;
};

namespace {
  void set_os_thread_name(const std::string &name)
  {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%s", name.c_str());
    pthread_setname_np(pthread_self(), buf);
  }

  void *run_regular(void *arg)
  {
    EThread *t = static_cast<EThread *>(arg);
    set_os_thread_name(t->name);
    t->set_current();
    t->mutex->acquire(t); // held for the thread's whole life (ATS: THREAD_MUTEX_THREAD_HOLDING)
    IOCORE_DEBUG(DebugTag::kEvent, "event thread %s started", t->name.c_str());
    t->execute();
    IOCORE_DEBUG(DebugTag::kEvent, "event thread %s stopped", t->name.c_str());
    t->mutex->release();
    EThread::clear_current();
    return nullptr;
  }

  void *run_dedicated(void *arg)
  {
    EThread *t = static_cast<EThread *>(arg);
    set_os_thread_name(t->name);
    t->set_current();
    IOCORE_DEBUG(DebugTag::kEvent, "dedicated thread %s started", t->name.c_str());
    Event *e = t->start_event;
    {
      MutexLock lock(e->mutex, t);
      e->continuation->handleEvent(EVENT_IMMEDIATE, e);
    }
    EThread::clear_current();
    return nullptr;
  }

  bool start_os_thread(pthread_t &h, void *(*fn)(void *), void *arg, std::size_t stacksize)
  {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stacksize > 0) {
      pthread_attr_setstacksize(&attr, std::max<std::size_t>(stacksize, PTHREAD_STACK_MIN));
    }
    int r = pthread_create(&h, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (r != 0) {
      std::fprintf(stderr, "iocore: cannot start an event thread: %s\n", std::strerror(r));
    }
    return r == 0;
  }

  /// Runs a function once on the thread it is scheduled on, then counts down a latch.
  class RunOnThread final : public Continuation
  {
  public:
    RunOnThread(const std::function<void(EThread *)> &fn, std::latch &done) : Continuation(new_ProxyMutex()), _fn(fn), _done(done)
    {
      set_handler(&RunOnThread::run);
    }
    int run(int, void *data)
    {
      _fn(static_cast<Event *>(data)->ethread);
      _done.count_down();
      return EVENT_DONE;
    }

  private:
    const std::function<void(EThread *)> &_fn;
    std::latch &_done;
  };
} // namespace

EventProcessor::EventProcessor()
{
  // Group 0 (ET_CALL / ET_NET) is reserved for start().
  _n_groups.store(1, std::memory_order_release);
}

EventProcessor::~EventProcessor()
{
  if (is_started()) {
    shutdown();
  }
}

EventType
EventProcessor::add_group(const char *gname, int n, std::size_t stacksize)
{
  // Called with _mutex held.
  int et = 0;
  if (std::strcmp(gname, "ET_NET") != 0) {
    et = _n_groups.load(std::memory_order_relaxed);
    if (et >= kMaxEventTypes) {
      std::fprintf(stderr, "iocore: too many event thread groups (max %d)\n", kMaxEventTypes);
      return -1;
    }
  }
  Group &g = _groups[et];
  g.name   = gname;
  g.next.store(0);
  for (int i = 0; i < n; ++i) {
    auto t  = std::make_unique<EThread>(REGULAR, _next_thread_id++);
    t->name = (et == 0 ? std::string("[ET_NET ") : "[" + g.name + " ") + std::to_string(i) + "]";
    g.threads.push_back(std::move(t));
  }
  for (auto &t : g.threads) {
    auto os = std::make_unique<OsThread>();
    if (!start_os_thread(os->handle, run_regular, t.get(), stacksize)) {
      std::abort();
    }
    os->joinable = true;
    _os_threads.push_back(std::move(os));
  }
  if (et != 0) {
    _n_groups.store(et + 1, std::memory_order_release);
  }
  return et;
}

int
EventProcessor::start(int n_net_threads, std::size_t stacksize)
{
  std::lock_guard<std::mutex> guard(_mutex);
  if (is_started() || n_net_threads < 1) {
    return -1;
  }
  add_group("ET_NET", n_net_threads, stacksize);
  _started.store(true, std::memory_order_release);
  return 0;
}

EventType
EventProcessor::spawn_event_threads(const char *gname, int n_threads, std::size_t stacksize)
{
  std::lock_guard<std::mutex> guard(_mutex);
  if (n_threads < 1 || gname == nullptr || std::strcmp(gname, "ET_NET") == 0) {
    return -1;
  }
  return add_group(gname, n_threads, stacksize);
}

Event *
EventProcessor::spawn_thread(Continuation *c, const char *tname)
{
  std::lock_guard<std::mutex> guard(_mutex);
  auto t  = std::make_unique<EThread>(DEDICATED, _next_thread_id++);
  t->name = tname ? tname : "[DEDICATED]";
  auto *e = new Event;
  if (!c->mutex) {
    c->mutex = new_ProxyMutex();
  }
  *static_cast<Action *>(e) = c;
  e->ethread                = t.get();
  e->callback_event         = EVENT_IMMEDIATE;
  t->start_event            = e;
  auto os                   = std::make_unique<OsThread>();
  if (!start_os_thread(os->handle, run_dedicated, t.get(), 0)) {
    t->start_event = nullptr;
    delete e;
    return nullptr;
  }
  os->joinable = true;
  _os_threads.push_back(std::move(os));
  _dedicated.push_back(std::move(t));
  return e;
}

EThread *
EventProcessor::assign_thread(EventType et)
{
  if (et < 0 || et >= _n_groups.load(std::memory_order_acquire)) {
    return nullptr;
  }
  Group &g = _groups[et];
  if (g.threads.empty()) {
    return nullptr;
  }
  unsigned i = g.next.fetch_add(1, std::memory_order_relaxed);
  return g.threads[i % g.threads.size()].get();
}

int
EventProcessor::n_threads_for_type(EventType et) const
{
  if (et < 0 || et >= _n_groups.load(std::memory_order_acquire)) {
    return 0;
  }
  return static_cast<int>(_groups[et].threads.size());
}

EThread *
EventProcessor::thread(EventType et, int i) const
{
  if (i < 0 || i >= n_threads_for_type(et)) {
    return nullptr;
  }
  return _groups[et].threads[i].get();
}

Event *
EventProcessor::schedule_on(EventType et, Continuation *c, ink_hrtime at, ink_hrtime period, int callback_event, void *cookie)
{
  // Prefer the calling thread when it belongs to the group (no cross-thread hand-off), as ATS does.
  EThread *t = this_ethread();
  bool local = false;
  if (t && t->tt == REGULAR) {
    for (int i = 0; i < n_threads_for_type(et) && !local; ++i) {
      local = _groups[et].threads[i].get() == t;
    }
  }
  if (!local) {
    t = assign_thread(et);
  }
  if (!t) {
    std::fprintf(stderr, "iocore: event scheduled on group %d, which has no threads (eventProcessor.start()?)\n", et);
    std::abort();
  }
  if (period != 0) {
    return t->schedule_every(c, period, callback_event, cookie);
  }
  if (at == 0) {
    return t->schedule_imm(c, callback_event, cookie);
  }
  return t->schedule_at(c, at, callback_event, cookie);
}

Event *
EventProcessor::schedule_imm(Continuation *c, EventType et, int callback_event, void *cookie)
{
  return schedule_on(et, c, 0, 0, callback_event, cookie);
}

Event *
EventProcessor::schedule_at(Continuation *c, ink_hrtime at, EventType et, int callback_event, void *cookie)
{
  return schedule_on(et, c, std::max<ink_hrtime>(at, 1), 0, callback_event, cookie);
}

Event *
EventProcessor::schedule_in(Continuation *c, ink_hrtime in, EventType et, int callback_event, void *cookie)
{
  return schedule_on(et, c, std::max<ink_hrtime>(ink_get_hrtime() + std::max<ink_hrtime>(in, 0), 1), 0, callback_event, cookie);
}

Event *
EventProcessor::schedule_every(Continuation *c, ink_hrtime period, EventType et, int callback_event, void *cookie)
{
  return schedule_on(et, c, 0, period == 0 ? 1 : period, callback_event, cookie);
}

void
EventProcessor::run_on_each_thread(EventType et, const std::function<void(EThread *)> &fn)
{
  int n = n_threads_for_type(et);
  if (n == 0) {
    return;
  }
  std::latch done(n);
  std::vector<std::unique_ptr<RunOnThread>> conts;
  for (int i = 0; i < n; ++i) {
    conts.push_back(std::make_unique<RunOnThread>(fn, done));
    thread(et, i)->schedule_imm(conts.back().get());
  }
  done.wait();
  // The latch is counted down inside the handler: wait until every handler has returned (its lock
  // released) before the continuations are destroyed.
  for (auto &c : conts) {
    MutexLock lock(c->mutex, nullptr);
  }
}

void
EventProcessor::add_shutdown_hook(std::function<void()> hook)
{
  std::lock_guard<std::mutex> guard(_mutex);
  _shutdown_hooks.push_back(std::move(hook));
}

void
EventProcessor::shutdown()
{
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard<std::mutex> guard(_mutex);
    hooks.swap(_shutdown_hooks);
  }
  for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) {
    (*it)();
  }
  std::lock_guard<std::mutex> guard(_mutex);
  int n = _n_groups.load(std::memory_order_acquire);
  for (int g = 0; g < n; ++g) {
    for (auto &t : _groups[g].threads) {
      t->stop();
    }
  }
  for (auto &os : _os_threads) {
    if (os->joinable) {
      pthread_join(os->handle, nullptr);
      os->joinable = false;
    }
  }
  _os_threads.clear();
  for (int g = 0; g < n; ++g) {
    _groups[g].threads.clear();
    _groups[g].name.clear();
  }
  _dedicated.clear();
  _n_groups.store(1, std::memory_order_release);
  _next_thread_id = 0;
  _started.store(false, std::memory_order_release);
}
} // namespace iocore
