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
//
// Lifecycle (fault.h) specifics:
//   Prepare  resolves each interface to (name, ifindex) and builds the table
//            text; NotFound when an interface or a route is missing,
//            InvalidArgument for a filter nft cannot express. No side effects.
//   Apply    commits the table in one transaction. Every interface Prepare
//            resolved must still exist with the same ifindex, checked before
//            and again after the commit (newer kernels accept a netdev chain
//            for a missing device and bind it to whatever link later takes the
//            name): NotFound "network.loss: interface eth1 (ifindex 7) not
//            found" with no table left. FailedPrecondition when a table of
//            our name already exists. Idempotent once applied.
//   Revert   deletes our table by name and the handle Apply recorded (a
//            namesake with another handle is not ours and stays); it needs no
//            interface. When the interface vanished first, some kernels
//            drop the netdev base chain with its device and 6.18 keeps it
//            (unbound, ready to bind to a new link of that name); either way
//            Revert deletes what is left and succeeds, and a table that is
//            already gone is OK (already clean).
//            Idempotent.
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
