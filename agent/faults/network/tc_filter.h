// u32 classifier rules for the traffic-control engines (tc_fault.cc): a
// NetworkTarget's filters and the control-plane exemptions, expanded into
// rules of ANDed 32-bit keys at fixed offsets from the network header. Pure
// functions; the rules are installed through Rtnetlink::AddU32Filter.
//
// Matching follows faults.proto: destination in any of `destinations` AND
// source in any of `sources` AND (source OR destination port in `ports`) AND
// protocol. Each (family, destination, source, port side, protocol)
// combination is one rule. Port rules assume the L4 header right after a
// basic header: IPv4 packets with IP options or non-first fragments and IPv6
// packets with extension headers do not match a port rule (so they are left
// untouched by a port-filtered fault; for exemptions this errs the other way,
// which the control plane's plain TCP never hits).
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_TC_FILTER_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_TC_FILTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "agent/host/linux/netlink.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

struct TcMatch {
  uint16_t protocol = kEthPIp;  // kEthPIp or kEthPIpv6
  std::vector<U32Key> keys;
};

// The rules of `target`'s filters; empty when it filters nothing. `target`
// must be valid (ValidateNetworkSpec).
std::vector<TcMatch> TargetMatches(const v1::NetworkTarget& target);

// Rules that keep the control channel out of a fault: TCP source or
// destination port `control_port` (if > 0, both families) and packets from
// or to `caller_address` (if it parses as an address and is not a loopback
// address: a loopback caller's channel is the control port, and exempting
// 127.0.0.1 would exempt all loopback traffic). Empty when neither.
std::vector<TcMatch> ExemptionMatches(int control_port, const std::string& caller_address);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_TC_FILTER_H_
