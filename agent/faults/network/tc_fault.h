// Traffic-control engines through libnl (rtnetlink, agent/host/linux/
// netlink.h), no `tc` binary: netem for delay / loss / duplicate / corrupt /
// reorder, TBF and HTB for bandwidth.
//
// Layouts on the shaped link (the interface for egress, the fault's IFB for
// ingress):
//   simple  root qdisc fa17: = the leaf (netem or tbf). Used when the fault
//           filters nothing and no control-plane exemption applies.
//   tree    root htb fa17: (default class 1 when unfiltered, else none:
//           unclassified packets take HTB's direct queue, i.e. are untouched)
//           -> class fa17:1 (the bandwidth cap for engine htb, else an
//           unlimited 100 Gbit/s) -> leaf fa18: (netem, tbf, or a bfifo of
//           `limit` bytes for htb). u32 filters on fa17: send matching
//           packets to fa17:1 (prio 3 IPv4, 4 IPv6) and control-plane packets
//           to fa17:0, the direct queue (prio 1 / 2, evaluated first).
// Control-plane exemption: unless target.allow_control_plane, packets with
// TCP port context.control_port (either side) and packets from/to
// context.caller_address (unless it is a loopback address, whose channel is
// the port) never reach the fault. Whenever either is known,
// the tree layout is used, even for an unfiltered fault; the rules are cheap
// and harmless on interfaces the control channel does not use (an agent on a
// unix socket called locally has neither, and gets the simple layout).
//
// Ingress: an IFB link "flb<8 hex of a hash of the fault id>" (alias
// "faultline <fault id>") carries the layout; an ingress qdisc is added to
// the interface only if it has none (ingress or clsact are both fine), and a
// match-all u32 filter at prio 64023 redirects (mirred) every arriving packet
// to the IFB.
//
// Default interface: the output interface of the route to the first
// destination (ingress: to the first source, if any).
//
// Pre-existing root qdisc (egress): a root with a non-zero handle is saved
// (its dumped netlink message in NetworkRevert.saved_root_qdisc) and
// atomically replaced by ours; revert atomically replaces ours with it
// again. Prepare refuses (FailedPrecondition) a root it could not re-create
// from its dump: one with a size table, with child qdiscs or filters, or a
// classful htb/hfsc/cbq/drr/qfq root with classes. A kernel default root
// (handle 0: noqueue, pfifo_fast, mq, fq_codel by sysctl) comes back by
// itself when ours is deleted.
//
// Conflicts: one tc fault per interface and direction. A second one fails
// Prepare with FailedPrecondition "interface veth0 egress already carries
// fault <id>" (from this process's registry), or names the faultline qdisc
// or ingress filter found on the host when no fault here owns it.
//
// Revert touches only what the revert state names, checked on the host: our
// root handle fa17: on the recorded ifindex, our ingress filter prio, an
// IFB with our name, kind ifb and our alias, and the ingress qdisc only if
// we created it and no other filter hangs on it. Observe(): the leaf
// qdisc's counters (packets, bytes, dropped, overlimits, backlog_bytes,
// queued_packets) and, in the tree layout, unmatched_packets (HTB direct).
//
// Bandwidth defaults: burst = rate/250 bytes (4 ms), at least 1600; queue
// limit = 100 ms at the rate, at least 16 full-size frames (24224 bytes), as
// TCP through a queue of a few packets stalls well below the cap.
//
// Distribution tables come from tc_distribution.h. Units: netem latency and
// jitter in ns (TCA_NETEM_LATENCY64/JITTER64), probabilities on the kernel's
// 0..2^32-1 scale, rates in bytes/s (64-bit attributes above 4 GB/s).
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
// `engine` is "netem", "tbf" or "htb" (from ChooseNetworkEngine, or the
// engine a revert state recorded). InvalidArgument when the engine cannot
// run the kind. No side effects. Prepare() checks the host (interface,
// conflicts, pre-existing root, htb/u32 support when the tree layout is
// needed) without changing it.
absl::StatusOr<std::unique_ptr<Fault>> MakeTcFault(const v1::FaultSpec& spec,
                                                   const std::string& engine,
                                                   const FaultContext& context);

// The IFB link name an ingress fault with this id uses ("flb" + 8 hex).
std::string TcIfbName(const std::string& fault_id);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_TC_FAULT_H_
