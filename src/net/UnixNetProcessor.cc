// UnixNetProcessor: start-up of the net threads, accept() and connect_re().
#include "net/UnixNetProcessor.h"

#include "iocore/eventsystem/EventProcessor.h"

#include "net/IoBackend.h"
#include "net/NetAccept.h"
#include "net/NetHandler.h"
#include "net/NetStats.h"
#include "net/SocketOptions.h"
#include "net/UnixNetVConnection.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

namespace iocore {
namespace {
  UnixNetProcessor g_unix_net_processor;
  std::atomic<bool> g_net_started{false};

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

  /// adopt_fd's check: fd is a connected stream socket (its peer in `peer`), now non-blocking and
  /// close-on-exec. 0 or -errno.
  int check_connected_socket(int fd, SocketAddress &peer)
  {
    struct stat st {
    };
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      return -EBADF;
    }
    if (!S_ISSOCK(st.st_mode)) {
      return -ENOTSOCK;
    }
    int type      = 0;
    socklen_t len = sizeof(type);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
      return -ESOCKTNOSUPPORT;
    }
    peer = socket_peer_address(fd);
    if (!peer.is_valid()) {
      return -ENOTCONN;
    }
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
      return -errno;
    }
    return 0;
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

Action *
NetProcessor::adopt_fd(Continuation *cont, int fd, const NetVCOptions *opt)
{
  (void)opt;
  if (fd >= 0) {
    ::close(fd);
  }
  MutexLock lock(cont->mutex, this_ethread());
  cont->handleEvent(NET_EVENT_OPEN_FAILED, reinterpret_cast<void *>(static_cast<intptr_t>(-EOPNOTSUPP)));
  return ACTION_RESULT_DONE;
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

SocketAddress
NetProcessor::accept_address(Action *accept_action)
{
  if (accept_action == nullptr || accept_action == ACTION_RESULT_DONE || accept_action == ACTION_IO_ERROR) {
    return {};
  }
  auto *group = dynamic_cast<AcceptGroup *>(accept_action);
  return group ? group->bound : SocketAddress();
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
  SocketAddress addr;
  if (opt.fd == NO_FD) {
    if (int r = listen_address(opt, addr); r < 0) {
      errno = -r;
      return nullptr;
    }
  } else if (opt.accept_threads > 0) {
    errno = EINVAL; // see AcceptOptions::accept_threads
    return nullptr;
  }
  auto group        = std::make_unique<AcceptGroup>(cont, opt, is_tls());
  group->vc_factory = factory;

  int r = 0;
  if (opt.accept_threads > 0) {
    r = start_dedicated_accept(*group, addr);
  } else if (opt.fd != NO_FD || addr.is_unix()) {
    r = start_single_socket_accept(*group, addr);
  } else {
    r = start_per_thread_accept(*group, addr);
  }
  if (r < 0) {
    group->cancelled = true;
    if (group->socket_file) {
      group->socket_file->remove();
    }
    group->accepts.clear();
    errno = -r;
    return nullptr;
  }
  AcceptGroup *result = group.get();
  std::lock_guard<std::mutex> guard(_groups_mutex);
  _groups.push_back(std::move(group));
  return result;
}

int
UnixNetProcessor::listen_address(const AcceptOptions &opt, SocketAddress &addr)
{
  if (opt.ip_family == AF_UNIX) {
    std::string_view path = opt.local_path;
    std::optional<SocketAddress> a =
        path.starts_with('@') ? SocketAddress::unix_abstract(path.substr(1)) : SocketAddress::unix_path(path);
    if (!a) {
      return path.size() > SocketAddress::kMaxUnixPath ? -ENAMETOOLONG : -EINVAL;
    }
    addr = *a;
    return 0;
  }
  IpEndpoint ip = opt.local_ip.is_valid() ? opt.local_ip : IpEndpoint::any(opt.ip_family);
  if (opt.local_port < 0 || opt.local_port > 65535) {
    return -EINVAL;
  }
  ip.set_port(static_cast<uint16_t>(opt.local_port));
  addr = ip;
  return 0;
}

int
UnixNetProcessor::start_dedicated_accept(AcceptGroup &group, const SocketAddress &addr)
{
  const AcceptOptions &opt = group.opt;
  int fd                   = -1;
  if (int r = open_listen_socket(addr, opt, /*non_blocking=*/false, /*reuse_port=*/false, fd, group.socket_file); r < 0) {
    return r;
  }
  group.shared_fd = fd;
  group.bound     = socket_local_address(fd);
  group.port      = group.bound.is_ip() ? group.bound.port() : -1;
  for (int i = 0; i < opt.accept_threads; ++i) {
    auto na   = std::make_unique<NetAccept>(group, fd, nullptr);
    na->mutex = new_ProxyMutex();
    na->set_handler(&NetAccept::acceptLoopEvent);
    std::string name = "[ACCEPT " + std::to_string(i) + ":" + group.bound.to_string() + "]";
    group.accepts.push_back(std::move(na));
    eventProcessor.spawn_thread(group.accepts.back().get(), name.c_str());
  }
  return 0;
}

int
UnixNetProcessor::start_single_socket_accept(AcceptGroup &group, const SocketAddress &addr)
{
  const AcceptOptions &opt = group.opt;
  int n                    = eventProcessor.n_threads_for_type(opt.etype);
  if (n == 0) {
    return -EINVAL;
  }
  int fd = opt.fd;
  if (fd == NO_FD) {
    if (int r = open_listen_socket(addr, opt, /*non_blocking=*/true, /*reuse_port=*/false, fd, group.socket_file); r < 0) {
      return r;
    }
  } else if (int r = adopt_listen_socket(fd, opt, /*non_blocking=*/true); r < 0) {
    return r;
  }
  group.bound    = socket_local_address(fd);
  group.port     = group.bound.is_ip() ? group.bound.port() : -1;
  EThread *t     = eventProcessor.assign_thread(opt.etype);
  auto na        = std::make_unique<NetAccept>(group, fd, t);
  na->mutex      = get_NetHandler(t)->mutex;
  na->spread     = n > 1;
  NetAccept *raw = na.get();
  group.accepts.push_back(std::move(na));
  // Marked before registering: the owner may fail and stop the socket as soon as it polls it.
  raw->registered.store(true, std::memory_order_release);
  if (int r = get_NetHandler(t)->register_accept(raw, fd); r < 0) {
    raw->registered.store(false, std::memory_order_release);
    if (opt.fd != NO_FD) {
      raw->fd = -1; // accept() failed: the caller keeps its descriptor
    }
    return r;
  }
  return 0;
}

int
UnixNetProcessor::start_per_thread_accept(AcceptGroup &group, const SocketAddress &listen_on)
{
  const AcceptOptions &opt = group.opt;
  int n                    = eventProcessor.n_threads_for_type(opt.etype);
  if (n == 0) {
    return -EINVAL;
  }
  IpEndpoint addr = listen_on.ip();
  if (addr.port() != 0) {
    if (int r = check_port_free(addr); r < 0) {
      return r;
    }
  }
  for (int i = 0; i < n; ++i) {
    int fd = -1;
    std::optional<UnixSocketFile> none;
    if (int r = open_listen_socket(addr, opt, /*non_blocking=*/true, /*reuse_port=*/true, fd, none); r < 0) {
      return r;
    }
    if (i == 0) {
      group.bound = socket_local_address(fd);
      group.port  = group.bound.port();
      addr.set_port(static_cast<uint16_t>(group.port)); // the others join the same port
    }
    EThread *t     = eventProcessor.thread(opt.etype, i);
    auto na        = std::make_unique<NetAccept>(group, fd, t);
    NetHandler *nh = get_NetHandler(t);
    na->mutex      = nh->mutex;
    group.accepts.push_back(std::move(na));
  }
  for (auto &na : group.accepts) {
    // epoll_ctl may be called from any thread; readiness is then handled by the owner's pass.
    na->registered.store(true, std::memory_order_release);
    if (int r = get_NetHandler(na->owner)->register_accept(na.get(), na->fd); r < 0) {
      na->registered.store(false, std::memory_order_release);
      return r;
    }
  }
  return 0;
}

Action *
UnixNetProcessor::connect_re(Continuation *cont, const sockaddr *addr, const NetVCOptions *opt)
{
  return connect_vc(cont, allocate_vc(), addr, opt);
}

Action *
UnixNetProcessor::adopt_fd(Continuation *cont, int fd, const NetVCOptions *opt)
{
  NetVCOptions defaults;
  const NetVCOptions &o = opt ? *opt : defaults;
  SocketAddress peer;
  int r = check_connected_socket(fd, peer);
  if (r == 0 && (o.local_ip.is_valid() || o.local_port != 0 || o.addr_binding != NetVCOptions::ANY_ADDR)) {
    r = -EINVAL; // already bound and connected: there is nothing left to bind
  }
  if (r == 0) {
    r = apply_socket_options(fd, peer.family(), o, SocketState::kFresh);
  }
  if (r < 0) {
    if (r != -EBADF) {
      ::close(fd);
    }
    net_count(net_counters().connect_failures);
    MutexLock lock(cont->mutex, this_ethread());
    cont->handleEvent(NET_EVENT_OPEN_FAILED, reinterpret_cast<void *>(static_cast<intptr_t>(r)));
    return ACTION_RESULT_DONE;
  }
  UnixNetVConnection *vc = allocate_vc();
  vc->fd                 = fd;
  return connect_vc(cont, vc, peer.sa(), &o);
}

Action *
UnixNetProcessor::connect_vc(Continuation *cont, UnixNetVConnection *vc, const sockaddr *addr, const NetVCOptions *opt)
{
  EThread *t = this_ethread();
  if (get_NetHandler(t) == nullptr) {
    t = eventProcessor.assign_thread(ET_NET);
  }
  auto fail_now = [&](int err) {
    if (vc->fd >= 0) {
      ::close(vc->fd);
      vc->fd = -1;
    }
    vc->free_thread(nullptr);
    MutexLock lock(cont->mutex, this_ethread());
    cont->handleEvent(NET_EVENT_OPEN_FAILED, reinterpret_cast<void *>(static_cast<intptr_t>(err)));
    return ACTION_RESULT_DONE;
  };
  if (t == nullptr || get_NetHandler(t) == nullptr) {
    return fail_now(-ENETDOWN);
  }
  if (opt) {
    vc->options = *opt;
  }
  vc->set_remote_endpoint(SocketAddress::from_sockaddr(addr));
  vc->is_outbound = true;
  if (!cont->mutex) {
    cont->mutex = new_ProxyMutex();
  }
  if (vc->fd == NO_FD && vc->options.f_blocking_connect) {
    // The handshake happens here, on the caller's thread; the net thread then adopts the socket.
    SocketAddress remote = vc->get_remote_endpoint();
    int r                = open_socket_for_connect(vc->options, remote, vc->fd);
    if (r == 0) {
      r = connect_blocking(vc->fd, remote);
    }
    if (r < 0) {
      net_count(net_counters().connect_failures);
      return fail_now(r);
    }
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
