// nftables engine: network.loss (random, numgen) and network.partition
// through one nftables table per fault, named "faultline_<sanitised fault
// id>" and created/deleted atomically through libnftables. Tables the agent
// did not create are never touched. Control-plane exemptions are accept
// rules placed before the drop rules.
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_NFT_FAULT_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_NFT_FAULT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

// `spec` holds network_loss (model RANDOM, no correlation) or
// network_partition, already validated. No side effects.
absl::StatusOr<std::unique_ptr<Fault>> MakeNftFault(const v1::FaultSpec& spec,
                                                    const FaultContext& context);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_NFT_FAULT_H_
