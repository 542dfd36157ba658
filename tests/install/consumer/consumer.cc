// echo.cc: a complete echo server on iocore, then a plain client that checks it. Build it against
// an installed iocore: find_package(iocore) + iocore::iocore, or `pkg-config --cflags --libs iocore`.
#include <iocore/iocore.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

using namespace iocore;

// One session per connection: bytes read into `buf` are written back from the same buffer.
struct EchoSession : Continuation {
  NetVConnection *vc;
  MIOBuffer *buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *reader = buf->alloc_reader();
  VIO *read_vio          = nullptr;
  VIO *write_vio         = nullptr;

  explicit EchoSession(NetVConnection *c) : Continuation(new_ProxyMutex()), vc(c)
  {
    set_handler(&EchoSession::handle);
    MutexLock lock(mutex, this_ethread());
    write_vio = vc->do_io_write(this, INT64_MAX, reader);
    read_vio  = vc->do_io_read(this, INT64_MAX, buf);
  }

  int handle(int event, void *)
  {
    switch (event) {
    case VC_EVENT_READ_READY: // new bytes in buf: let the write side send them
      write_vio->reenable();
      return EVENT_CONT;
    case VC_EVENT_WRITE_READY: // the write side made room: read more
      read_vio->reenable();
      return EVENT_CONT;
    default: // EOS, error or timeout: done
      vc->do_io_close();
      free_MIOBuffer(buf);
      delete this;
      return EVENT_DONE;
    }
  }
};

// Called on a net thread for every new connection.
struct EchoAcceptor : Continuation {
  EchoAcceptor() { set_handler(&EchoAcceptor::accept); }
  int accept(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) {
      new EchoSession(static_cast<NetVConnection *>(data));
    }
    return EVENT_DONE;
  }
};

int
main()
{
  eventProcessor.start(2);
  netProcessor.start();
  EchoAcceptor acceptor;
  NetProcessor::AcceptOptions opt;
  opt.local_ip     = IpEndpoint::loopback(AF_INET); // port 0: the kernel picks one
  Action *listener = netProcessor.accept(&acceptor, opt);
  if (listener == nullptr) {
    return 1;
  }

  // A plain blocking client.
  IpEndpoint server = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(NetProcessor::accept_port(listener)));
  int fd            = socket(AF_INET, SOCK_STREAM, 0);
  char reply[3]     = {};
  if (connect(fd, &server.sa, server.size()) != 0 || send(fd, "ok", 2, 0) != 2 || recv(fd, reply, 2, MSG_WAITALL) != 2) {
    return 1;
  }
  std::printf("echo %s\n", reply);
  close(fd);

  listener->cancel();
  eventProcessor.shutdown();
  return 0;
}
