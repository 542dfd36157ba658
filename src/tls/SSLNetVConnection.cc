// SSLNetVConnection: the TLS handshake in the NetHandler's pass, SSL_read / SSL_write in place of
// the socket calls, close_notify on shutdown and close, and tls_info().
#include "tls/SSLNetVConnection.h"

#include "iocore/eventsystem/Continuation.h"

#include "eventsystem/ClassAllocator.h"
#include "eventsystem/DebugLog.h"
#include "net/NetAccept.h"
#include "net/NetHandler.h"
#include "net/NetStats.h"
#include "tls/TLSContext.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstring>
#include <utility>

namespace iocore {
namespace {
  ClassAllocator<SSLNetVConnection> &ssl_vc_allocator()
  {
    static ClassAllocator<SSLNetVConnection> a;
    return a;
  }

  /// OpenSSL's error queue is per thread and shared by every connection on it: start each call
  /// with it empty so SSL_get_error() speaks about this call only, and with errno clear so an
  /// SSL_ERROR_SYSCALL is not explained by an older failure.
  void clear_errors()
  {
    ERR_clear_error();
    errno = 0;
  }
} // namespace

SSLNetVConnection::SSLNetVConnection()
{
  handshake_pending = true;
}

SSLNetVConnection::~SSLNetVConnection() = default;

SSLNetVConnection *
SSLNetVConnection::alloc()
{
  return ssl_vc_allocator().alloc();
}

UnixNetVConnection *
SSLNetVConnection::alloc_for_accept(const AcceptGroup &group)
{
  SSLNetVConnection *vc = alloc();
  vc->server_ctx        = group.opt.tls_context;
  return vc;
}

void
SSLNetVConnection::free_thread(EThread *t)
{
  (void)t;
  ssl_vc_allocator().free(this);
}

// --- The handshake ---------------------------------------------------------------------------------------

bool
SSLNetVConnection::start_tls()
{
  SSL_CTX *ctx = server_ctx ? server_ctx->impl().contexts.front().get() : client_ctx;
  if (ctx != nullptr) {
    _ssl.reset(SSL_new(ctx));
  }
  if (_ssl == nullptr || SSL_set_fd(_ssl.get(), fd) != 1) {
    _error = take_openssl_errors("cannot create the TLS session");
    return false;
  }
  SSL_set_app_data(_ssl.get(), this); // for tls_info_callback
  if (server_ctx) {
    SSL_set_accept_state(_ssl.get());
    // ATS: proxy.config.ssl.handshake_timeout_in replaces the inactivity timeout until the
    // handshake is done; nothing moves the deadline meanwhile, so it bounds the whole handshake.
    if (ink_hrtime hs = server_ctx->config().handshake_timeout; hs > 0) {
      _timeout_after_handshake = inactivity_timeout_in;
      _restore_timeout         = true;
      set_inactivity_timeout(hs);
    }
    return true;
  }
  SSL_set_connect_state(_ssl.get());
  const std::string &name = options.sni_servername;
  bool ok                 = true;
  if (!name.empty()) {
    ok = SSL_set_tlsext_host_name(_ssl.get(), name.c_str()) == 1;
  }
  if (ok && options.verify_peer) {
    // The certificate must be for the name asked for, or (no name) for the address connected to.
    if (!name.empty()) {
      ok = SSL_set1_host(_ssl.get(), name.c_str()) == 1;
    } else {
      const auto *ip = remote_addr.family() == AF_INET6 ? reinterpret_cast<const unsigned char *>(&remote_addr.sin6.sin6_addr)
                                                        : reinterpret_cast<const unsigned char *>(&remote_addr.sin4.sin_addr);
      ok             = X509_VERIFY_PARAM_set1_ip(SSL_get0_param(_ssl.get()), ip, remote_addr.family() == AF_INET6 ? 16 : 4) == 1;
    }
  }
  std::string wire;
  if (ok && !options.alpn_protocols.empty()) {
    ok = alpn_to_wire(options.alpn_protocols, wire) &&
         SSL_set_alpn_protos(_ssl.get(), reinterpret_cast<const unsigned char *>(wire.data()),
                             static_cast<unsigned int>(wire.size())) == 0;
  }
  if (!ok) {
    _error = take_openssl_errors("invalid TLS client options (SNI name or ALPN list)");
  }
  return ok;
}

int
SSLNetVConnection::note_failure(int ssl_error, int ret)
{
  _fatal  = true;
  int err = ENET_SSL_FAILED;
  if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    if (ret == 0 || errno == 0) {
      _error = "the peer closed the connection during the TLS handshake";
    } else {
      err    = errno;
      _error = std::string("socket error: ") + std::strerror(errno);
    }
    return err;
  }
  long verify = _ssl && server_ctx == nullptr ? SSL_get_verify_result(_ssl.get()) : X509_V_OK;
  if (verify != X509_V_OK) {
    _error = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    ERR_clear_error();
  } else {
    _error = take_openssl_errors("TLS failure");
  }
  return err;
}

void
SSLNetVConnection::handshake_io(NetHandler &h)
{
  bool read_on  = read.enabled.load(std::memory_order_relaxed) && read.vio.op == VIO::READ;
  bool write_on = write.enabled.load(std::memory_order_relaxed) && write.vio.op == VIO::WRITE;
  if (!read_on && !write_on) {
    // Nobody asks for anything yet: the handshake waits; the triggered flags remember the edges.
    h.read_ready_list.remove(this);
    h.write_ready_list.remove(this);
    return;
  }
  NetState &s = read_on ? read : write; // the VIO told if the handshake fails
  MutexTryLock lock(s.vio.mutex, thread);
  if (!lock.is_locked()) {
    h.note_lock_miss();
    h.ready_list(s.dir).in_or_enqueue(this);
    return;
  }
  if (closed_during_io(h, lock)) {
    return;
  }
  if (_fatal) {
    // The failure was reported; OpenSSL must not be driven again (a second handshake on the
    // same SSL object would skip what start_tls() set up, such as the host name check).
    read.triggered = write.triggered = false;
    h.read_ready_list.remove(this);
    h.write_ready_list.remove(this);
    return;
  }
  bool can_run = ((_wants & kReadable) && read.triggered) || ((_wants & kWritable) && write.triggered);
  if (!can_run) {
    return; // the edge OpenSSL waits for has not come
  }
  if (socket_error != 0) {
    read.triggered = write.triggered = false;
    (void)signal_error(s, socket_error); // a refused connect stays ECONNREFUSED (docs/events.md)
    return;
  }
  if (_ssl == nullptr && !start_tls()) {
    _ssl.reset();
    fail_handshake(s, ENET_SSL_FAILED);
    return;
  }
  clear_errors();
  int r = SSL_do_handshake(_ssl.get());
  h.note_io();
  if (r == 1) {
    finish_handshake(h);
    return;
  }
  int e = SSL_get_error(_ssl.get(), r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    _wants                                              = e == SSL_ERROR_WANT_READ ? kReadable : kWritable;
    (e == SSL_ERROR_WANT_READ ? read : write).triggered = false;
    h.read_ready_list.remove(this);
    h.write_ready_list.remove(this);
    return;
  }
  fail_handshake(s, note_failure(e, r));
}

void
SSLNetVConnection::fail_handshake(NetState &s, int err)
{
  _fatal = true;
  net_count(net_counters().tls_handshake_failures);
  IOCORE_DEBUG(DebugTag::kSsl, "vc %" PRIu64 ": TLS handshake failed (lerrno %d): %s", id, err, _error.c_str());
  read.triggered = write.triggered = false;
  (void)signal_error(s, err);
}

void
SSLNetVConnection::finish_handshake(NetHandler &h)
{
  handshake_pending = false;
  net_count(net_counters().tls_handshakes);
  IOCORE_DEBUG(DebugTag::kSsl, "vc %" PRIu64 ": TLS handshake done (%s, %s)", id, SSL_get_version(_ssl.get()),
               SSL_get_cipher_name(_ssl.get()));
  if (_restore_timeout) {
    _restore_timeout      = false;
    inactivity_timeout_in = _timeout_after_handshake;
  }
  net_activity();
  // OpenSSL may already hold decrypted data (TS-3714), and the socket took the handshake's last
  // flight: try both directions now; EAGAIN / WANT_READ puts them back to waiting for edges.
  read.triggered  = true;
  write.triggered = true;
  if (read.enabled.load(std::memory_order_relaxed)) {
    h.read_ready_list.in_or_enqueue(this);
  }
  if (write.enabled.load(std::memory_order_relaxed)) {
    h.write_ready_list.in_or_enqueue(this);
  }
}

// --- Reading -------------------------------------------------------------------------------------------------

int
SSLNetVConnection::classify_read_end(int ret, int *err)
{
  int e = SSL_get_error(_ssl.get(), ret);
  switch (e) {
  case SSL_ERROR_WANT_READ:
  case SSL_ERROR_WANT_X509_LOOKUP:
  // A read that must write (a post-handshake message to answer with the socket full) waits for the
  // next read edge; renegotiation, the usual cause, is refused by our contexts.
  case SSL_ERROR_WANT_WRITE:
    return 0;
  case SSL_ERROR_ZERO_RETURN:
    return VC_EVENT_EOS; // close_notify, or a FIN (SSL_OP_IGNORE_UNEXPECTED_EOF)
  case SSL_ERROR_SYSCALL:
    if (ERR_peek_error() == 0 && (ret == 0 || errno == 0)) {
      return VC_EVENT_EOS;
    }
    if (ERR_peek_error() == 0) {
      *err   = errno;
      _fatal = true;
      return VC_EVENT_ERROR;
    }
    [[fallthrough]];
  default:
    *err = note_failure(e, ret);
    return VC_EVENT_ERROR;
  }
}

void
SSLNetVConnection::deliver_read_end(NetState &s)
{
  int event   = std::exchange(_read_end_event, 0);
  s.triggered = false;
  if (event == VC_EVENT_EOS) {
    (void)signal_done(s, VC_EVENT_EOS);
  } else {
    (void)signal_error(s, _read_end_errno);
  }
}

void
SSLNetVConnection::net_read_io(NetHandler &h)
{
  if (handshake_pending) {
    handshake_io(h);
    return;
  }
  NetState &s = read;
  MutexTryLock lock(s.vio.mutex, thread);
  if (!begin_io_step(h, s, lock)) {
    return;
  }
  MIOBuffer *writer = s.vio.buffer.writer();
  if (s.vio.ntodo() <= 0) {
    disable(s);
    return;
  }
  if (_read_end_event != 0) {
    deliver_read_end(s);
    return;
  }
  if (_fatal) {
    s.triggered = false; // OpenSSL failed earlier: no more SSL calls, the same answer
    (void)signal_error(s, lerrno != 0 ? lerrno : ENET_SSL_FAILED);
    return;
  }
  bool had_no_block = writer->writer_block() == nullptr;
  if (writer->release_when_drained) {
    writer->restore_block_size();
  }
  int64_t toread = std::min(writer->write_avail(), s.vio.ntodo());
  int64_t total  = 0;
  int end_event  = 0;
  int end_errno  = 0;
  bool drained   = false;
  while (total < toread) {
    int64_t chunk = std::min<int64_t>({writer->block_write_avail(), toread - total, INT_MAX});
    if (chunk <= 0) {
      break;
    }
    clear_errors();
    int n = SSL_read(_ssl.get(), writer->end(), static_cast<int>(chunk));
    net_count(net_counters().calls_to_read);
    h.note_io();
    if (n > 0) {
      writer->fill(n);
      total += n;
      continue;
    }
    end_event = classify_read_end(n, &end_errno);
    drained   = end_event == 0;
    break;
  }
  if (socket_error != 0 && (end_event == VC_EVENT_EOS || drained)) {
    // A reset captured from the poller ends the read once the socket is empty, as in the plain
    // read path: what OpenSSL could still decrypt came first, the error follows (next round).
    end_event = VC_EVENT_ERROR;
    end_errno = socket_error;
    drained   = false;
  }
  if (drained) {
    s.triggered = false;
    h.read_ready_list.remove(this);
  }
  if (total <= 0) {
    if (end_event != 0) {
      _read_end_event = end_event;
      _read_end_errno = end_errno;
      deliver_read_end(s);
      return;
    }
    if (drained) {
      net_count(net_counters().calls_to_read_nodata);
      writer->release_if_at_rest();
      return;
    }
    disable(s); // a full buffer: stop without an event, the SM reenables after consuming
    return;
  }
  // EOS / ERROR after data: the data first (docs/events.md); the end follows on the next round.
  _read_end_event = end_event;
  _read_end_errno = end_errno;
  finish_read(lock, total, had_no_block);
}

// --- Writing -------------------------------------------------------------------------------------------------

int64_t
SSLNetVConnection::load_buffer_and_write(int64_t towrite, MIOBufferAccessor &buf, int64_t &total_written, uint32_t &needs)
{
  if (_fatal) {
    return -ENET_SSL_FAILED; // OpenSSL failed earlier: no more SSL calls
  }
  IOBufferReader *reader = buf.reader();
  int64_t r              = 0;
  while (total_written < towrite) {
    // The first contiguous piece at the reader's position.
    IOBufferBlock *b = reader->block.get();
    int64_t offset   = reader->start_offset;
    while (b != nullptr && b->read_avail() - offset <= 0) {
      offset -= b->read_avail();
      offset = std::max<int64_t>(offset, 0);
      b      = b->next.get();
    }
    if (b == nullptr) {
      break;
    }
    int64_t len = std::min<int64_t>({b->read_avail() - offset, towrite - total_written, INT_MAX});
    if (_redo_write_size > 0) {
      // After WANT_WRITE OpenSSL has part of a record out already: retry with the same length
      // (ATS TS-4424); the bytes are the same, nothing was consumed.
      len = std::min<int64_t>(len, _redo_write_size);
    }
    clear_errors();
    int n = SSL_write(_ssl.get(), b->start() + offset, static_cast<int>(len));
    net_count(net_counters().calls_to_write);
    if (n > 0) {
      _redo_write_size = 0;
      reader->consume(n);
      total_written += n;
      r = n;
      continue;
    }
    int e = SSL_get_error(_ssl.get(), n);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
      _redo_write_size = static_cast<int>(len);
      needs |= e == SSL_ERROR_WANT_WRITE ? kWritable : kReadable;
      return -EAGAIN;
    }
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      _fatal = true;
      return errno != 0 ? -errno : -EPIPE;
    }
    return -note_failure(e, n);
  }
  needs |= kWritable;
  return r;
}

// --- Shutting down -----------------------------------------------------------------------------------------

void
SSLNetVConnection::before_socket_close()
{
  // TLS has input the user never asks for (a TLS 1.3 server's session tickets reach a client that
  // only writes): the graceful close that follows reads it away, so the close_notify and the end
  // of the user's data are not lost to a reset.
  send_close_notify();
}

void
SSLNetVConnection::send_close_notify()
{
  // close_notify, so the peer can tell the end from a truncation. Not after a fatal error
  // (OpenSSL forbids it) nor before the handshake completed (there is no session to close).
  if (_ssl != nullptr && !handshake_pending && !_fatal && (SSL_get_shutdown(_ssl.get()) & SSL_SENT_SHUTDOWN) == 0) {
    clear_errors();
    (void)SSL_shutdown(_ssl.get());
    clear_errors();
  }
}

void
SSLNetVConnection::do_io_shutdown(ShutdownHowTo_t howto)
{
  // The SSL object is the owner thread's: from another thread only the TCP half-close is sent.
  if (howto != IO_SHUTDOWN_READ && is_owner_thread()) {
    send_close_notify();
  }
  UnixNetVConnection::do_io_shutdown(howto);
}

void
SSLNetVConnection::move_kind_state_to(UnixNetVConnection *nvc)
{
  auto *to       = static_cast<SSLNetVConnection *>(nvc);
  to->server_ctx = server_ctx;
  to->client_ctx = client_ctx;
  to->_ssl       = std::move(_ssl); // the socket (and so the BIO's fd) is the same
  if (to->_ssl != nullptr) {
    SSL_set_app_data(to->_ssl.get(), to);
  }
  to->_close_notify_received   = _close_notify_received;
  to->handshake_pending        = handshake_pending;
  to->_error                   = _error;
  to->_timeout_after_handshake = _timeout_after_handshake;
  to->_redo_write_size         = _redo_write_size;
  to->_read_end_event          = _read_end_event;
  to->_read_end_errno          = _read_end_errno;
  to->_wants                   = _wants;
  to->_fatal                   = _fatal;
  to->_restore_timeout         = _restore_timeout;
  if (to->_restore_timeout) {
    to->inactivity_timeout_in = inactivity_timeout_in;
  }
}

// --- Inspection ----------------------------------------------------------------------------------------------

TLSInfo
SSLNetVConnection::info() const
{
  TLSInfo i;
  i.handshake_complete    = !handshake_pending;
  i.close_notify_received = _close_notify_received;
  i.error                 = _error;
  if (_ssl == nullptr) {
    if (!server_ctx) {
      i.server_name = options.sni_servername;
    }
    return i;
  }
  if (const char *sni = SSL_get_servername(_ssl.get(), TLSEXT_NAMETYPE_host_name)) {
    i.server_name = sni;
  }
  if (!handshake_pending) {
    i.version = SSL_get_version(_ssl.get());
    if (const SSL_CIPHER *c = SSL_get_current_cipher(_ssl.get())) {
      i.cipher = SSL_CIPHER_get_name(c);
    }
    const unsigned char *alpn = nullptr;
    unsigned int alpn_len     = 0;
    SSL_get0_alpn_selected(_ssl.get(), &alpn, &alpn_len);
    if (alpn != nullptr) {
      i.alpn.assign(reinterpret_cast<const char *>(alpn), alpn_len);
    }
  }
  return i;
}

void
tls_info_callback(const SSL *ssl, int where, int ret)
{
  // A close_notify alert read from the peer (an end of stream without one is a FIN alone, which
  // SSL_OP_IGNORE_UNEXPECTED_EOF also reports as SSL_ERROR_ZERO_RETURN).
  if ((where & SSL_CB_READ_ALERT) != 0 && (ret & 0xff) == SSL3_AD_CLOSE_NOTIFY) {
    if (auto *vc = static_cast<SSLNetVConnection *>(SSL_get_app_data(ssl))) {
      vc->_close_notify_received = true;
    }
  }
}

std::optional<TLSInfo>
tls_info(NetVConnection *vc)
{
  if (auto *svc = dynamic_cast<SSLNetVConnection *>(vc)) {
    return svc->info();
  }
  return std::nullopt;
}
} // namespace iocore
