// The agent's audit trail: one JSON object per line, appended to a file that
// is never truncated or rewritten. AgentServiceImpl writes a line for every
// Apply (dry runs too), Revert, RenewLease and Halt whatever the result, and
// for every refused call of any RPC (Unauthenticated, PermissionDenied).
//
//   {"time":"2026-11-27T21:40:01.123Z","rpc":"Apply",
//    "identity":"CN=faultline-controller,O=faultline","authenticated":true,
//    "peer":"198.18.0.1","fault_id":"f1","run_id":"r1","kind":"network.delay",
//    "dry_run":false,"params":{"network_delay":{"delay_ms":100}},
//    "code":"OK","message":"","elapsed_ms":3}
//
// Always present: time (UTC, milliseconds), rpc, identity ("anonymous" for
// plaintext callers, "unauthenticated" when a presented certificate was
// refused), authenticated, peer (IP, "" for a unix socket), code (canonical
// name, e.g. "PERMISSION_DENIED"), message ("" when OK), elapsed_ms. Only
// when set: presented_subject (the subject of a refused certificate, as
// claimed by the client), fault_id, run_id, kind, dry_run (Apply), params (the
// fault spec, proto3 JSON with the .proto field names), reason (Halt), ttl_ms
// (RenewLease).
//
// The file is opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC with mode 0600; each
// line is one write(2) followed by fdatasync, so concurrent writers (threads
// or processes) never interleave partial lines and a line that Append
// returned OK for survives a crash.
#ifndef FAULTLINE_AGENT_ACCESS_AUDIT_LOG_H_
#define FAULTLINE_AGENT_ACCESS_AUDIT_LOG_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace faultline::agent {

// One audited call. Empty strings and unset optionals are left out of the line.
struct AuditRecord {
  absl::Time time = absl::UnixEpoch();
  std::string rpc{};       // "Apply", "Revert", "RenewLease", "Halt", "List", "Capabilities"
  std::string identity{};  // PeerIdentity::Name(), or "unauthenticated"
  bool authenticated = false;
  std::string peer{};               // the caller's IP, "" for a unix socket
  std::string presented_subject{};  // a refused certificate's claimed subject
  std::string fault_id{};
  std::string run_id{};
  std::string kind{};
  bool has_dry_run = false;  // Apply: writes "dry_run"
  bool dry_run = false;
  std::string params_json{};  // a JSON object (the fault spec); "" = none
  std::string reason{};
  int64_t ttl_ms = -1;  // < 0 = none
  absl::Status result{};
  std::chrono::milliseconds elapsed{0};
};

// The line for `record`, without the trailing newline. A params_json that is
// not valid JSON is kept as a string under "params". Pure.
std::string FormatAuditLine(const AuditRecord& record);

// An open audit file. Thread-safe; many AuditLog objects (or processes) may
// append to the same file.
class AuditLog {
 public:
  // Creates missing parent directories (0700) and opens `path` for
  // appending, creating it with mode 0600. An existing file is kept as it
  // is. Errors (canonical code of the errno) name the file: "open audit log
  // /var/log/faultline/audit.jsonl: permission denied".
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path);

  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends FormatAuditLine(record) + "\n" in one write(2), then fdatasync.
  // Errors name the file ("write audit log /x: no space left on device");
  // a line may then be missing or, if the disk filled up mid-write, cut
  // short. Not idempotent: each call appends a line.
  absl::Status Append(const AuditRecord& record);

  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  const std::string path_;
  const UniqueFd fd_;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_ACCESS_AUDIT_LOG_H_
