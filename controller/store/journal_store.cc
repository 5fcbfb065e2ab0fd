#include "controller/store/journal_store.h"

#include "absl/strings/str_cat.h"

namespace faultline::controller {

namespace {
constexpr RunStatus kAllStatuses[] = {RunStatus::kRunning, RunStatus::kPassed,
                                      RunStatus::kDeviated, RunStatus::kAborted,
                                      RunStatus::kFailed, RunStatus::kInterrupted,
                                      RunStatus::kSkipped};
}  // namespace

std::string RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kPassed:
      return "passed";
    case RunStatus::kDeviated:
      return "deviated";
    case RunStatus::kAborted:
      return "aborted";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kInterrupted:
      return "interrupted";
    case RunStatus::kSkipped:
      return "skipped";
  }
  return "unknown";
}

absl::StatusOr<RunStatus> ParseRunStatus(const std::string& name) {
  for (RunStatus status : kAllStatuses) {
    if (RunStatusName(status) == name) return status;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown run status \"", name,
                   "\": want running, passed, deviated, aborted, failed, interrupted or skipped"));
}

bool IsFinal(RunStatus status) { return status != RunStatus::kRunning; }

}  // namespace faultline::controller
