// `iocore http`: an HTTP/1.1 responder. Every well-formed request is answered 200 with the
// configured body (HEAD: headers only), with keep-alive and pipelining. A request that cannot be
// served gets its error answer (400, 405, 408, 413, 431, 501, 505: see HttpParseStatus) and the
// connection is then closed after a lingering read.
#pragma once

#include "Options.h"

#include <iocore/iocore.h>

#include <string>
#include <string_view>

namespace iocore_cli {
/// What every session of one responder shares (read-only once serving starts).
class HttpResponderConfig
{
public:
  CommonOptions common;
  /// Request bodies over this get 413 before they are read; unset: no limit.
  std::optional<int64_t> max_body_size = kDefaultMaxBodySize;

  /// Take the http settings (body, limits, timeouts) of a run.
  void configure(const Options &options);

  /// Set the body every 200 answers with. A body larger than kCopyBodyMax is laid out once in
  /// read-only blocks that each response references instead of copying (refcounts are atomic, so
  /// sessions on every thread share them); only a smaller one is kept as a string.
  void set_body(std::string_view body);
  /// Set a body of `size` bytes, "xx...x\n" (--body-size), written straight into its blocks: the
  /// body is in memory once, not also as a string it was copied from.
  void set_generated_body(int64_t size);
  int64_t body_size() const { return _body_size; }
  /// The body, when it is small enough to copy into each response (shared_body() is null).
  const std::string &small_body() const { return _small_body; }
  /// The body's shared blocks, or null when the body is small enough to copy into each response.
  iocore::IOBufferBlock *shared_body() const { return _shared_body.get(); }

  /// Bodies up to this size are copied into the response; a block reference costs about as much.
  static constexpr size_t kCopyBodyMax = 2048;

private:
  /// Lay out a body of `size` bytes in fresh blocks, with fill(buffer) writing exactly those bytes.
  template <class Fill> void share_body(int64_t size, Fill fill);

  int64_t _body_size = 0;
  std::string _small_body;
  iocore::Ptr<iocore::IOBufferBlock> _shared_body;
};

/// Start an http session on a freshly accepted connection (called on its thread, holding its mutex).
/// `config` must outlive every session.
void start_http_session(iocore::NetVConnection *vc, const HttpResponderConfig &config);
} // namespace iocore_cli
