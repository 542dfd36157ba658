// IoBackend: the choice between epoll and io_uring for the net threads, made once by
// netProcessor.start(), and the poller each net thread then makes for itself.
#pragma once

#include "iocore/net/NetProcessor.h"

#include "net/Poller.h"

#include <memory>
#include <string>

namespace iocore {
/// Settle NetConfig::io_backend (and IOCORE_IO_BACKEND for kAuto) to kEpoll or kIoUring, probing
/// io_uring on the calling thread. False, with the reason in `error`, when io_uring was asked for
/// and is not available (or the environment variable is not understood).
bool choose_io_backend(std::string &error);
/// The poller of the chosen backend for the calling net thread (nullptr, with why, on failure).
std::unique_ptr<Poller> make_backend_poller(std::string &why);
} // namespace iocore
