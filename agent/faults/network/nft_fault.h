// nftables engine: network.loss (random, numgen) and network.partition
// through one nftables table per fault, named "faultline_<sanitised fault
// id>" and created/deleted atomically through libnftables. Tables the agent
// did not create are never touched. Control-plane exemptions are accept
// rules placed before the drop rules.
//
// Where packets are dropped: the table is family netdev, with one base chain
// per interface and direction on the netdev `egress` / `ingress` hooks. Drops
// in the inet `output` hook would not be loss: sendto() fails with EPERM and
// the application sees an error. The netdev egress hook runs in
// dev_queue_xmit, after the stack accepted the packet, so UDP and raw
// senders see a successful send (only sockets that asked for errors with
// IP_RECVERR get ENOBUFS) and TCP treats the drop like a congested queue and
// retransmits; the packet never reaches the wire. Ingress drops happen before
// the stack sees the packet. Matching packets `goto` one chain that draws
// `numgen random mod 10000` once per packet (0.01% steps) and counts
// "matched" and "dropped" (Observe: packets_matched, packets_dropped,
// loss_pct). A partition with no interface gets chains on the interface of
// the route to each peer.
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
