// NFQUEUE engine for network.delay where the kernel has no netem: an
// nftables table the fault owns sends matching packets to an NFQUEUE (xt
// NFQUEUE target via nft_compat, with queue bypass so traffic flows if the
// agent dies) and a loop thread in the agent holds each packet until its due
// time (delay +- jitter, timerfd precision), then accepts it.
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_QUEUE_DELAY_FAULT_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_QUEUE_DELAY_FAULT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

// `spec` holds network_delay (no reorder), already validated. No side effects.
absl::StatusOr<std::unique_ptr<Fault>> MakeQueueDelayFault(const v1::FaultSpec& spec,
                                                           const FaultContext& context);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_QUEUE_DELAY_FAULT_H_
