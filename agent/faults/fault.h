// Fault: the lifecycle every fault kind implements (see STYLE.md, "Every fault
// has the same lifecycle"). FaultManager drives it:
//
//   MakeFault(spec)        validate the spec, construct; no side effects
//   Prepare()              resolve targets, check the host; no side effects
//   revert_state()         persisted (fsync) by the manager: write-ahead
//   Apply()                inject; all-or-nothing
//   revert_state()         persisted again (now with pids etc.)
//   Observe()              measured figures, any time while active
//   Revert()               converge the host to "my change is absent"
//
// After a crash a fresh process calls MakeFault(spec) + Restore(state) +
// Revert(). A Fault is owned by exactly one FaultManager entry; it is not
// thread-safe and the manager serialises calls to it.
#ifndef FAULTLINE_AGENT_FAULTS_FAULT_H_
#define FAULTLINE_AGENT_FAULTS_FAULT_H_

#include <map>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "faultline/v1/agent.pb.h"

namespace faultline::agent {

// Named figures measured on the host, e.g. {"cpu_load_pct", 49.8}.
using Observation = std::map<std::string, double>;

class Fault {
 public:
  virtual ~Fault() = default;

  // The catalogue name, e.g. "cpu.pressure".
  virtual absl::string_view kind() const = 0;
  // The engine Apply uses on this host, e.g. "stressor+cgroup-v1".
  virtual std::string engine() const = 0;
  // False when the effect cannot be undone (process.kill): Revert() then only
  // stops further action.
  virtual bool reversible() const { return true; }

  // Resolves targets and checks host preconditions without changing the
  // host. NotFound (no matching process), InvalidArgument (spec not
  // satisfiable here, e.g. memory reserve), PermissionDenied (protected
  // process), FailedPrecondition. Idempotent.
  virtual absl::Status Prepare() = 0;

  // Injects the fault. Requires a successful Prepare(). All-or-nothing: on
  // error the host is as it was before the call.
  virtual absl::Status Apply() = 0;

  // Converges the host towards "my change is absent": idempotent, fine
  // without Apply, after Restore in a fresh process, and when the objects
  // vanished on their own. Touches only what revert_state() names.
  virtual absl::Status Revert() = 0;

  // Figures measured on the real host now (not read back from our config).
  virtual Observation Observe() = 0;

  // Everything a fresh process needs to revert this fault. Valid after
  // Prepare() (what Apply may touch) and after Apply() (what it touched).
  virtual v1::RevertState revert_state() const = 0;

  // Loads a persisted revert_state for crash recovery.
  virtual void Restore(const v1::RevertState& state) = 0;

  // What was targeted, for humans: "pids 812,813", "2 workers at 50%".
  virtual std::string target() const = 0;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_FAULT_H_
