// The access log of the `iocore` command (--access-log FILE|-): one line per finished connection,
// naming the peer(s), bytes each way, duration and why it ended. Written from any net thread.
#pragma once

#include <iocore/eventsystem/Time.h>
#include <iocore/net/IpEndpoint.h>

#include <cstdint>
#include <string>

namespace iocore_cli {
/// Why a connection ended, as the access log spells it.
enum class EndReason { kEof, kTimeout, kError, kDrain };

const char *end_reason_name(EndReason reason);

struct AccessRecord {
  const char *mode = "";
  std::string client;
  std::string upstream;            ///< proxy only ("-" when no upstream answered)
  int64_t bytes_in            = 0; ///< received from the client
  int64_t bytes_out           = 0; ///< sent to the client
  iocore::ink_hrtime duration = 0;
  EndReason end               = EndReason::kEof;
  int64_t requests            = -1; ///< http only
  std::string detail;               ///< optional, e.g. the errno name behind an error
};

/// Open the log ("-" is stdout). False with a message when the file cannot be opened.
bool open_access_log(const std::string &target, std::string &error);
bool is_access_log_enabled();
/// Append one line for the record (no-op when the log is off).
void write_access_log(const AccessRecord &record);
void close_access_log();

/// "ECONNRESET" for an errno value (for the detail field).
std::string errno_name(int err);

/// "1.2.3.4:5" for a connection's peer.
std::string endpoint_string(const sockaddr *addr);
} // namespace iocore_cli
