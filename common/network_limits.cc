#include "common/network_limits.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace faultline {
namespace {

int AddressBits(const IpPrefix& cidr) { return cidr.family == AF_INET ? 32 : 128; }

}  // namespace

bool IsInterfaceName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxInterfaceName || name == "." || name == "..") {
    return false;
  }
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || absl::ascii_isspace(c) || !absl::ascii_isprint(c);
  });
}

absl::StatusOr<IpPrefix> ParseIpPrefixKeepingHostBits(absl::string_view text) {
  IpPrefix out;
  std::string address(text);
  bool explicit_prefix = false;
  if (const size_t slash = address.find('/'); slash != std::string::npos) {
    const std::string prefix = address.substr(slash + 1);
    address.resize(slash);
    int value = 0;
    // Digits only: SimpleAtoi alone would take "+5" and " 5".
    if (prefix.empty() || prefix.size() > 3 ||
        !std::all_of(prefix.begin(), prefix.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(prefix, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("must be an address or CIDR, got \"", absl::CHexEscape(text), "\""));
    }
    out.prefix = value;
    explicit_prefix = true;
  }
  if (inet_pton(AF_INET, address.c_str(), out.address.data()) == 1) {
    out.family = AF_INET;
  } else if (inet_pton(AF_INET6, address.c_str(), out.address.data()) == 1) {
    out.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "must be an IPv4 or IPv6 address or CIDR such as 198.18.0.2, 198.18.0.0/15 or "
        "2001:db8::/64, got \"",
        absl::CHexEscape(text), "\""));
  }
  const int bits = AddressBits(out);
  if (!explicit_prefix) out.prefix = bits;
  if (out.prefix > bits) {
    return absl::InvalidArgumentError(absl::StrCat("has a prefix longer than ", bits,
                                                   " bits: \"", absl::CHexEscape(text), "\""));
  }
  return out;
}

absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text) {
  absl::StatusOr<IpPrefix> out = ParseIpPrefixKeepingHostBits(text);
  if (out.ok() && HasHostBits(*out)) {
    return absl::InvalidArgumentError(absl::StrCat("has host bits set after its /", out->prefix,
                                                   " prefix: \"", absl::CHexEscape(text),
                                                   "\"; did you mean ",
                                                   FormatIpPrefix(NetworkOf(*out)), "?"));
  }
  return out;
}

bool HasHostBits(const IpPrefix& cidr) {
  for (int bit = cidr.prefix; bit < AddressBits(cidr); ++bit) {
    if (cidr.address[bit / 8] & (0x80u >> (bit % 8))) return true;
  }
  return false;
}

IpPrefix NetworkOf(const IpPrefix& cidr) {
  IpPrefix network = cidr;
  for (int bit = cidr.prefix; bit < AddressBits(cidr); ++bit) {
    network.address[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return network;
}

std::string FormatIpPrefix(const IpPrefix& cidr) {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(cidr.family, cidr.address.data(), buffer, sizeof(buffer));
  return absl::StrCat(buffer, "/", cidr.prefix);
}

bool IsFilteredTarget(const v1::NetworkTarget& target) {
  return !target.destinations().empty() || !target.sources().empty() ||
         !target.ports().empty() || target.protocol() != v1::NETWORK_PROTOCOL_ANY;
}

int FilterRuleCount(const v1::NetworkTarget& target) {
  if (!IsFilteredTarget(target)) return 0;
  auto count_family = [](const google::protobuf::RepeatedPtrField<std::string>& cidrs,
                         int family) {
    int n = 0;
    for (const std::string& text : cidrs) {
      absl::StatusOr<IpPrefix> cidr = ParseIpPrefix(text);
      n += cidr.ok() && cidr->family == family;
    }
    return n;
  };
  const int ports = target.ports().empty() ? 1 : 2 * target.ports_size();
  const int protocols =
      target.protocol() == v1::NETWORK_PROTOCOL_ANY && !target.ports().empty() ? 2 : 1;
  int total = 0;
  bool any_family = false;
  for (int family : {AF_INET, AF_INET6}) {
    const int dst = count_family(target.destinations(), family);
    const int src = count_family(target.sources(), family);
    if ((!target.destinations().empty() && dst == 0) || (!target.sources().empty() && src == 0)) {
      continue;
    }
    any_family = true;
    total += std::max(dst, 1) * std::max(src, 1) * ports * protocols;
  }
  return any_family ? total : -1;
}

const std::vector<NetworkKind>& NetworkKinds() {
  static const auto* kinds = new std::vector<NetworkKind>{
      {v1::FaultSpec::kNetworkDelay, "network.delay", {"netem", "nfqueue"}},
      {v1::FaultSpec::kNetworkLoss, "network.loss", {"netem", "nftables"}},
      {v1::FaultSpec::kNetworkDuplicate, "network.duplicate", {"netem"}},
      {v1::FaultSpec::kNetworkCorrupt, "network.corrupt", {"netem"}},
      // tbf is the lighter of the two; filters need htb's classes.
      {v1::FaultSpec::kNetworkBandwidth, "network.bandwidth", {"tbf", "htb"}},
      {v1::FaultSpec::kNetworkPartition, "network.partition", {"nftables"}},
  };
  return *kinds;
}

const NetworkKind* FindNetworkKind(v1::FaultSpec::KindCase kind_case) {
  for (const NetworkKind& kind : NetworkKinds()) {
    if (kind.kind_case == kind_case) return &kind;
  }
  return nullptr;
}

const NetworkKind* FindNetworkKind(absl::string_view name) {
  for (const NetworkKind& kind : NetworkKinds()) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

}  // namespace faultline
