// NFQUEUE engine for network.delay where the kernel has no netem: an
// nftables table the fault owns sends matching packets to an NFQUEUE (xt
// NFQUEUE target via nft_compat, with queue bypass so traffic flows if the
// agent dies) and a loop thread in the agent holds each packet until its due
// time (delay +- jitter, timerfd precision), then accepts it.
//
// The table is family inet (the kernel cannot queue from netdev hooks):
// egress packets are queued in postrouting (oifname), ingress packets in
// prerouting (iifname). Apply binds the queue (a free number in
// QueueLoop::kFirstQueue..kLastQueue, recorded as NetworkRevert.queue_num)
// before the rule exists. Revert empties the queue chain first (deleting the
// table would make the kernel drop the packets still held), lets the loop
// accept what it holds, then deletes the table. After a crash only the table
// needs deleting: the bypass flag kept traffic flowing since the loop died.
// A fault restored in the process whose loop still runs (an embedded agent
// recovering its own state file) finds that loop through a process-wide
// registry keyed by namespace, queue number and table, and stops it the same
// way, so the queue is unbound.
//
// The interface: Prepare resolves it to (name, ifindex) (NotFound when
// absent). Apply checks that this very link still exists before it starts
// the loop and again after the commit (an oifname/iifname rule does not need
// the link, so the kernel alone would not notice): NotFound "network.delay:
// interface eth1 (ifindex 7) not found" with the table deleted and the queue
// unbound. Revert needs no interface: when it vanished first the table
// (still present, its rule matching by name) is flushed and deleted as
// usual, and a table already gone is OK (already clean).
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
