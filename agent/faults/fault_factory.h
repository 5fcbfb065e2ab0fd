// Fault construction from the wire spec: the single switch over fault kinds.
// Validates every field of the spec (the agent never trusts the controller)
// and builds the matching Fault subclass. No side effects on the host.
#ifndef FAULTLINE_AGENT_FAULTS_FAULT_FACTORY_H_
#define FAULTLINE_AGENT_FAULTS_FAULT_FACTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/network/support.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

// What a fault may need to know about the agent that runs it.
struct FaultContext {
  std::string fault_id;
  // The faultline-stressor binary (cpu.pressure, memory.pressure workers).
  std::string stressor_path;
  // Name of the cgroup directory under which per-fault cgroups are created
  // (in every hierarchy that is used), e.g. "faultline".
  std::string cgroup_parent = "faultline";
  // Memory that must stay available after memory.pressure, % of MemTotal.
  double memory_reserve_pct = 10.0;
  // Processes that must never be signalled besides the always protected ones
  // (pid 1, comm "sshd", the agent, its ancestors now and at start): the
  // agent's --parent-pid and any other pid the agent was told to protect.
  std::vector<int> protected_pids;
  // The agent's ancestors when it started (FaultManager fills it): still
  // protected after the agent is reparented (a pid reused after such an
  // ancestor exited stays protected too: the safe side).
  std::vector<int> agent_ancestors;
  // Policy protected_processes entries: a comm / executable name, or
  // "cmdline:<substring>" (agent/policy/policy.h). A process fault whose
  // targets include a match is refused (PermissionDenied).
  std::vector<std::string> protected_processes;
  // Network faults: what the kernel offers (detected at agent start) and the
  // control channel every network fault exempts unless the spec sets
  // allow_control_plane: the agent's TCP listening port (0 on a unix socket)
  // and the address of the caller of Apply ("" when unknown / unix).
  NetworkSupport network;
  int control_port = 0;
  std::string caller_address;
};

// The catalogue name of the kind set in `spec` ("cpu.pressure"), or "" if
// none is set.
std::string KindName(const v1::FaultSpec& spec);

// Kinds this build knows, in catalogue order.
std::vector<std::string> KnownKinds();

// Checks every field of `spec`. InvalidArgument naming the field, e.g.
// "cpu.pressure: load_pct must be 1..100, got 0". Pure.
absl::Status ValidateSpec(const v1::FaultSpec& spec);

// ValidateSpec + construct. InvalidArgument as above.
absl::StatusOr<std::unique_ptr<Fault>> MakeFault(const v1::FaultSpec& spec,
                                                 const FaultContext& context);

// What this host can run, for AgentService.Capabilities: one entry per
// KnownKinds() kind with its engines, preferred first (cpu/memory:
// "stressor+cgroup-v2" and/or "stressor+cgroup-v1" when that controller is
// mounted, then "stressor"; process kinds: "pidfd"). A kind is unavailable
// when this build lacks it or, for stressor kinds, when
// context.stressor_path is not executable; `reason` says why. Reads
// /proc/self/mountinfo and cgroup files; changes nothing.
std::vector<v1::KindCapability> HostCapabilities(const FaultContext& context);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_FAULT_FACTORY_H_
