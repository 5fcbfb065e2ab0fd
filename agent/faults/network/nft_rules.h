// NftRules: the nft-syntax text of the tables the nftables and NFQUEUE
// engines own, built from a fault's targeting (pure functions, no I/O), plus
// the one host lookup they need: the interface of the route to an address.
//
// A filter becomes a list of rule bodies ("match expressions"); a packet
// matches the filter iff it matches at least one body, and every body ends in
// the same verdict (a `goto` into the chain that acts), so a packet is acted
// on at most once even when it matches several bodies (sport and dport).
//
//   filter                              bodies (netdev family)
//   dst 198.18.0.2/32, udp, ports 53    meta protocol ip ip daddr { 198.18.0.2 }
//                                         meta l4proto udp th sport { 53 }
//                                       meta protocol ip ip daddr { 198.18.0.2 }
//                                         meta l4proto udp th dport { 53 }
//   (empty)                             meta protocol ip / meta protocol ip6
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_NFT_RULES_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_NFT_RULES_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::agent {

// An IPv4 or IPv6 prefix with its host bits cleared.
struct Cidr {
  int family = 0;                     // AF_INET or AF_INET6
  std::array<uint8_t, 16> address{};  // network order; 4 bytes used for AF_INET
  int prefix = 0;
  // "198.18.0.0/24", "198.18.0.2" (full-length prefixes print bare).
  std::string ToString() const;
  bool Contains(const Cidr& other) const;
};

// "198.18.0.2/32", "2001:db8::/64", or a bare address (a host prefix).
// Host bits are cleared. InvalidArgument naming the text.
absl::StatusOr<Cidr> ParseCidr(absl::string_view text);

// Every entry of a spec's address list; InvalidArgument naming `field` and
// the entry ("destinations: bad CIDR \"x\": not an IP address"). Pure.
absl::StatusOr<std::vector<Cidr>> ParseCidrList(
    const google::protobuf::RepeatedPtrField<std::string>& texts, absl::string_view field);

// "198.18.0.2,198.18.0.0/24": Cidr::ToString joined by commas.
std::string CidrListText(const std::vector<Cidr>& cidrs);

// The controller's address as gRPC reports a peer ("ipv4:10.0.0.1:51234",
// "ipv6:[::1]:51234") or a plain address; nullopt when it is not an IP
// address (unix socket, empty).
std::optional<Cidr> ParseCallerAddress(absl::string_view peer);

// "faultline_" + the fault id with every byte outside [A-Za-z0-9_] replaced
// by '_' (plus a hash of the id when anything was replaced or cut, so two ids
// never share a table). At most 64 characters.
std::string NftTableName(absl::string_view fault_id);

// An nft double-quoted string; InvalidArgument when `text` holds a quote,
// backslash or control character (nft cannot express those).
absl::StatusOr<std::string> NftQuote(absl::string_view text);

enum class NftFamily {
  kNetdev,  // meta protocol ip|ip6
  kInet,    // meta nfproto ipv4|ipv6
};

struct NftFilter {
  std::vector<Cidr> destinations;  // empty = any
  std::vector<Cidr> sources;       // empty = any
  std::vector<uint32_t> ports;     // source OR destination port; empty = any
  v1::NetworkProtocol protocol = v1::NETWORK_PROTOCOL_ANY;
};

// The rule bodies matching `filter` (see the file comment). Empty when no
// packet can match (e.g. only IPv4 destinations and only IPv6 sources).
// InvalidArgument for ports with protocol icmp.
absl::StatusOr<std::vector<std::string>> NftMatchExpressions(const NftFilter& filter,
                                                             NftFamily family);

// Bodies of the accept rules that keep the control channel out of a fault:
// TCP to and from `control_port` (when > 0) and every packet to and from
// `caller` (when set).
std::vector<std::string> NftExemptExpressions(int control_port, const std::optional<Cidr>& caller,
                                              NftFamily family);

// The name of the output interface of the route to `address` (its first
// address) in the calling thread's network namespace. NotFound when there is
// no route; Internal on netlink failure. Read-only.
absl::StatusOr<std::string> RouteInterfaceName(const Cidr& address);

// The interface a fault acts on: `configured` when set (NotFound when no
// such link exists in the calling thread's namespace), else the interface of
// the route to the first of `candidates`; InvalidArgument when both are
// empty. Read-only.
absl::StatusOr<std::string> ResolveInterface(const std::string& configured,
                                             const std::vector<Cidr>& candidates);

// A NetworkTarget (delay, loss) as the nftables engines hook it.
struct NftTarget {
  NftFilter filter;    // destinations, sources, ports, protocol of the target
  std::string device;  // the interface to hook
  bool egress = true;  // false: direction ingress
  // What the fault reports as its target:
  // "veth0 egress dst 198.18.0.2 src 198.18.1.0/24 ports 53,80".
  std::string ToString() const;
};

// Reads `target`'s filter and finds the interface it acts on with
// ResolveInterface: the configured one, else the route to the first
// destination (egress) or first source (ingress), then to the first of the
// other list. InvalidArgument for an entry that is not a CIDR (naming the
// list, as ParseCidrList) or when there is nothing to find the interface
// from; NotFound for a missing interface or route; Internal on netlink
// failure. Read-only.
absl::StatusOr<NftTarget> ResolveNftTarget(const v1::NetworkTarget& target);

// OK when the calling thread's namespace still has the link Prepare
// resolved: `name` with index `ifindex` (ifindex 0: any link named `name`).
// NotFound naming the interface when the link is gone, including when it was
// deleted and another link has taken its name since ("interface eth1
// (ifindex 7) not found (that name is now ifindex 9)"). The nftables engines
// call this around their commit: newer kernels accept a netdev chain or an
// oifname rule for a link that does not exist, so the commit alone does not
// notice a vanished target. Read-only.
absl::Status CheckInterfaceUnchanged(const std::string& name, int ifindex);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_NFT_RULES_H_
