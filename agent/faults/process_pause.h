// process.pause: SIGSTOPs the processes a v1::ProcessTarget selects and
// SIGCONTs them on revert, expiry, halt and crash recovery. Built by
// fault_factory.cc and driven by FaultManager through the Fault lifecycle.
//
//   Prepare()  resolves the target (process_target.h) and records the chosen
//              (pid, start_time) pairs in revert_state() BEFORE Apply, so a
//              crash in the middle of Apply can still be reverted. count /
//              percent pick the OLDEST matches by (start_time, pid). Processes
//              that are already stopped or traced (state T / t) are not
//              selected: someone else owns their stopped state.
//   Apply()    opens a pidfd for every recorded target, then SIGSTOPs them;
//              all-or-nothing: a signal failing for any reason other than
//              "exited" SIGCONTs the ones already stopped and returns the
//              error. Targets that exited since Prepare are skipped (if all
//              did: NotFound). Waits briefly for the stops to show in /proc.
//   Revert()   SIGCONTs every recorded process whose (pid, start_time) still
//              matches; gone processes are fine. Idempotent, and works in a
//              fresh process after Restore().
//   Observe()  paused (targets now in state T or t), targets.
//
// The fault object is not thread-safe; FaultManager serialises calls.
#ifndef FAULTLINE_AGENT_FAULTS_PROCESS_PAUSE_H_
#define FAULTLINE_AGENT_FAULTS_PROCESS_PAUSE_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

// Checks every field. InvalidArgument naming field and value, e.g.
// "process.pause: count and percent are mutually exclusive". Pure.
absl::Status ValidateProcessPause(const v1::ProcessPause& spec);

// ValidateProcessPause + construct. No side effects on the host.
absl::StatusOr<std::unique_ptr<Fault>> MakeProcessPauseFault(const v1::ProcessPause& spec,
                                                             const FaultContext& context);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_PROCESS_PAUSE_H_
