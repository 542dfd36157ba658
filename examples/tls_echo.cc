// tls_echo: a TLS echo server and a TLS client on iocore. sslNetProcessor takes the same calls as
// netProcessor; the handshake runs inside the net threads, and the VIOs see plaintext only.
//
//   tls_echo server CERT KEY [PORT]          serve on 127.0.0.1:PORT (default: the kernel picks)
//   tls_echo client IP:PORT NAME CA MESSAGE  send MESSAGE to a server whose certificate for NAME
//                                            is signed by (or is) CA, print the echo and the TLS
//                                            parameters
//   tls_echo --self-test                     make a self-signed certificate, run both, exit 0 if
//                                            the echo came back over a verified TLS 1.3 connection
#include <iocore/iocore.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <utility>

using namespace iocore;

namespace {
std::atomic<int> g_sessions{0};

// --- Server: the echo session of examples/echo_server.cc, over TLS -----------------------------------

class TlsEchoSession : public Continuation
{
public:
  explicit TlsEchoSession(NetVConnection *vc) : Continuation(new_ProxyMutex()), _vc(vc)
  {
    ++g_sessions;
    set_handler(&TlsEchoSession::handle_event);
    MutexLock lock(mutex, this_ethread());
    _vc->set_inactivity_timeout(HRTIME_SECONDS(30));
    // Nothing is read or written until the handshake is done: no WRITE_READY comes before it.
    _write_vio = _vc->do_io_write(this, INT64_MAX, _reader);
    _read_vio  = _vc->do_io_read(this, INT64_MAX, _buf);
  }

private:
  int handle_event(int event, void *)
  {
    switch (event) {
    case VC_EVENT_READ_READY:
      _write_vio->reenable();
      return EVENT_CONT;
    case VC_EVENT_WRITE_READY:
      if (!_client_done) {
        _read_vio->reenable();
      }
      return EVENT_CONT;
    case VC_EVENT_EOS: // close_notify (or a bare FIN): echo what is left, then close
      _client_done = true;
      if (_reader->read_avail() == 0) {
        return finish();
      }
      _write_vio->set_nbytes(_write_vio->ndone + _reader->read_avail());
      _write_vio->reenable();
      return EVENT_CONT;
    case VC_EVENT_ERROR:
      // A failed handshake arrives here too, with lerrno == ENET_SSL_FAILED; tls_info() says why.
      if (auto info = tls_info(_vc); info && !info->error.empty()) {
        std::fprintf(stderr, "tls_echo server: %s\n", info->error.c_str());
      }
      return finish();
    default: // WRITE_COMPLETE after EOS, timeouts
      return finish();
    }
  }

  int finish()
  {
    _vc->do_io_close(); // sends close_notify when the handshake had completed
    free_MIOBuffer(_buf);
    --g_sessions;
    delete this;
    return EVENT_DONE;
  }

  NetVConnection *_vc;
  MIOBuffer *_buf         = new_MIOBuffer(BUFFER_SIZE_INDEX_16K);
  IOBufferReader *_reader = _buf->alloc_reader();
  VIO *_read_vio          = nullptr;
  VIO *_write_vio         = nullptr;
  bool _client_done       = false;
};

class TlsEchoAcceptor : public Continuation
{
public:
  TlsEchoAcceptor() : Continuation(new_ProxyMutex()) { set_handler(&TlsEchoAcceptor::handle_event); }

private:
  int handle_event(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) { // before the handshake: the session's VIOs wait for it
      new TlsEchoSession(static_cast<NetVConnection *>(data));
    } else if (event == EVENT_ERROR) {
      std::fprintf(stderr, "tls_echo: listener failed: %s\n", std::strerror(static_cast<int>(-reinterpret_cast<intptr_t>(data))));
    }
    return EVENT_DONE;
  }
};

// --- Client: send one message, read the same number of bytes back, report -------------------------

struct ClientResult {
  bool ok = false;
  std::string echo;
  std::string detail; ///< the TLS parameters, or what went wrong
};

class TlsClient : public Continuation
{
public:
  explicit TlsClient(std::string message) : Continuation(new_ProxyMutex()), _message(std::move(message))
  {
    set_handler(&TlsClient::handle_event);
  }
  std::promise<ClientResult> result;

private:
  int handle_event(int event, void *data)
  {
    switch (event) {
    case NET_EVENT_OPEN: // TCP is connected (or connecting); the handshake has not run yet
      _vc = static_cast<NetVConnection *>(data);
      _vc->set_inactivity_timeout(HRTIME_SECONDS(10));
      _out->write(_message.data(), static_cast<int64_t>(_message.size()));
      // nbytes = the message: WRITE_COMPLETE when it is out. Read exactly as many bytes back.
      _vc->do_io_write(this, static_cast<int64_t>(_message.size()), _out_reader);
      _vc->do_io_read(this, static_cast<int64_t>(_message.size()), _in);
      if (_message.empty()) {
        return report(true, "");
      }
      return EVENT_CONT;
    case NET_EVENT_OPEN_FAILED:
      _vc = nullptr;
      return report(false, std::string("connect failed: ") + std::strerror(static_cast<int>(-reinterpret_cast<intptr_t>(data))));
    case VC_EVENT_WRITE_COMPLETE:
    case VC_EVENT_READ_READY:
      return EVENT_CONT;
    case VC_EVENT_READ_COMPLETE: {
      auto info = tls_info(_vc);
      return report(true, "TLS " + info->version + ", " + info->cipher + ", ALPN \"" + info->alpn + "\", SNI \"" +
                              info->server_name + "\"");
    }
    case VC_EVENT_ERROR: {
      auto info = tls_info(_vc);
      return report(false, "error " + std::to_string(_vc->lerrno) + (info ? ": " + info->error : std::string()));
    }
    default:
      return report(false, std::string("unexpected ") + event_name(event));
    }
  }

  int report(bool ok, std::string detail)
  {
    ClientResult r;
    r.ok     = ok;
    r.detail = std::move(detail);
    r.echo.resize(static_cast<std::size_t>(_in_reader->read_avail()));
    _in_reader->read(r.echo.data(), static_cast<int64_t>(r.echo.size()));
    if (_vc != nullptr) {
      _vc->do_io_close();
      _vc = nullptr;
    }
    free_MIOBuffer(_in);
    free_MIOBuffer(_out);
    _in = _out = nullptr;
    result.set_value(std::move(r)); // the waiting main thread may destroy us from here on
    return EVENT_DONE;
  }

  std::string _message;
  NetVConnection *_vc         = nullptr;
  MIOBuffer *_in              = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *_in_reader  = _in->alloc_reader();
  MIOBuffer *_out             = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *_out_reader = _out->alloc_reader();
};

ClientResult
run_client(const IpEndpoint &server, const std::string &name, const std::string &ca_file, const std::string &message)
{
  TlsClient client(message);
  auto result = client.result.get_future();
  NetVCOptions options;
  options.sni_servername = name;    // sent as SNI, and the name the certificate must carry
  options.verify_peer    = true;    // the default, spelled out
  options.ca_file        = ca_file; // empty: the system's trust store
  options.alpn_protocols = "echo/1";
  {
    MutexLock lock(client.mutex, nullptr); // call-backs hold it: none runs before we are done here
    sslNetProcessor.connect_re(&client, &server.sa, &options);
  }
  if (result.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "tls_echo client: no answer in 20 s\n");
    std::exit(1); // the client may still be called back: do not destroy it
  }
  return result.get();
}

// --- A self-signed certificate for the self-test, made with OpenSSL --------------------------------

bool
write_self_signed(const std::string &cert_path, const std::string &key_path)
{
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert    = X509_new();
  bool ok       = key != nullptr && cert != nullptr;
  if (ok) {
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24L * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char *>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, subject); // self-signed: it is its own issuer, and the client's CA
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    for (auto [nid, value] :
         {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"}, std::pair{NID_basic_constraints, "CA:TRUE"}}) {
      X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      ok                  = ok && ext != nullptr && X509_add_ext(cert, ext, -1) == 1;
      X509_EXTENSION_free(ext);
    }
    ok = ok && X509_sign(cert, key, EVP_sha256()) > 0;
  }
  if (ok) {
    FILE *c = std::fopen(cert_path.c_str(), "w");
    FILE *k = std::fopen(key_path.c_str(), "w");
    ok      = c != nullptr && k != nullptr && PEM_write_X509(c, cert) == 1 &&
         PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (c != nullptr) {
      std::fclose(c);
    }
    if (k != nullptr) {
      std::fclose(k);
    }
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return ok;
}

/// Listen with TLS; nullptr (with a message) on failure.
Action *
listen_tls(TlsEchoAcceptor &acceptor, const std::string &cert, const std::string &key, int port)
{
  TLSServerConfig config;
  config.certificates.push_back({cert, key, {}}); // served for the names in its subjectAltName
  config.alpn_protocols = "echo/1";
  std::string error;
  auto context = TLSServerContext::create(config, &error);
  if (!context) {
    std::fprintf(stderr, "tls_echo: %s\n", error.c_str());
    return nullptr;
  }
  NetProcessor::AcceptOptions options;
  options.local_ip    = IpEndpoint::loopback(AF_INET);
  options.local_port  = port;
  options.tls_context = context; // the listener and its connections keep it alive
  Action *listener    = sslNetProcessor.accept(&acceptor, options);
  if (listener == nullptr) {
    std::fprintf(stderr, "tls_echo: cannot listen on port %d: %s\n", port, std::strerror(errno));
  }
  return listener;
}

int
self_test()
{
  char dir_template[] = "/tmp/tls_echo.XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    return 1;
  }
  std::string dir  = dir_template;
  std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  int status = 1;
  TlsEchoAcceptor acceptor;
  Action *listener = nullptr;
  if (write_self_signed(cert, key) && (listener = listen_tls(acceptor, cert, key, 0)) != nullptr) {
    IpEndpoint server    = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(NetProcessor::accept_port(listener)));
    std::string message  = "hello over TLS";
    ClientResult good    = run_client(server, "localhost", cert, message);
    ClientResult refused = run_client(server, "other.example", cert, message); // the name is not in the certificate
    for (int i = 0; i < 1000 && g_sessions.load() != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    bool ok = good.ok && good.echo == message && good.detail.find("TLSv1.3") != std::string::npos &&
              good.detail.find("ALPN \"echo/1\"") != std::string::npos && !refused.ok && g_sessions.load() == 0;
    std::printf("tls_echo self-test: %s\n  verified: %s: \"%s\"\n  wrong name: %s\n", ok ? "ok" : "FAILED", good.detail.c_str(),
                good.echo.c_str(), refused.detail.c_str());
    status = ok ? 0 : 1;
    listener->cancel();
  }
  std::filesystem::remove_all(dir);
  return status;
}
} // namespace

int
main(int argc, char **argv)
{
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "--self-test" && !(mode == "server" && (argc == 4 || argc == 5)) && !(mode == "client" && argc == 6)) {
    std::fprintf(stderr,
                 "usage: tls_echo server CERT KEY [PORT] | tls_echo client IP:PORT NAME CA MESSAGE | tls_echo --self-test\n");
    return 2;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); // before any thread starts: all inherit it

  eventProcessor.start(2);
  netProcessor.start(); // sslNetProcessor runs on the same net threads
  int status = 0;
  if (mode == "--self-test") {
    status = self_test();
  } else if (mode == "server") {
    TlsEchoAcceptor acceptor;
    Action *listener = listen_tls(acceptor, argv[2], argv[3], argc == 5 ? std::atoi(argv[4]) : 0);
    if (listener == nullptr) {
      status = 1;
    } else {
      std::printf("tls_echo listening on 127.0.0.1:%d\n", NetProcessor::accept_port(listener));
      std::fflush(stdout);
      int sig = 0;
      sigwait(&stop_signals, &sig);
      listener->cancel();
    }
  } else if (auto server = IpEndpoint::parse(argv[2])) {
    ClientResult r = run_client(*server, argv[3], argv[4], argv[5]);
    std::printf("%s\n%s\n", r.ok ? r.echo.c_str() : "(no echo)", r.detail.c_str());
    status = r.ok ? 0 : 1;
  } else {
    std::fprintf(stderr, "tls_echo: bad address %s (want IP:PORT)\n", argv[2]);
    status = 2;
  }
  eventProcessor.shutdown();
  return status;
}
