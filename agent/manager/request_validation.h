// The checks FaultManager::Apply makes on a request before anything else:
// ids, durations, TTLs, lease, kind, and the spec's own parameter ranges.
// Pure functions (no I/O, no globals, no aborts for any input), so the
// request-validation fuzzer (fuzz/) runs exactly what the agent runs.
#ifndef FAULTLINE_AGENT_MANAGER_REQUEST_VALIDATION_H_
#define FAULTLINE_AGENT_MANAGER_REQUEST_VALIDATION_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "faultline/v1/agent.pb.h"

namespace faultline::agent {

// Longest fault / run id.
inline constexpr size_t kMaxIdLength = 128;

// InvalidArgument unless `id` matches [A-Za-z0-9._-]{1,128}:
// `<field> must match [A-Za-z0-9._-]{1,128}, got "<id, C-escaped, cut at 64>"`.
absl::Status ValidateId(absl::string_view field, const std::string& id);

// The request fields without the spec's parameters: fault_id, run_id,
// duration_ms in 1..max_duration, ttl_ms 0 or duration_ms..max_duration,
// lease_ttl_ms at most max_duration, a kind set. InvalidArgument
// "fault <id>: <what>" (the id error itself has no prefix). FaultManager
// calls this, then its FaultFactory (whose MakeFault runs ValidateSpec).
absl::Status ValidateRequestFields(const v1::ApplyRequest& request,
                                   std::chrono::milliseconds max_duration);

// Everything Apply checks on the request and spec without touching the host:
// ValidateRequestFields + ValidateSpec (per-kind parameter ranges, process
// selectors, network limits), the latter annotated "fault <id>: ". Same
// codes and messages as FaultManager::Apply with the real factory.
absl::Status ValidateApplyRequest(const v1::ApplyRequest& request,
                                  std::chrono::milliseconds max_duration);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_MANAGER_REQUEST_VALIDATION_H_
