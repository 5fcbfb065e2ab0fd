#include "agent/access/audit_log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace faultline::agent {
namespace {

// mkdir -p with mode 0700 for the directories it creates: an audit trail
// should not be listable by everyone just because its directory was missing.
absl::Status MakeParents(const std::filesystem::path& file) {
  const std::filesystem::path parent = file.parent_path();
  if (parent.empty()) return absl::OkStatus();
  std::filesystem::path partial;
  for (const std::filesystem::path& part : parent) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoToStatus(errno, absl::StrCat("create audit log directory ", partial.string()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string FormatAuditLine(const AuditRecord& record) {
  // ordered_json keeps the documented key order, which makes lines easy to
  // read by eye and to grep.
  nlohmann::ordered_json line;
  line["time"] = absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", record.time, absl::UTCTimeZone());
  line["rpc"] = record.rpc;
  line["identity"] = record.identity;
  line["authenticated"] = record.authenticated;
  line["peer"] = record.peer;
  if (!record.presented_subject.empty()) line["presented_subject"] = record.presented_subject;
  if (!record.fault_id.empty()) line["fault_id"] = record.fault_id;
  if (!record.run_id.empty()) line["run_id"] = record.run_id;
  if (!record.kind.empty()) line["kind"] = record.kind;
  if (record.has_dry_run) line["dry_run"] = record.dry_run;
  if (!record.params_json.empty()) {
    nlohmann::ordered_json params =
        nlohmann::ordered_json::parse(record.params_json, nullptr, /*allow_exceptions=*/false);
    line["params"] = params.is_discarded() ? nlohmann::ordered_json(record.params_json) : params;
  }
  if (!record.reason.empty()) line["reason"] = record.reason;
  if (record.ttl_ms >= 0) line["ttl_ms"] = record.ttl_ms;
  line["code"] = absl::StatusCodeToString(record.result.code());
  line["message"] = std::string(record.result.message());
  line["elapsed_ms"] = static_cast<int64_t>(record.elapsed.count());
  // Replace, not throw, on invalid UTF-8 from a client-chosen id or reason:
  // the line must be written whatever a caller sent.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("audit log path is empty");
  FL_RETURN_IF_ERROR(MakeParents(path));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("open audit log ", path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, absl::StrCat("stat audit log ", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit log ", path, " is not a regular file"));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(path, std::move(fd)));
}

absl::Status AuditLog::Append(const AuditRecord& record) {
  const std::string line = absl::StrCat(FormatAuditLine(record), "\n");
  // O_APPEND makes each write(2) land whole at the end of the file, so
  // concurrent appenders need no lock. A short write (disk full) is finished
  // with further writes rather than leaving half a line without a newline.
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_.get(), line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrCat("write audit log ", path_));
    }
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_.get()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("sync audit log ", path_));
  }
  return absl::OkStatus();
}

}  // namespace faultline::agent
