// `iocore http`: an HTTP/1.1 responder. Every well-formed request is answered 200 with the
// configured body (HEAD: headers only), with keep-alive and pipelining; malformed requests get 400,
// oversized heads 431, and the connection is then closed after a lingering read.
#pragma once

#include "Options.h"

#include <iocore/iocore.h>

#include <string>

namespace iocore_cli {
/// What every session of one responder shares (read-only once serving starts).
struct HttpResponderConfig {
  std::string body;
  CommonOptions common;
};

/// Start an http session on a freshly accepted connection (called on its thread, holding its mutex).
/// `config` must outlive every session.
void start_http_session(iocore::NetVConnection *vc, const HttpResponderConfig &config);
} // namespace iocore_cli
