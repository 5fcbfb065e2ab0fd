// memory.pressure: keeps `size_bytes` (or `percent` of MemTotal) resident in
// a faultline-stressor child of the agent that touches every page (at once
// or spread over `ramp_ms`) and sets its oom_score_adj to 1000 so that the
// OOM killer picks it first. The stressor sits in a per-fault memory cgroup
// created under the agent's own memory cgroup.
//
// Engine: "stressor+cgroup-v1" (or "-v2") when a memory hierarchy is usable,
// else "stressor". Prepare() refuses (InvalidArgument, before anything is
// allocated) a request that would leave less than
// FaultContext::memory_reserve_pct of MemTotal available.
//
// revert_state(): after Prepare, the cgroup path (derived from the fault
// id); after Apply, also the stressor's {pid, start_time}. Observe():
// "rss_bytes" of the stressor (/proc/PID/stat) and "target_bytes". A
// MemoryPressureFault is not thread-safe; FaultManager serialises calls (see
// fault.h for the lifecycle and the error contract).
#ifndef FAULTLINE_AGENT_FAULTS_MEMORY_PRESSURE_H_
#define FAULTLINE_AGENT_FAULTS_MEMORY_PRESSURE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"

namespace faultline::agent {

// Field checks that need no host: exactly one of size_bytes / percent,
// percent in (0, 100], ramp_ms <= 1h. InvalidArgument naming field and
// value, e.g. "memory.pressure: percent must be in (0, 100], got 150". Pure.
absl::Status ValidateMemoryPressure(const v1::MemoryPressure& spec);

// ValidateMemoryPressure + construct. No side effects.
absl::StatusOr<std::unique_ptr<Fault>> MakeMemoryPressureFault(const v1::MemoryPressure& spec,
                                                               const FaultContext& context);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_MEMORY_PRESSURE_H_
