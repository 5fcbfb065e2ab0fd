// Traffic-control engines through libnl (rtnetlink), no `tc` binary:
// netem for delay / loss / duplicate / corrupt / reorder, TBF (unfiltered)
// and HTB (filtered) for bandwidth. Filtered faults: HTB root, a default
// class for unmatched traffic, a class with the netem/rate leaf and u32
// filters for matched traffic. Ingress: ingress qdisc + u32 + mirred redirect
// to an IFB link the fault creates. A pre-existing root qdisc is saved in the
// revert state and re-created on revert.
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_TC_FAULT_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_TC_FAULT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

// `spec` holds a network kind other than partition, already validated;
// `engine` is "netem", "tbf" or "htb" (from ChooseNetworkEngine). No side
// effects.
absl::StatusOr<std::unique_ptr<Fault>> MakeTcFault(const v1::FaultSpec& spec,
                                                   const std::string& engine,
                                                   const FaultContext& context);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_TC_FAULT_H_
