// Network faults: validation of the six network.* specs, the choice of engine
// per kind on this host, and construction of the Fault that runs it.
//
//   kind                primary engine          fallback (no sch_netem)
//   network.delay       netem (libnl)           nfqueue (userspace hold loop)
//   network.loss        netem (libnl)           nftables (numgen)
//   network.duplicate   netem (libnl)           -
//   network.corrupt     netem (libnl)           -
//   network.bandwidth   tbf / htb (libnl)       -
//   network.partition   nftables                -
//
// Filtered tc faults hang netem (or a rate class) under an HTB root with u32
// filters so unmatched traffic takes a plain default class. Ingress faults
// redirect the interface's ingress to an IFB the fault owns and shape there.
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_NETWORK_FAULT_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_NETWORK_FAULT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

// True for the network.* cases of FaultSpec.
bool IsNetworkSpec(const v1::FaultSpec& spec);

// Checks every field of a network spec. InvalidArgument naming the field:
// "network.delay: jitter (20ms) must not exceed delay (10ms)". Pure.
absl::Status ValidateNetworkSpec(const v1::FaultSpec& spec);

// The engine a spec would use with `support`: the pinned one if set and
// available, else the best available. FailedPrecondition naming what is
// missing: "network.delay: engine \"netem\" is not available on this host:
// kernel has no sch_netem". Pure.
absl::StatusOr<std::string> ChooseNetworkEngine(const v1::FaultSpec& spec,
                                                const NetworkSupport& support);

// ValidateNetworkSpec + ChooseNetworkEngine + construct. No side effects.
absl::StatusOr<std::unique_ptr<Fault>> MakeNetworkFault(const v1::FaultSpec& spec,
                                                        const FaultContext& context);

// One KindCapability per network kind, engines preferred first.
std::vector<v1::KindCapability> NetworkCapabilities(const NetworkSupport& support);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_NETWORK_FAULT_H_
