#include "agent/faults/network/nft_rules.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "agent/faults/network/identity.h"
#include "common/status.h"

namespace faultline::agent {
namespace {

int AddressBytes(int family) { return family == AF_INET ? 4 : 16; }

void ClearHostBits(Cidr* cidr) {
  int bytes = AddressBytes(cidr->family);
  for (int i = 0; i < bytes; ++i) {
    int keep = std::clamp(cidr->prefix - i * 8, 0, 8);
    cidr->address[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
}

std::string SetOf(const std::vector<std::string>& items) {
  return absl::StrCat("{ ", absl::StrJoin(items, ", "), " }");
}

// The CIDRs of one family, without those another one already contains
// (nft refuses overlapping intervals in one set).
std::vector<std::string> FamilyElements(const std::vector<Cidr>& cidrs, int family) {
  std::vector<std::string> out;
  for (size_t i = 0; i < cidrs.size(); ++i) {
    if (cidrs[i].family != family) continue;
    bool covered = false;
    for (size_t j = 0; j < cidrs.size() && !covered; ++j) {
      if (j == i || cidrs[j].family != family || !cidrs[j].Contains(cidrs[i])) continue;
      // Equal prefixes: keep the first only.
      covered = cidrs[j].prefix < cidrs[i].prefix || j < i;
    }
    if (!covered) out.push_back(cidrs[i].ToString());
  }
  return out;
}

}  // namespace

std::string Cidr::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, address.data(), text, sizeof(text));
  if (prefix == AddressBytes(family) * 8) return text;
  return absl::StrCat(text, "/", prefix);
}

bool Cidr::Contains(const Cidr& other) const {
  if (family != other.family || other.prefix < prefix) return false;
  Cidr masked = other;
  masked.prefix = prefix;
  ClearHostBits(&masked);
  return masked.address == address;
}

absl::StatusOr<Cidr> ParseCidr(absl::string_view text) {
  std::string input(absl::StripAsciiWhitespace(text));
  std::string address = input;
  int prefix = -1;
  if (size_t slash = input.find('/'); slash != std::string::npos) {
    address = input.substr(0, slash);
    if (!absl::SimpleAtoi(input.substr(slash + 1), &prefix) || prefix < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad CIDR \"", text, "\": prefix length"));
    }
  }
  Cidr cidr;
  if (inet_pton(AF_INET, address.c_str(), cidr.address.data()) == 1) {
    cidr.family = AF_INET;
  } else if (inet_pton(AF_INET6, address.c_str(), cidr.address.data()) == 1) {
    cidr.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("bad CIDR \"", text, "\": not an IP address"));
  }
  int max = AddressBytes(cidr.family) * 8;
  if (prefix > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad CIDR \"", text, "\": prefix length above ", max));
  }
  cidr.prefix = prefix < 0 ? max : prefix;
  ClearHostBits(&cidr);
  return cidr;
}

absl::StatusOr<std::vector<Cidr>> ParseCidrList(
    const google::protobuf::RepeatedPtrField<std::string>& texts, absl::string_view field) {
  std::vector<Cidr> out;
  for (const std::string& text : texts) {
    absl::StatusOr<Cidr> cidr = ParseCidr(text);
    if (!cidr.ok()) return faultline::Annotate(cidr.status(), field);
    out.push_back(*cidr);
  }
  return out;
}

std::string CidrListText(const std::vector<Cidr>& cidrs) {
  std::vector<std::string> texts;
  for (const Cidr& c : cidrs) texts.push_back(c.ToString());
  return absl::StrJoin(texts, ",");
}

std::optional<Cidr> ParseCallerAddress(absl::string_view peer) {
  absl::string_view rest = peer;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    rest = rest.substr(0, rest.rfind(':'));
  } else if (absl::ConsumePrefix(&rest, "ipv6:")) {
    if (absl::ConsumePrefix(&rest, "[")) rest = rest.substr(0, rest.find(']'));
  }
  if (rest.empty() || absl::StrContains(rest, "/")) return std::nullopt;
  auto cidr = ParseCidr(rest);
  if (!cidr.ok()) return std::nullopt;
  return *cidr;
}

std::string NftTableName(absl::string_view fault_id) {
  constexpr size_t kMaxId = 44;
  std::string clean;
  bool changed = false;
  for (char c : fault_id) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_') {
      clean.push_back(c);
    } else {
      clean.push_back('_');
      changed = true;
    }
  }
  if (clean.size() > kMaxId) {
    clean.resize(kMaxId);
    changed = true;
  }
  if (changed || clean.empty()) clean += absl::StrFormat("_%08x", Fnv1a(fault_id));
  return "faultline_" + clean;
}

absl::StatusOr<std::string> NftQuote(absl::string_view text) {
  for (char c : text) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", absl::CEscape(text), "\" cannot be written in an nft ruleset"));
    }
  }
  return absl::StrCat("\"", text, "\"");
}

absl::StatusOr<std::vector<std::string>> NftMatchExpressions(const NftFilter& filter,
                                                             NftFamily family) {
  if (!filter.ports.empty() && filter.protocol == v1::NETWORK_PROTOCOL_ICMP) {
    return absl::InvalidArgumentError("ports cannot be combined with protocol icmp");
  }
  std::vector<std::string> bodies;
  for (int af : {AF_INET, AF_INET6}) {
    const bool v4 = af == AF_INET;
    std::vector<std::string> parts;
    parts.push_back(family == NftFamily::kNetdev ? (v4 ? "meta protocol ip" : "meta protocol ip6")
                                                 : (v4 ? "meta nfproto ipv4" : "meta nfproto ipv6"));
    const char* ip = v4 ? "ip" : "ip6";
    if (!filter.destinations.empty()) {
      std::vector<std::string> elements = FamilyElements(filter.destinations, af);
      if (elements.empty()) continue;
      parts.push_back(absl::StrCat(ip, " daddr ", SetOf(elements)));
    }
    if (!filter.sources.empty()) {
      std::vector<std::string> elements = FamilyElements(filter.sources, af);
      if (elements.empty()) continue;
      parts.push_back(absl::StrCat(ip, " saddr ", SetOf(elements)));
    }
    switch (filter.protocol) {
      case v1::NETWORK_PROTOCOL_TCP: parts.push_back("meta l4proto tcp"); break;
      case v1::NETWORK_PROTOCOL_UDP: parts.push_back("meta l4proto udp"); break;
      case v1::NETWORK_PROTOCOL_ICMP:
        parts.push_back(v4 ? "meta l4proto icmp" : "meta l4proto ipv6-icmp");
        break;
      default:
        if (!filter.ports.empty()) parts.push_back("meta l4proto { tcp, udp }");
        break;
    }
    std::string common = absl::StrJoin(parts, " ");
    if (filter.ports.empty()) {
      bodies.push_back(common);
      continue;
    }
    std::vector<std::string> ports;
    std::vector<uint32_t> sorted = filter.ports;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    for (uint32_t port : sorted) ports.push_back(std::to_string(port));
    bodies.push_back(absl::StrCat(common, " th sport ", SetOf(ports)));
    bodies.push_back(absl::StrCat(common, " th dport ", SetOf(ports)));
  }
  return bodies;
}

std::vector<std::string> NftExemptExpressions(int control_port, const std::optional<Cidr>& caller,
                                              NftFamily family) {
  std::vector<std::string> bodies;
  if (control_port > 0) {
    bodies.push_back(absl::StrCat("meta l4proto tcp th sport ", control_port));
    bodies.push_back(absl::StrCat("meta l4proto tcp th dport ", control_port));
  }
  if (caller.has_value()) {
    const char* ip = caller->family == AF_INET ? "ip" : "ip6";
    bodies.push_back(absl::StrCat(ip, " saddr ", caller->ToString()));
    bodies.push_back(absl::StrCat(ip, " daddr ", caller->ToString()));
  }
  return bodies;
}

absl::StatusOr<std::string> RouteInterfaceName(const Cidr& address) {
  const std::string what = absl::StrCat("route lookup for ", address.ToString());
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* request = mnl_nlmsg_put_header(buffer.data());
  request->nlmsg_type = RTM_GETROUTE;
  request->nlmsg_flags = NLM_F_REQUEST;
  const uint32_t seq = static_cast<uint32_t>(time(nullptr));
  request->nlmsg_seq = seq;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(request, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<unsigned char>(address.family);
  rtm->rtm_dst_len = static_cast<unsigned char>(AddressBytes(address.family) * 8);
  mnl_attr_put(request, RTA_DST, AddressBytes(address.family), address.address.data());

  mnl_socket* socket = mnl_socket_open(NETLINK_ROUTE);
  if (socket == nullptr) return faultline::ErrnoToStatus(errno, what);
  std::unique_ptr<mnl_socket, int (*)(mnl_socket*)> owner(socket, mnl_socket_close);
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0 ||
      mnl_socket_sendto(socket, request, request->nlmsg_len) < 0) {
    return faultline::ErrnoToStatus(errno, what);
  }
  ssize_t received = mnl_socket_recvfrom(socket, buffer.data(), buffer.size());
  if (received < 0) return faultline::ErrnoToStatus(errno, what);
  int oif = 0;
  auto on_message = [](const nlmsghdr* message, void* data) -> int {
    if (message->nlmsg_type != RTM_NEWROUTE) return MNL_CB_OK;
    mnl_attr_parse(
        message, sizeof(rtmsg),
        [](const nlattr* attr, void* out) -> int {
          if (mnl_attr_get_type(attr) == RTA_OIF &&
              mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
            *static_cast<int*>(out) = static_cast<int>(mnl_attr_get_u32(attr));
          }
          return MNL_CB_OK;
        },
        data);
    return MNL_CB_OK;
  };
  int rc = mnl_cb_run(buffer.data(), received, seq, mnl_socket_get_portid(socket), on_message,
                      &oif);
  if (rc < 0) {
    int error = errno;
    if (error == ENETUNREACH || error == EHOSTUNREACH || error == ENOENT) {
      return absl::NotFoundError(absl::StrCat(what, ": no route"));
    }
    return faultline::ErrnoToStatus(error, what);
  }
  char name[IF_NAMESIZE] = {};
  if (oif == 0 || if_indextoname(oif, name) == nullptr) {
    return absl::NotFoundError(absl::StrCat(what, ": no output interface"));
  }
  return std::string(name);
}

absl::StatusOr<std::string> ResolveInterface(const std::string& configured,
                                             const std::vector<Cidr>& candidates) {
  if (!configured.empty()) {
    if (if_nametoindex(configured.c_str()) == 0) {
      return absl::NotFoundError(absl::StrCat("interface ", configured, " not found"));
    }
    return configured;
  }
  if (candidates.empty()) {
    return absl::InvalidArgumentError(
        "no interface given and no destination to find it from (set interface)");
  }
  return RouteInterfaceName(candidates.front());
}

std::string NftTarget::ToString() const {
  std::string out = absl::StrCat(device, egress ? " egress" : " ingress");
  if (!filter.destinations.empty()) {
    absl::StrAppend(&out, " dst ", CidrListText(filter.destinations));
  }
  if (!filter.sources.empty()) absl::StrAppend(&out, " src ", CidrListText(filter.sources));
  if (!filter.ports.empty()) absl::StrAppend(&out, " ports ", absl::StrJoin(filter.ports, ","));
  return out;
}

absl::StatusOr<NftTarget> ResolveNftTarget(const v1::NetworkTarget& target) {
  NftTarget out;
  FL_ASSIGN_OR_RETURN(out.filter.destinations,
                      ParseCidrList(target.destinations(), "destinations"));
  FL_ASSIGN_OR_RETURN(out.filter.sources, ParseCidrList(target.sources(), "sources"));
  out.filter.ports.assign(target.ports().begin(), target.ports().end());
  out.filter.protocol = target.protocol();
  out.egress = target.direction() != v1::NETWORK_DIRECTION_INGRESS;
  // Egress goes where the route to a destination points; ingress comes in
  // where the route back to a source points.
  std::vector<Cidr> candidates = out.egress ? out.filter.destinations : out.filter.sources;
  const std::vector<Cidr>& more = out.egress ? out.filter.sources : out.filter.destinations;
  candidates.insert(candidates.end(), more.begin(), more.end());
  FL_ASSIGN_OR_RETURN(out.device, ResolveInterface(target.interface(), candidates));
  return out;
}

absl::Status CheckInterfaceUnchanged(const std::string& name, int ifindex) {
  const int now = static_cast<int>(if_nametoindex(name.c_str()));
  if (now != 0 && (ifindex == 0 || now == ifindex)) return absl::OkStatus();
  std::string message = absl::StrCat("interface ", name);
  if (ifindex != 0) absl::StrAppend(&message, " (ifindex ", ifindex, ")");
  absl::StrAppend(&message, " not found");
  if (now != 0) absl::StrAppend(&message, " (that name is now ifindex ", now, ")");
  return absl::NotFoundError(message);
}

}  // namespace faultline::agent
