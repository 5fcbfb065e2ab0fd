// StressorFault: the lifecycle shared by the faults whose effect is a
// faultline-stressor child process (cpu.pressure, memory.pressure). It owns
// the per-fault cgroup, spawning with a readiness handshake, revert state,
// and the converging Revert(); subclasses supply the host checks, the
// stressor's arguments and Observe().
//
//   Prepare()  checks the fault id, detects cgroups (chooses the hierarchy
//              via ChooseHierarchy), then PrepareKind(). No side effects.
//   Apply()    creates <hierarchy>/<cgroup_parent>/<fault_id>, spawns the
//              stressor inside it with --parent-pid <agent> and waits until
//              it reports ready. On any error it kills what it started and
//              removes the cgroup, then returns the error.
//   Revert()   SIGKILLs the recorded stressor (pid + start time, so a
//              reused pid is never hit), reaps it if it is our child, kills
//              whatever else is in the cgroup and removes the cgroup.
//              Idempotent; works after Restore() in a fresh process.
//
// Not thread-safe (see fault.h): FaultManager serialises calls.
#ifndef FAULTLINE_AGENT_FAULTS_STRESSOR_FAULT_H_
#define FAULTLINE_AGENT_FAULTS_STRESSOR_FAULT_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "agent/host/cgroup.h"
#include "agent/host/spawn.h"

namespace faultline::agent {

class StressorFault : public Fault {
 public:
  std::string engine() const override;
  absl::Status Prepare() override;
  absl::Status Apply() override;
  absl::Status Revert() override;
  v1::RevertState revert_state() const override;
  void Restore(const v1::RevertState& state) override;

 protected:
  explicit StressorFault(FaultContext context) : context_(std::move(context)) {}

  // The hierarchy for this kind's cgroup, or nullopt to run without one.
  virtual std::optional<CgroupHierarchy> ChooseHierarchy(const CgroupLayout& layout) const = 0;
  // Controllers to delegate to the fault cgroup in a v2 hierarchy.
  virtual std::vector<std::string> V2Controllers() const = 0;
  // Kind-specific host checks (InvalidArgument when the spec cannot be met
  // here). Called by Prepare() after the common checks.
  virtual absl::Status PrepareKind() = 0;
  // Stressor arguments after the binary: mode and its flags.
  virtual std::vector<std::string> StressorArgs() const = 0;
  // Called once the stressor runs (e.g. to take a measurement baseline).
  virtual void OnStarted() {}

  const FaultContext& context() const { return context_; }
  // The running stressor (set by Apply or Restore, cleared by Revert).
  const std::optional<SpawnedProcess>& stressor() const { return stressor_; }
  // "" when running without a cgroup.
  const std::string& cgroup_path() const { return cgroup_path_; }

 private:
  absl::Status StartStressor();
  absl::Status Cleanup();

  FaultContext context_;
  bool prepared_ = false;
  int cgroup_version_ = 0;  // 0 = no cgroup
  std::string cgroup_path_;
  std::optional<SpawnedProcess> stressor_;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_STRESSOR_FAULT_H_
