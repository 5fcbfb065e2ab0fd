// The limits and small parsers both sides apply to the network fault kinds,
// so a spec the controller accepts is one the agent accepts.
//
// The controller (controller/spec/network_params.cc) checks a YAML step early
// and reports each problem at file:line:col; the agent
// (agent/faults/network/network_fault.cc) re-checks every FaultSpec that
// arrives over the wire, whoever sent it. Both read the caps, the prefix
// parser, the classifier-rule count and the engines each kind may use from
// here; each side words its own messages.
//
// Pure functions and constants, thread-safe. Library faultline_network_limits
// (proto + absl only).
#ifndef FAULTLINE_COMMON_NETWORK_LIMITS_H_
#define FAULTLINE_COMMON_NETWORK_LIMITS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "faultline/v1/faults.pb.h"

namespace faultline {

// network.delay: delay_us 1us..60s (jitter_us up to delay_us).
inline constexpr uint64_t kMinDelayUs = 1;
inline constexpr uint64_t kMaxDelayUs = 60'000'000;
// network.delay: reorder_gap 1..kMaxReorderGap (0 = netem's default).
inline constexpr uint32_t kMaxReorderGap = 1'000'000;
// network.bandwidth: rate_bps 8kbit..100gbit.
inline constexpr uint64_t kMinRateBps = 8'000;
inline constexpr uint64_t kMaxRateBps = 100'000'000'000;
// network.bandwidth: burst and limit (0 = engine default). One full-size
// frame plus headers: a smaller TBF bucket never passes a 1500-byte packet.
inline constexpr uint64_t kMinBucketBytes = 1600;
inline constexpr uint64_t kMaxBucketBytes = uint64_t{1} << 30;
// Linux IFNAMSIZ (16) minus the terminating NUL.
inline constexpr size_t kMaxInterfaceName = 15;
// Entries per address list (destinations, sources, peers) and per port list.
inline constexpr int kMaxAddresses = 64;
inline constexpr int kMaxPorts = 64;
// Classifier rules one filtered target may expand to (FilterRuleCount): this
// bounds the work and the rule count per fault.
inline constexpr int kMaxFilterRules = 256;

// True for a name the kernel could give a link: 1..kMaxInterfaceName
// printable characters, none of them '/', ':' or whitespace, and not "." or
// "..". The empty name is false (callers decide whether "no interface" is
// allowed).
bool IsInterfaceName(absl::string_view name);

// An IPv4 or IPv6 prefix as the network specs write them.
struct IpPrefix {
  int family = 0;                     // AF_INET or AF_INET6
  std::array<uint8_t, 16> address{};  // network byte order; 4 bytes used for v4
  int prefix = 0;                     // 0..32 / 0..128
};

// "198.18.0.2/32", "198.18.0.0/15", "2001:db8::/64"; a bare address is a
// host route (/32, /128). No surrounding whitespace. InvalidArgument
// (message without the field name, to follow it): "must be an address or
// CIDR, got ..." for a prefix that is not 1-3 digits, "must be an IPv4 or
// IPv6 address or CIDR such as ..." for the address, "has a prefix longer
// than 32 bits: ...", and "has host bits set after its /24 prefix: ...; did
// you mean 198.18.0.0/24?".
absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text);

// ParseIpPrefix without the host-bits check: "198.18.0.1/24" comes back as
// written (HasHostBits is true), for callers that word that problem
// themselves.
absl::StatusOr<IpPrefix> ParseIpPrefixKeepingHostBits(absl::string_view text);

// True when `cidr` has an address bit set after its prefix.
bool HasHostBits(const IpPrefix& cidr);

// `cidr` with every address bit after the prefix cleared.
IpPrefix NetworkOf(const IpPrefix& cidr);

// "198.18.0.0/15", "2001:db8::1/128": the prefix is always written.
std::string FormatIpPrefix(const IpPrefix& cidr);

// True when the target narrows the traffic: destinations, sources, ports or
// a protocol other than any.
bool IsFilteredTarget(const v1::NetworkTarget& target);

// The classifier rules a target expands to, as the tc engines install them:
// per address family present on both sides, destinations x sources x ports
// (each port twice, as source and as destination port) x protocols (tcp and
// udp when ports are given with protocol any). 0 for an unfiltered target;
// -1 when destinations and sources share no address family. Entries that do
// not parse (ParseIpPrefix) are not counted; validate them separately.
int FilterRuleCount(const v1::NetworkTarget& target);

// One network fault kind: its oneof case in FaultSpec, its name in every
// layer and the engines that may run it, preferred first (DESIGN.md
// catalogue; the agent tries them in this order, bandwidth takes htb when
// filtered).
struct NetworkKind {
  v1::FaultSpec::KindCase kind_case;
  std::string name;                  // "network.delay"
  std::vector<std::string> engines;  // "netem", "nfqueue", ...
};

// The six network kinds in catalogue order: delay, loss, duplicate, corrupt,
// bandwidth, partition.
const std::vector<NetworkKind>& NetworkKinds();

// The entry for a kind, or nullptr when it is not a network kind.
const NetworkKind* FindNetworkKind(v1::FaultSpec::KindCase kind_case);
const NetworkKind* FindNetworkKind(absl::string_view name);

}  // namespace faultline

#endif  // FAULTLINE_COMMON_NETWORK_LIMITS_H_
