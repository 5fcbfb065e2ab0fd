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
// filters so unmatched traffic is left alone (tc_fault.h has the layouts).
// Ingress faults redirect the interface's ingress to an IFB the fault owns
// and shape there. Detection of what the kernel offers: support.h.
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_NETWORK_FAULT_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_NETWORK_FAULT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "common/network_limits.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

// The prefix type and parser the agent shares with the controller
// (common/network_limits.h), under their agent names.
using ::faultline::FormatIpPrefix;
using ::faultline::IpPrefix;
using ::faultline::ParseIpPrefix;

// True for the network.* cases of FaultSpec.
bool IsNetworkSpec(const v1::FaultSpec& spec);

// The target of a network spec; the empty default for other kinds.
const v1::NetworkTarget& NetworkTargetOf(const v1::FaultSpec& spec);

// Checks every field of a network spec against the ranges in faults.proto
// and the caps in common/network_limits.h (the controller checks the same
// caps) and reports every problem at once. InvalidArgument naming the fields:
// "network.delay: jitter_us (20000) must not exceed delay_us (10000);
// target.ports[0] must be a port 1..65535, got 0". Pure.
absl::Status ValidateNetworkSpec(const v1::FaultSpec& spec);

// The engine a spec would use with `support`: the pinned one if set and
// available, else the best available (bandwidth: tbf unfiltered, htb
// filtered). Filters need htb + u32 and ingress needs ifb for the tc
// engines; the fallbacks refuse netem-only parameters. FailedPrecondition
// naming what is missing: "network.delay: engine \"netem\" is not available
// on this host: kernel has no sch_netem", or "network.loss: no engine on this
// host can run this spec (netem: ...; nftables: model gilbert-elliott needs
// netem)". Pure.
absl::StatusOr<std::string> ChooseNetworkEngine(const v1::FaultSpec& spec,
                                                const NetworkSupport& support);

// ValidateNetworkSpec (InvalidArgument) + ChooseNetworkEngine + construct the
// engine's fault. No side effects. When no engine fits (FailedPrecondition
// from ChooseNetworkEngine) the fault is still built and Prepare() returns
// that error; Restore() rebuilds the engine the revert state names
// (NetworkRevert.engine), so a fault can always be reverted after a crash,
// whatever this start detected.
absl::StatusOr<std::unique_ptr<Fault>> MakeNetworkFault(const v1::FaultSpec& spec,
                                                        const FaultContext& context);

// One KindCapability per network kind, engines preferred first: those
// `support` can run for the kind's plainest spec (egress, no filters).
// `reason` lists the missing engines and, when only a fallback is left, what
// it cannot do ("the nfqueue fallback has no reorder or delay correlation").
// Pure.
std::vector<v1::KindCapability> NetworkCapabilities(const NetworkSupport& support);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_NETWORK_FAULT_H_
