// What the running kernel offers the network engines, detected once at agent
// start (DetectNetworkSupport) and reported per fault kind by Capabilities.
// Detection never touches the host's own links, qdiscs or rulesets: it tries
// each object in a throwaway network namespace.
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_SUPPORT_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_SUPPORT_H_

#include <string>

namespace faultline::agent {

struct NetworkSupport {
  bool detected = false;  // false: DetectNetworkSupport was not run (tests)
  bool netem = false;     // sch_netem (delay, loss, duplicate, corrupt, reorder)
  bool htb = false;       // sch_htb (filtered faults, filtered bandwidth)
  bool tbf = false;       // sch_tbf (unfiltered bandwidth)
  bool u32 = false;       // cls_u32 (filters)
  bool ifb = false;       // IFB links + act_mirred + sch_ingress (ingress direction)
  bool nftables = false;  // nf_tables with numgen (loss, partition fallback)
  bool nfqueue = false;   // NFQUEUE target through nft_compat (delay fallback)
  // Why a feature is missing, for Capabilities' `reason`:
  // "netem: kernel has no sch_netem (Specified qdisc kind is unknown)".
  std::string missing;
};

// Probes the kernel in a forked child that unshares its network namespace,
// so nothing on the host changes: on that namespace's lo it adds (through
// rtnetlink) a netem, a tbf and an htb root with a class and a u32 filter,
// creates an IFB link with an ingress qdisc and a mirred redirect filter,
// and runs an nftables batch with a numgen rule (libnftables). nfqueue is
// reported when nftables works and the NFQUEUE xtables target is registered
// (/proc/net/ip_tables_targets), the target the NFQUEUE engine uses through
// nft_compat. A kernel without a module answers ENOENT, reported as "<feature>:
// kernel has no <module> (<kernel text>)"; without the privilege to create a
// namespace everything is false with the reason. The child is killed after
// 10 s. Takes ~20 ms here; call once (the agent does at start).
NetworkSupport DetectNetworkSupport();

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_SUPPORT_H_
