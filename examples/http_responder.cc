// http_responder: a minimal HTTP/1.1 server on iocore. It answers every GET or HEAD with a short
// text, keeps connections open between requests (parking idle ones in the keep-alive queue, which
// the net layer closes first when connections run short), and answers pipelined requests in order.
//
//   http_responder [PORT]        serve on 127.0.0.1:PORT until Ctrl-C (try: curl -v 127.0.0.1:PORT/)
//   http_responder --self-test   serve on a kernel-chosen port, check keep-alive, pipelining and
//                                "Connection: close" with a plain client, exit 0 if all is well
#include <iocore/iocore.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

using namespace iocore;

namespace {
std::atomic<int> g_sessions{0};

constexpr std::string_view kBody = "hello from iocore\n";
/// A request head this long without its end is refused (431) and the connection closed. It is the
/// input buffer's size: a full buffer stops the read, so a longer head could never complete.
constexpr int64_t kMaxHead = 8192;

// One client connection: read a request head, answer it, repeat. The read VIO stays on for the
// whole connection; responses go into `_out`, which the write VIO drains.
class HttpSession : public Continuation
{
public:
  explicit HttpSession(NetVConnection *vc) : Continuation(new_ProxyMutex()), _vc(vc)
  {
    ++g_sessions;
    set_handler(&HttpSession::handle_event);
    MutexLock lock(mutex, this_ethread()); // our call-backs hold it; they may start at once
    _vc->set_inactivity_timeout(HRTIME_SECONDS(30));
    _vc->add_to_keep_alive_queue(); // idle until the first request arrives
    _write_vio = _vc->do_io_write(this, INT64_MAX, _out_reader);
    _read_vio  = _vc->do_io_read(this, INT64_MAX, _in);
  }

private:
  int handle_event(int event, void *)
  {
    switch (event) {
    case VC_EVENT_READ_READY:
      return answer_complete_requests();
    case VC_EVENT_WRITE_READY: // everything queued so far is sent
      if (_out_reader->read_avail() == 0) {
        _vc->add_to_keep_alive_queue();
      }
      return EVENT_CONT;
    default: // WRITE_COMPLETE (the last response before a close is out), EOS, ERROR, timeouts (an
             // idle keep-alive connection closed to make room included)
      return finish();
    }
  }

  int answer_complete_requests()
  {
    _vc->add_to_active_queue(); // a request is arriving: no longer idle
    for (;;) {
      // The head ends at the first empty line. memchr keeps the search cheap; the head is small.
      int64_t end = find_head_end();
      if (end < 0) {
        if (_in_reader->read_avail() >= kMaxHead) {
          return respond_and_close("431 Request Header Fields Too Large");
        }
        break; // wait for the rest (the read stays enabled)
      }
      std::string head(static_cast<std::size_t>(end), '\0');
      _in_reader->read(head.data(), end);
      bool is_get  = head.starts_with("GET ");
      bool is_head = head.starts_with("HEAD ");
      if (!is_get && !is_head) {
        return respond_and_close("405 Method Not Allowed");
      }
      // HTTP/1.1 keeps the connection unless the client says close; HTTP/1.0 closes unless asked.
      bool http10     = head.find(" HTTP/1.0\r\n") != std::string::npos;
      bool says_close = head.find("\r\nConnection: close\r\n") != std::string::npos;
      bool says_keep  = head.find("\r\nConnection: keep-alive\r\n") != std::string::npos;
      bool keep       = http10 ? says_keep : !says_close;
      queue_response("200 OK", !is_head, keep);
      if (!keep) {
        return close_after_write();
      }
    }
    _write_vio->reenable(); // send what was queued
    // A full input buffer stops reading; any complete request in it was answered above, so it can
    // only be a head over kMaxHead, refused before we get here. Ask for more.
    _read_vio->reenable();
    return EVENT_CONT;
  }

  /// The length of the request head at the reader's position, "\r\n\r\n" included, or -1.
  int64_t find_head_end()
  {
    int64_t avail = _in_reader->read_avail();
    for (int64_t from = 0; from < avail;) {
      int64_t lf = _in_reader->memchr('\n', avail - from, from);
      if (lf < 0) {
        return -1;
      }
      char tail[4] = {};
      if (lf >= 3 && _in_reader->memcpy(tail, 4, lf - 3) == 4 && std::memcmp(tail, "\r\n\r\n", 4) == 0) {
        return lf + 1;
      }
      from = lf + 1;
    }
    return -1;
  }

  void queue_response(std::string_view status, bool with_body, bool keep)
  {
    std::string r = "HTTP/1.1 " + std::string(status) +
                    "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(kBody.size()) + "\r\n" +
                    (keep ? "" : "Connection: close\r\n") + "\r\n";
    if (with_body) {
      r += kBody;
    }
    _out->write(r.data(), static_cast<int64_t>(r.size()));
  }

  int respond_and_close(std::string_view status)
  {
    queue_response(status, true, false);
    return close_after_write();
  }

  /// Stop reading; WRITE_COMPLETE arrives once everything queued is sent, and closes.
  int close_after_write()
  {
    _read_vio->done(); // no more reads or read events
    _write_vio->set_nbytes(_write_vio->ndone + _out_reader->read_avail());
    _write_vio->reenable();
    return EVENT_CONT;
  }

  int finish()
  {
    _vc->do_io_close();
    free_MIOBuffer(_in);
    free_MIOBuffer(_out);
    --g_sessions;
    delete this;
    return EVENT_DONE;
  }

  NetVConnection *_vc;
  MIOBuffer *_in              = new_MIOBuffer(BUFFER_SIZE_INDEX_8K);
  IOBufferReader *_in_reader  = _in->alloc_reader();
  MIOBuffer *_out             = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *_out_reader = _out->alloc_reader();
  VIO *_read_vio              = nullptr;
  VIO *_write_vio             = nullptr;
};

class HttpAcceptor : public Continuation
{
public:
  // No mutex: accept call-backs then run on every net thread at once, each under the new
  // connection's own mutex. Fine here: the acceptor keeps no state.
  HttpAcceptor() { set_handler(&HttpAcceptor::handle_event); }

private:
  int handle_event(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) {
      new HttpSession(static_cast<NetVConnection *>(data));
    } else if (event == EVENT_ERROR) {
      std::fprintf(stderr, "http_responder: listener failed: %s\n",
                   std::strerror(static_cast<int>(-reinterpret_cast<intptr_t>(data))));
    }
    return EVENT_DONE;
  }
};

// --- The self-test's client ------------------------------------------------------------------------

int
connect_to(int port)
{
  int fd         = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval limit  = {10, 0};
  IpEndpoint dst = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(port));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  if (::connect(fd, &dst.sa, dst.size()) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Read until `n` complete responses (each ending with our body) have arrived, or EOF / timeout.
std::string
read_responses(int fd, int n, bool *eof)
{
  std::string got;
  char chunk[4096];
  auto count = [&got] {
    int c = 0;
    for (std::size_t at = 0; (at = got.find(kBody, at)) != std::string::npos; at += kBody.size()) {
      ++c;
    }
    return c;
  };
  *eof = false;
  while (count() < n) {
    ssize_t r = ::recv(fd, chunk, sizeof(chunk), 0);
    if (r <= 0) {
      *eof = r == 0;
      break;
    }
    got.append(chunk, static_cast<std::size_t>(r));
  }
  return got;
}

int
self_test(int port)
{
  bool ok = false;
  int fd  = connect_to(port);
  if (fd >= 0) {
    // Two pipelined requests in one segment, answered in order on the same connection...
    std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    ::send(fd, two.data(), two.size(), MSG_NOSIGNAL);
    bool eof            = false;
    std::string answers = read_responses(fd, 2, &eof);
    bool pipelined = !eof && answers.starts_with("HTTP/1.1 200 OK\r\n") && answers.find("Connection: close") == std::string::npos;
    // ...then one that asks to close: answered, then the server closes.
    std::string last = "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ::send(fd, last.data(), last.size(), MSG_NOSIGNAL);
    std::string closing = read_responses(fd, 2, &eof); // asks for one more than comes: reads to EOF
    ok                  = pipelined && eof && closing.find("Connection: close\r\n") != std::string::npos;
    ::close(fd);
  }
  for (int i = 0; i < 1000 && g_sessions.load() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ok = ok && g_sessions.load() == 0;
  std::printf("http_responder self-test: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
} // namespace

int
main(int argc, char **argv)
{
  bool testing = argc > 1 && std::strcmp(argv[1], "--self-test") == 0;
  int port     = argc > 1 && !testing ? std::atoi(argv[1]) : 0;

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); // before any thread starts: all inherit it

  eventProcessor.start(2);
  netProcessor.start();
  HttpAcceptor acceptor;
  NetProcessor::AcceptOptions options;
  options.local_ip   = IpEndpoint::loopback(AF_INET);
  options.local_port = port;
  Action *listener   = netProcessor.accept(&acceptor, options);
  if (listener == nullptr) {
    std::fprintf(stderr, "http_responder: cannot listen on port %d: %s\n", port, std::strerror(errno));
    return 1;
  }
  port = NetProcessor::accept_port(listener);

  int status = 0;
  if (testing) {
    status = self_test(port);
  } else {
    std::printf("http_responder listening on 127.0.0.1:%d\n", port);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop_signals, &sig);
  }
  listener->cancel();
  eventProcessor.shutdown();
  return status;
}
