#include "agent/faults/network/tc_filter.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>

#include "agent/faults/network/network_fault.h"

namespace faultline::agent {
namespace {

// Offsets from the start of the IPv4 / IPv6 header.
constexpr int kV4VersionIhl = 0;
constexpr int kV4Fragment = 4;
constexpr int kV4Protocol = 8;
constexpr int kV4Source = 12;
constexpr int kV4Destination = 16;
constexpr int kV4Ports = 20;  // right after a 20-byte header
constexpr int kV6NextHeader = 4;
constexpr int kV6Source = 8;
constexpr int kV6Destination = 24;
constexpr int kV6Ports = 40;

enum class PortSide { kSource, kDestination };

uint32_t Word(const std::array<uint8_t, 16>& bytes, int word) {
  return (uint32_t{bytes[4 * word]} << 24) | (uint32_t{bytes[4 * word + 1]} << 16) |
         (uint32_t{bytes[4 * word + 2]} << 8) | uint32_t{bytes[4 * word + 3]};
}

// Keys for "address in cidr" with the address at `offset`.
void AddPrefixKeys(const IpPrefix& cidr, int offset, std::vector<U32Key>* keys) {
  const int words = cidr.family == AF_INET ? 1 : 4;
  for (int w = 0; w < words; ++w) {
    const int bits = std::min(32, std::max(0, cidr.prefix - 32 * w));
    if (bits == 0) break;
    const uint32_t mask = bits == 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> bits);
    keys->push_back(U32Key{Word(cidr.address, w) & mask, mask, offset + 4 * w});
  }
}

void AddProtocolKey(int family, int ip_protocol, std::vector<U32Key>* keys) {
  if (family == AF_INET) {
    keys->push_back(U32Key{static_cast<uint32_t>(ip_protocol) << 16, 0x00FF0000u, kV4Protocol});
  } else {
    keys->push_back(U32Key{static_cast<uint32_t>(ip_protocol) << 8, 0x0000FF00u, kV6NextHeader});
  }
}

void AddPortKeys(int family, PortSide side, uint32_t port, std::vector<U32Key>* keys) {
  if (family == AF_INET) {
    // A 20-byte header (IHL 5) and fragment offset 0: only then do the ports
    // sit at offset 20.
    keys->push_back(U32Key{0x05000000u, 0x0F000000u, kV4VersionIhl});
    keys->push_back(U32Key{0, 0x00001FFFu, kV4Fragment});
  }
  const int offset = family == AF_INET ? kV4Ports : kV6Ports;
  if (side == PortSide::kSource) {
    keys->push_back(U32Key{port << 16, 0xFFFF0000u, offset});
  } else {
    keys->push_back(U32Key{port, 0x0000FFFFu, offset});
  }
}

std::vector<std::optional<IpPrefix>> OfFamily(const google::protobuf::RepeatedPtrField<std::string>& list,
                                          int family) {
  std::vector<std::optional<IpPrefix>> out;
  if (list.empty()) {
    out.emplace_back(std::nullopt);  // any address
    return out;
  }
  for (const std::string& text : list) {
    absl::StatusOr<IpPrefix> cidr = ParseIpPrefix(text);
    if (cidr.ok() && cidr->family == family) out.emplace_back(*cidr);
  }
  return out;
}

uint16_t EthProtocol(int family) { return family == AF_INET ? kEthPIp : kEthPIpv6; }

}  // namespace

std::vector<TcMatch> TargetMatches(const v1::NetworkTarget& target) {
  const bool filtered = !target.destinations().empty() || !target.sources().empty() ||
                        !target.ports().empty() ||
                        target.protocol() != v1::NETWORK_PROTOCOL_ANY;
  std::vector<TcMatch> out;
  if (!filtered) return out;
  for (int family : {AF_INET, AF_INET6}) {
    std::vector<int> protocols;  // IP protocol numbers; 0 = any
    switch (target.protocol()) {
      case v1::NETWORK_PROTOCOL_TCP: protocols = {IPPROTO_TCP}; break;
      case v1::NETWORK_PROTOCOL_UDP: protocols = {IPPROTO_UDP}; break;
      case v1::NETWORK_PROTOCOL_ICMP:
        protocols = {family == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6}};
        break;
      default:
        protocols = target.ports().empty() ? std::vector<int>{0}
                                           : std::vector<int>{IPPROTO_TCP, IPPROTO_UDP};
        break;
    }
    for (const std::optional<IpPrefix>& dst : OfFamily(target.destinations(), family)) {
      for (const std::optional<IpPrefix>& src : OfFamily(target.sources(), family)) {
        for (int protocol : protocols) {
          TcMatch base;
          base.protocol = EthProtocol(family);
          if (dst) AddPrefixKeys(*dst, family == AF_INET ? kV4Destination : kV6Destination,
                                 &base.keys);
          if (src) AddPrefixKeys(*src, family == AF_INET ? kV4Source : kV6Source, &base.keys);
          if (protocol != 0) AddProtocolKey(family, protocol, &base.keys);
          if (target.ports().empty()) {
            out.push_back(base);
            continue;
          }
          for (uint32_t port : target.ports()) {
            for (PortSide side : {PortSide::kSource, PortSide::kDestination}) {
              TcMatch match = base;
              AddPortKeys(family, side, port, &match.keys);
              out.push_back(std::move(match));
            }
          }
        }
      }
    }
  }
  return out;
}

std::vector<TcMatch> ExemptionMatches(int control_port, const std::string& caller_address) {
  std::vector<TcMatch> out;
  if (control_port > 0 && control_port <= 65535) {
    for (int family : {AF_INET, AF_INET6}) {
      for (PortSide side : {PortSide::kSource, PortSide::kDestination}) {
        TcMatch match;
        match.protocol = EthProtocol(family);
        AddProtocolKey(family, IPPROTO_TCP, &match.keys);
        AddPortKeys(family, side, static_cast<uint32_t>(control_port), &match.keys);
        out.push_back(std::move(match));
      }
    }
  }
  if (!caller_address.empty() && caller_address.find('/') == std::string::npos) {
    absl::StatusOr<IpPrefix> caller = ParseIpPrefix(caller_address);
    // A loopback caller reaches the agent only through the control port,
    // which the rules above keep out already; exempting the whole address
    // would exempt every loopback flow and make faults on lo toothless.
    static constexpr std::array<uint8_t, 16> kIpv6Loopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                              0, 0, 0, 0, 0, 0, 0, 1};
    const bool loopback = caller.ok() && (caller->family == AF_INET
                                              ? caller->address[0] == 127
                                              : caller->address == kIpv6Loopback);
    if (caller.ok() && !loopback) {
      for (int offset : caller->family == AF_INET ? std::vector<int>{kV4Source, kV4Destination}
                                                  : std::vector<int>{kV6Source, kV6Destination}) {
        TcMatch match;
        match.protocol = EthProtocol(caller->family);
        AddPrefixKeys(*caller, offset, &match.keys);
        out.push_back(std::move(match));
      }
    }
  }
  return out;
}

}  // namespace faultline::agent
