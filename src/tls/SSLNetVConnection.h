// SSLNetVConnection: a UnixNetVConnection that speaks TLS (OpenSSL over the non-blocking socket).
//
// The handshake runs in the NetHandler's pass (handshake_io), one SSL_do_handshake step each time
// the socket becomes ready in the direction OpenSSL asked for, whichever of the user's VIOs is
// enabled: the user sees no event until the handshake is done, then READ_READY as data is decrypted
// and WRITE_READY as for plain TCP (ATS master: the first WRITE_READY is held back until the
// handshake completes, so an SM's connect timeout covers the handshake too; 7.1 sent one before it).
// A failed handshake is VC_EVENT_ERROR with lerrno ENET_SSL_FAILED (or the socket's errno) on the
// read VIO if enabled, else the write VIO. After the handshake, net_read_io reads with SSL_read and
// load_buffer_and_write writes with SSL_write; everything else (lists, timeouts, closing) is the
// plain connection's.
#pragma once

#include "iocore/tls/TLS.h"

#include "net/UnixNetVConnection.h"
#include "tls/OpenSslPtr.h"

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace iocore {
class AcceptGroup;

class SSLNetVConnection final : public UnixNetVConnection
{
public:
  static SSLNetVConnection *alloc();
  /// The factory of TLS listeners: a server-side VC bound to the group's TLSServerContext.
  static UnixNetVConnection *alloc_for_accept(const AcceptGroup &group);
  void free_thread(EThread *t) override;

  /// TLS bytes are encrypted: they cannot bypass user space.
  bool can_splice() const override { return false; }
  void net_read_io(NetHandler &nh) override;
  int64_t load_buffer_and_write(int64_t towrite, MIOBufferAccessor &buf, int64_t &total_written, uint32_t &needs) override;
  void handshake_io(NetHandler &nh) override;
  void before_socket_close() override;
  void do_io_shutdown(ShutdownHowTo_t howto) override;
  UnixNetVConnection *alloc_same_kind() override { return alloc(); }
  void move_kind_state_to(UnixNetVConnection *nvc) override;

  TLSInfo info() const;

  /// Server side: the certificates and settings (set by alloc_for_accept). Null on the client side.
  std::shared_ptr<const TLSServerContext> server_ctx;
  /// Client side: the context for options.verify_peer / ca_file (set by sslNetProcessor.connect_re).
  SSL_CTX *client_ctx = nullptr;

private:
  SSLNetVConnection();
  ~SSLNetVConnection() override;
  friend class ClassAllocator<SSLNetVConnection>;

  friend void tls_info_callback(const SSL *ssl, int where, int ret);

  /// close_notify, unless the handshake never finished, OpenSSL failed, or it was sent already.
  void send_close_notify();
  /// Create the SSL object for the socket (first handshake step). False (with _error) on failure.
  bool start_tls();
  void finish_handshake(NetHandler &h);
  /// The handshake failed for good: counted, reported once to the VIO of `s`, never driven again.
  void fail_handshake(NetState &s, int err);
  /// Record why TLS failed (OpenSSL's error queue, or the verification result) and return lerrno.
  int note_failure(int ssl_error, int ret);
  /// What an SSL_read that returned nothing means: 0 for "wait for the socket", else the event
  /// (VC_EVENT_EOS / VC_EVENT_ERROR with *err).
  int classify_read_end(int ret, int *err);
  /// Deliver an end of stream or error seen after data that has now been reported.
  void deliver_read_end(NetState &s);

  SslPtr _ssl;
  std::string _error;
  std::optional<ink_hrtime> _timeout_after_handshake; ///< the inactivity timeout to restore (server)
  int _redo_write_size        = 0;                    ///< OpenSSL wants a retried write to be the same
  int _read_end_event         = 0;                    ///< EOS / ERROR held back behind data
  int _read_end_errno         = 0;
  uint32_t _wants             = kReadable | kWritable; ///< what the handshake waits for
  bool _fatal                 = false;                 ///< OpenSSL failed: no close_notify, no more IO
  bool _restore_timeout       = false;
  bool _close_notify_received = false;
};
} // namespace iocore
