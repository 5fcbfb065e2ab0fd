// process.kill: sends a signal to the processes a v1::ProcessTarget selects,
// once or every `interval_ms` until reverted. Built by fault_factory.cc and
// driven by FaultManager through the Fault lifecycle.
//
//   Prepare()  resolves the target (process_target.h): protected processes
//              never match; count / percent pick the OLDEST matches, ordered
//              by (start_time, pid) ascending. No signal is sent.
//   Apply()    opens a pidfd for every selected (pid, start_time) first, then
//              signals them, so nothing is signalled when any target cannot
//              be pinned (processes that exited meanwhile are skipped; if all
//              did: NotFound). With interval_ms > 0 a background thread then
//              re-resolves every interval and signals processes it has not
//              signalled yet (same count / percent over those, per round).
//   Revert()   a kill cannot be undone (reversible() is false): Revert only
//              stops and joins the repeat thread, promptly, and returns OK.
//   Observe()  signals_sent, processes_matched (distinct processes seen
//              matching over the fault's life), rounds (Apply counts as 1).
//   revert_state() is empty: there is nothing to undo after a crash.
//
// Signals: 0 means SIGKILL; 1..64 are accepted except the stop signals
// (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU), which would leave processes stopped
// with nothing to resume them: use process.pause for that.
//
// The fault object is driven by one thread (the manager); its repeat thread
// shares state with it under an internal mutex. The destructor stops the
// repeat thread.
#ifndef FAULTLINE_AGENT_FAULTS_PROCESS_KILL_H_
#define FAULTLINE_AGENT_FAULTS_PROCESS_KILL_H_

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

// The shortest repeat interval accepted (interval_ms 1..99 is rejected).
inline constexpr std::chrono::milliseconds kMinKillInterval{100};

// Checks every field. InvalidArgument naming field and value, e.g.
// "process.kill: exactly one of pid, name, cmdline must be set",
// "process.kill: signal must be in 1..64 (0 = SIGKILL), got 65",
// "process.kill: interval_ms must be 0 or in 100..86400000, got 50". Pure.
absl::Status ValidateProcessKill(const v1::ProcessKill& spec);

// ValidateProcessKill + construct. No side effects on the host.
absl::StatusOr<std::unique_ptr<Fault>> MakeProcessKillFault(const v1::ProcessKill& spec,
                                                            const FaultContext& context);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_PROCESS_KILL_H_
