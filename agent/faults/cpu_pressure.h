// cpu.pressure: burns CPU in `workers` threads, each at `load_pct` of one
// core, in a faultline-stressor child of the agent (closed-loop duty cycle,
// see agent/stressor/duty_cycle.h) placed in a per-fault cpuacct cgroup.
//
// Engine: "stressor+cgroup-v1" (or "-v2") when a cpuacct (v2: any) hierarchy
// is usable, else "stressor". The stressor is deliberately *not* put into a
// cpu-controller cgroup: a cgroup competes like a single task, so N workers
// in one would get one task's share under contention instead of N.
//
// Spec semantics: workers 0 = one per listed core if `cores` is set, else
// one per online core; workers are pinned round-robin to `cores`.
//
// revert_state(): after Prepare, the cgroup path(s) (derived from the fault
// id); after Apply, also the stressor's {pid, start_time}. Observe():
// "cpu_load_pct" — CPU per worker measured on the host (cpuacct.usage, or
// /proc/PID/stat) over the interval since the previous Observe (or Apply) —
// and "workers". A CpuPressureFault is not thread-safe; FaultManager
// serialises calls (see fault.h for the lifecycle and the error contract).
#ifndef FAULTLINE_AGENT_FAULTS_CPU_PRESSURE_H_
#define FAULTLINE_AGENT_FAULTS_CPU_PRESSURE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"

namespace faultline::agent {

// Field checks that need no host: load_pct 1..100, workers 0..1024, cores
// each < 4096 and distinct. InvalidArgument naming field and value, e.g.
// "cpu.pressure: load_pct must be 1..100, got 0". Pure.
absl::Status ValidateCpuPressure(const v1::CpuPressure& spec);

// ValidateCpuPressure + construct. No side effects.
absl::StatusOr<std::unique_ptr<Fault>> MakeCpuPressureFault(const v1::CpuPressure& spec,
                                                            const FaultContext& context);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_CPU_PRESSURE_H_
