// Listener: accept() with no continuation mutex, so connections are handed over concurrently on
// every net thread (each call holds only the new connection's own mutex, which the sessions adopt).
#include "Listener.h"

#include "Log.h"

#include <cerrno>
#include <cstring>

namespace iocore_cli {
using namespace iocore;

Listener::Listener(std::string name, Factory factory, OnFailure on_failure)
    : Continuation(), _name(std::move(name)), _factory(std::move(factory)), _on_failure(std::move(on_failure))
{
  set_handler(&Listener::accept_event);
}

namespace {
  /// Why a Unix path or a passed descriptor cannot be listened on, in the user's terms.
  std::string listen_failure(const ListenTarget &target, int err)
  {
    if (target.fd) {
      std::string fd = "descriptor " + std::to_string(*target.fd);
      switch (err) {
      case EBADF:
        return fd + " is not open";
      case ENOTSOCK:
        return fd + " is not a socket";
      case ESOCKTNOSUPPORT:
        return fd + " is not a stream socket";
      case EAFNOSUPPORT:
        return fd + " is not an IP or Unix-domain socket";
      case EINVAL:
        return fd + " is not a listening socket (listen() was not called on it)";
      default:
        break;
      }
    } else if (target.addr.is_unix() && !target.addr.is_abstract()) {
      switch (err) {
      case EEXIST:
        return target.addr.path() + " exists and is not a socket (left untouched)";
      case EADDRINUSE:
        return "another process is listening on " + target.addr.path();
      default:
        break;
      }
    }
    return err ? std::strerror(err) : "unknown error";
  }
} // namespace

bool
Listener::start(const ListenTarget &target, std::string &error, std::shared_ptr<const TLSServerContext> tls)
{
  NetProcessor::AcceptOptions opt;
  if (target.fd) {
    opt.fd = *target.fd;
  } else if (target.addr.is_unix()) {
    opt.ip_family  = AF_UNIX;
    opt.local_path = (target.addr.is_abstract() ? "@" : "") + target.addr.path();
  } else {
    opt.local_ip   = target.addr.ip();
    opt.local_port = target.addr.port();
    opt.ip_family  = target.addr.family();
  }
  opt.sockopt_flags       = SOCK_OPT_NO_DELAY;
  NetProcessor &processor = tls ? sslNetProcessor : netProcessor;
  opt.tls_context         = std::move(tls);
  _target                 = target.to_string(); // before accept(): its events may start at once
  errno                   = 0;
  _accept                 = processor.accept(this, opt);
  if (_accept == nullptr) {
    error   = "cannot listen on " + target.to_string() + " (" + _name + "): " + listen_failure(target, errno);
    _accept = nullptr;
    return false;
  }
  std::lock_guard<std::mutex> hold(_bound_lock);
  _bound = NetProcessor::accept_address(_accept);
  return true;
}

void
Listener::stop()
{
  if (_stopped.exchange(true)) {
    return;
  }
  if (_accept != nullptr) {
    // An accept continuation without a mutex has no lock to hold for cancel(); the accept group's
    // cancel is safe from any thread and stops each listening socket on its own thread.
    _accept->cancel();
  }
}

int
Listener::accept_event(int event, void *data)
{
  if (event == EVENT_ERROR) {
    // The library stopped this listener: its socket failed for good (data: -errno).
    int err = static_cast<int>(-reinterpret_cast<intptr_t>(data));
    std::string where;
    {
      std::lock_guard<std::mutex> hold(_bound_lock);
      where = _bound.is_valid() ? _bound.to_string() : _target;
    }
    log_message(LogLevel::kError, "%s listener on %s failed: accept(): %s; it accepts no more connections", _name.c_str(),
                where.c_str(), std::strerror(err));
    _failed.store(true, std::memory_order_release);
    if (_on_failure) {
      _on_failure(*this, err);
    }
    return EVENT_DONE;
  }
  if (event != NET_EVENT_ACCEPT) {
    return EVENT_DONE;
  }
  auto *vc = static_cast<NetVConnection *>(data);
  if (_stopped.load(std::memory_order_acquire)) {
    vc->do_io_close();
    return EVENT_DONE;
  }
  _factory(vc);
  return EVENT_DONE;
}

void
apply_client_timeouts(NetVConnection *vc, const CommonOptions &common)
{
  vc->set_inactivity_timeout(common.inactivity_timeout); // 0 (--inactivity-timeout 0): none
  if (common.active_timeout && *common.active_timeout > 0) {
    vc->set_active_timeout(*common.active_timeout);
  }
}
} // namespace iocore_cli
