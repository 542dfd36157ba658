// UnixNetProcessor: start-up of the net threads, accept() and connect_re().
#include "net/UnixNetProcessor.h"

#include "iocore/eventsystem/EventProcessor.h"

#include "net/IoBackend.h"
#include "net/NetAccept.h"
#include "net/NetHandler.h"
#include "net/NetStats.h"
#include "net/SocketOptions.h"
#include "net/UnixNetVConnection.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

namespace iocore {
namespace {
  UnixNetProcessor g_unix_net_processor;
  std::atomic<bool> g_net_started{false};

  int bound_port(int fd)
  {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (::getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) != 0) {
      return -1;
    }
    IpEndpoint ep;
    ep.assign(reinterpret_cast<sockaddr *>(&ss));
    return ep.port();
  }

  /// A port shared through SO_REUSEPORT would silently be shared with any other listener of the same
  /// user that also set it: check first that nobody listens there.
  int check_port_free(const IpEndpoint &addr)
  {
    int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return -errno;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr.family() == AF_INET6) {
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    int r = ::bind(fd, &addr.sa, addr.size()) == 0 ? 0 : -errno;
    ::close(fd);
    return r;
  }

  UnixNetVConnection *alloc_plain_vc(const AcceptGroup &)
  {
    return UnixNetVConnection::alloc();
  }
} // namespace

NetProcessor &netProcessor = g_unix_net_processor;

bool
net_started()
{
  return g_net_started.load(std::memory_order_acquire);
}

Action *
NetProcessor::accept(Continuation *cont)
{
  return accept(cont, AcceptOptions{});
}

int
NetProcessor::start(int)
{
  return -1;
}

int
NetProcessor::accept_port(Action *accept_action)
{
  if (accept_action == nullptr || accept_action == ACTION_RESULT_DONE || accept_action == ACTION_IO_ERROR) {
    return -1;
  }
  auto *group = dynamic_cast<AcceptGroup *>(accept_action);
  return group ? group->port : -1;
}

std::mutex UnixNetProcessor::_groups_mutex;
std::vector<std::unique_ptr<AcceptGroup>> UnixNetProcessor::_groups;

UnixNetProcessor::UnixNetProcessor()  = default;
UnixNetProcessor::~UnixNetProcessor() = default;

UnixNetVConnection *
UnixNetProcessor::allocate_vc()
{
  return UnixNetVConnection::alloc();
}

int
UnixNetProcessor::start(int)
{
  if (!eventProcessor.is_started()) {
    std::fprintf(stderr, "iocore: netProcessor.start() needs eventProcessor.start() first\n");
    return -1;
  }
  if (get_NetHandler(eventProcessor.thread(ET_NET, 0)) != nullptr) {
    return 0; // already installed on these threads
  }
  if (std::string error; !choose_io_backend(error)) {
    std::fprintf(stderr, "iocore: netProcessor.start(): %s\n", error.c_str());
    return -1;
  }
  // Writes to a peer that reset become EPIPE / ECONNRESET events, never a signal.
  ::signal(SIGPIPE, SIG_IGN);
  {
    // Listeners of an earlier start()/shutdown() cycle: their threads are gone.
    std::lock_guard<std::mutex> guard(_groups_mutex);
    _groups.clear();
  }
  eventProcessor.run_on_each_thread(ET_NET, [](EThread *t) { initialize_thread_for_net(t); });
  eventProcessor.add_shutdown_hook([]() {
    std::lock_guard<std::mutex> guard(_groups_mutex);
    for (auto &g : _groups) {
      g->cancel();
    }
    g_net_started.store(false, std::memory_order_release);
  });
  g_net_started.store(true, std::memory_order_release);
  return 0;
}

Action *
UnixNetProcessor::accept(Continuation *cont, const AcceptOptions &opt)
{
  return accept_internal(cont, opt, alloc_plain_vc);
}

Action *
UnixNetProcessor::accept_internal(Continuation *cont, const AcceptOptions &opt, UnixNetVConnection *(*factory)(const AcceptGroup &))
{
  if (!net_started()) {
    std::fprintf(stderr, "iocore: accept() before netProcessor.start()\n");
    errno = EINVAL;
    return nullptr;
  }
  IpEndpoint addr = opt.local_ip.is_valid() ? opt.local_ip : IpEndpoint::any(opt.ip_family);
  if (opt.local_port < 0 || opt.local_port > 65535) {
    errno = EINVAL;
    return nullptr;
  }
  addr.set_port(static_cast<uint16_t>(opt.local_port));
  auto group        = std::make_unique<AcceptGroup>(cont, opt, is_tls());
  group->vc_factory = factory;

  if (opt.accept_threads > 0) {
    int fd = -1;
    if (int r = open_listen_socket(addr, opt, /*non_blocking=*/false, /*reuse_port=*/false, fd); r < 0) {
      errno = -r;
      return nullptr;
    }
    group->shared_fd = fd;
    group->port      = bound_port(fd);
    for (int i = 0; i < opt.accept_threads; ++i) {
      auto na   = std::make_unique<NetAccept>(*group, fd, nullptr);
      na->mutex = new_ProxyMutex();
      na->set_handler(&NetAccept::acceptLoopEvent);
      std::string name = "[ACCEPT " + std::to_string(i) + ":" + std::to_string(group->port) + "]";
      group->accepts.push_back(std::move(na));
      eventProcessor.spawn_thread(group->accepts.back().get(), name.c_str());
    }
  } else {
    int n = eventProcessor.n_threads_for_type(opt.etype);
    if (n == 0) {
      errno = EINVAL;
      return nullptr;
    }
    if (addr.port() != 0) {
      if (int r = check_port_free(addr); r < 0) {
        errno = -r;
        return nullptr;
      }
    }
    for (int i = 0; i < n; ++i) {
      int fd = -1;
      if (int r = open_listen_socket(addr, opt, /*non_blocking=*/true, /*reuse_port=*/true, fd); r < 0) {
        group->accepts.clear();
        errno = -r;
        return nullptr;
      }
      if (i == 0) {
        group->port = bound_port(fd);
        addr.set_port(static_cast<uint16_t>(group->port)); // the others join the same port
      }
      EThread *t     = eventProcessor.thread(opt.etype, i);
      auto na        = std::make_unique<NetAccept>(*group, fd, t);
      NetHandler *nh = get_NetHandler(t);
      na->mutex      = nh->mutex;
      group->accepts.push_back(std::move(na));
    }
    for (auto &na : group->accepts) {
      // epoll_ctl may be called from any thread; readiness is then handled by the owner's pass.
      na->registered.store(true, std::memory_order_release);
      if (int r = get_NetHandler(na->owner)->register_accept(na.get(), na->fd); r < 0) {
        na->registered.store(false, std::memory_order_release);
        group->cancelled = true;
        group->accepts.clear();
        errno = -r;
        return nullptr;
      }
    }
  }
  AcceptGroup *result = group.get();
  std::lock_guard<std::mutex> guard(_groups_mutex);
  _groups.push_back(std::move(group));
  return result;
}

Action *
UnixNetProcessor::connect_re(Continuation *cont, const sockaddr *addr, const NetVCOptions *opt)
{
  return connect_vc(cont, allocate_vc(), addr, opt);
}

Action *
UnixNetProcessor::connect_vc(Continuation *cont, UnixNetVConnection *vc, const sockaddr *addr, const NetVCOptions *opt)
{
  EThread *t = this_ethread();
  if (get_NetHandler(t) == nullptr) {
    t = eventProcessor.assign_thread(ET_NET);
  }
  if (t == nullptr || get_NetHandler(t) == nullptr) {
    vc->free_thread(nullptr);
    MutexLock lock(cont->mutex, this_ethread());
    cont->handleEvent(NET_EVENT_OPEN_FAILED, reinterpret_cast<void *>(static_cast<intptr_t>(-ENETDOWN)));
    return ACTION_RESULT_DONE;
  }
  if (opt) {
    vc->options = *opt;
  }
  vc->remote_addr.assign(addr);
  vc->is_outbound = true;
  if (!cont->mutex) {
    cont->mutex = new_ProxyMutex();
  }
  vc->mutex   = cont->mutex;
  vc->action_ = cont;
  vc->thread  = t;
  if (t == this_ethread()) {
    MutexTryLock clock(cont->mutex, t);
    MutexTryLock hlock(get_NetHandler(t)->mutex, t);
    if (clock.is_locked() && hlock.is_locked()) {
      (void)vc->connectUp(t);
      return ACTION_RESULT_DONE;
    }
  }
  vc->set_handler(&UnixNetVConnection::startEvent);
  t->schedule_imm(vc);
  return &vc->action_;
}
} // namespace iocore
