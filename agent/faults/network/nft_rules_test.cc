#include "agent/faults/network/nft_rules.h"

#include <sys/socket.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

Cidr C(const std::string& text) {
  auto cidr = ParseCidr(text);
  EXPECT_TRUE(cidr.ok()) << cidr.status();
  return cidr.ok() ? *cidr : Cidr{};
}

TEST(ParseCidrTest, NormalisesAndRejects) {
  EXPECT_EQ(C("198.18.0.7/24").ToString(), "198.18.0.0/24");
  EXPECT_EQ(C("198.18.0.7").ToString(), "198.18.0.7");
  EXPECT_EQ(C("198.18.0.7/32").ToString(), "198.18.0.7");
  EXPECT_EQ(C("fd00:198:18::5/64").ToString(), "fd00:198:18::/64");
  EXPECT_EQ(C("10.1.2.3/0").ToString(), "0.0.0.0/0");
  EXPECT_EQ(C("fd00::1").family, AF_INET6);
  EXPECT_EQ(ParseCidr("198.18.0.1/33").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCidr("example.com").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCidr("1.2.3.4/x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(C("10.0.0.0/8").Contains(C("10.1.0.0/16")));
  EXPECT_FALSE(C("10.1.0.0/16").Contains(C("10.0.0.0/8")));
  EXPECT_FALSE(C("10.0.0.0/8").Contains(C("fd00::/8")));
}

TEST(ParseCallerAddressTest, GrpcPeersAndPlainAddresses) {
  EXPECT_EQ(ParseCallerAddress("ipv4:198.18.0.9:5123")->ToString(), "198.18.0.9");
  EXPECT_EQ(ParseCallerAddress("ipv6:[fd00::9]:5123")->ToString(), "fd00::9");
  EXPECT_EQ(ParseCallerAddress("198.18.0.9")->ToString(), "198.18.0.9");
  EXPECT_FALSE(ParseCallerAddress("unix:/run/agent.sock").has_value());
  EXPECT_FALSE(ParseCallerAddress("").has_value());
}

TEST(NftTableNameTest, SafeUniqueAndBounded) {
  EXPECT_EQ(NftTableName("run1_step2"), "faultline_run1_step2");
  std::string a = NftTableName("a-b");
  std::string b = NftTableName("a.b");
  EXPECT_NE(a, b);
  EXPECT_THAT(a, HasSubstr("faultline_a_b_"));
  std::string long_name = NftTableName(std::string(300, 'x'));
  EXPECT_LE(long_name.size(), 64u);
  EXPECT_NE(long_name, NftTableName(std::string(301, 'x')));
  for (char c : NftTableName("quote\"; drop table")) {
    EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '_') << c;
  }
}

TEST(NftQuoteTest, RefusesWhatNftCannotQuote) {
  EXPECT_EQ(*NftQuote("eth0"), "\"eth0\"");
  EXPECT_EQ(NftQuote("a\"b").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NftQuote("a\\b").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NftMatchExpressionsTest, EmptyFilterMatchesBothFamilies) {
  auto bodies = NftMatchExpressions(NftFilter{}, NftFamily::kNetdev);
  ASSERT_TRUE(bodies.ok());
  EXPECT_THAT(*bodies, ElementsAre("meta protocol ip", "meta protocol ip6"));
  bodies = NftMatchExpressions(NftFilter{}, NftFamily::kInet);
  EXPECT_THAT(*bodies, ElementsAre("meta nfproto ipv4", "meta nfproto ipv6"));
}

TEST(NftMatchExpressionsTest, DestinationsSourcesPortsProtocol) {
  NftFilter filter;
  filter.destinations = {C("198.18.0.2"), C("fd00:198:18::2")};
  filter.sources = {C("198.18.0.0/24")};
  filter.ports = {80, 53, 80};
  filter.protocol = v1::NETWORK_PROTOCOL_UDP;
  auto bodies = NftMatchExpressions(filter, NftFamily::kNetdev);
  ASSERT_TRUE(bodies.ok());
  // Only IPv4 has both a destination and a source; sport OR dport.
  EXPECT_THAT(*bodies,
              ElementsAre("meta protocol ip ip daddr { 198.18.0.2 } ip saddr { 198.18.0.0/24 } "
                          "meta l4proto udp th sport { 53, 80 }",
                          "meta protocol ip ip daddr { 198.18.0.2 } ip saddr { 198.18.0.0/24 } "
                          "meta l4proto udp th dport { 53, 80 }"));
}

TEST(NftMatchExpressionsTest, PortsWithoutProtocolMeanTcpAndUdp) {
  NftFilter filter;
  filter.destinations = {C("fd00::/8")};
  filter.ports = {443};
  auto bodies = NftMatchExpressions(filter, NftFamily::kInet);
  ASSERT_TRUE(bodies.ok());
  EXPECT_THAT(*bodies, ElementsAre("meta nfproto ipv6 ip6 daddr { fd00::/8 } meta l4proto { tcp, "
                                   "udp } th sport { 443 }",
                                   "meta nfproto ipv6 ip6 daddr { fd00::/8 } meta l4proto { tcp, "
                                   "udp } th dport { 443 }"));
}

TEST(NftMatchExpressionsTest, IcmpPerFamilyAndNoPorts) {
  NftFilter filter;
  filter.protocol = v1::NETWORK_PROTOCOL_ICMP;
  auto bodies = NftMatchExpressions(filter, NftFamily::kNetdev);
  ASSERT_TRUE(bodies.ok());
  EXPECT_THAT(*bodies, ElementsAre("meta protocol ip meta l4proto icmp",
                                   "meta protocol ip6 meta l4proto ipv6-icmp"));
  filter.ports = {1};
  EXPECT_EQ(NftMatchExpressions(filter, NftFamily::kNetdev).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NftMatchExpressionsTest, OverlappingPrefixesCollapse) {
  NftFilter filter;
  filter.destinations = {C("10.1.0.0/16"), C("10.0.0.0/8"), C("10.0.0.0/8"), C("192.0.2.1")};
  auto bodies = NftMatchExpressions(filter, NftFamily::kNetdev);
  ASSERT_TRUE(bodies.ok());
  EXPECT_THAT(*bodies, ElementsAre("meta protocol ip ip daddr { 10.0.0.0/8, 192.0.2.1 }"));
}

TEST(NftExemptExpressionsTest, PortAndCaller) {
  EXPECT_THAT(NftExemptExpressions(0, std::nullopt, NftFamily::kNetdev), SizeIs(0));
  EXPECT_THAT(NftExemptExpressions(7443, C("fd00::9"), NftFamily::kNetdev),
              ElementsAre("meta l4proto tcp th sport 7443", "meta l4proto tcp th dport 7443",
                          "ip6 saddr fd00::9", "ip6 daddr fd00::9"));
}

TEST(ParseCidrListTest, NamesTheListAndJoinsBack) {
  google::protobuf::RepeatedPtrField<std::string> texts;
  *texts.Add() = "198.18.0.7/24";
  *texts.Add() = "fd00::9";
  auto cidrs = ParseCidrList(texts, "peers");
  ASSERT_TRUE(cidrs.ok()) << cidrs.status();
  EXPECT_EQ(CidrListText(*cidrs), "198.18.0.0/24,fd00::9");
  *texts.Add() = "example.com";
  EXPECT_EQ(ParseCidrList(texts, "peers").status().message(),
            "peers: bad CIDR \"example.com\": not an IP address");
}

// Read-only: the configured loopback link, or the route to a loopback
// address, which every namespace has.
TEST(ResolveNftTargetTest, FilterInterfaceAndTargetText) {
  v1::NetworkTarget target;
  target.set_interface("lo");
  target.add_destinations("198.18.0.7/24");
  target.add_sources("198.18.1.1");
  target.add_ports(53);
  target.add_ports(80);
  target.set_protocol(v1::NETWORK_PROTOCOL_UDP);
  auto resolved = ResolveNftTarget(target);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->device, "lo");
  EXPECT_TRUE(resolved->egress);
  EXPECT_THAT(resolved->filter.ports, ElementsAre(53u, 80u));
  EXPECT_EQ(resolved->filter.protocol, v1::NETWORK_PROTOCOL_UDP);
  EXPECT_EQ(resolved->ToString(), "lo egress dst 198.18.0.0/24 src 198.18.1.1 ports 53,80");

  // Ingress without an interface: the route back to the first source.
  v1::NetworkTarget ingress;
  ingress.set_direction(v1::NETWORK_DIRECTION_INGRESS);
  ingress.add_sources("127.0.0.1");
  resolved = ResolveNftTarget(ingress);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->device, "lo");
  EXPECT_FALSE(resolved->egress);
  EXPECT_EQ(resolved->ToString(), "lo ingress src 127.0.0.1");

  v1::NetworkTarget bad = target;
  bad.set_sources(0, "198.18.1.1/40");
  EXPECT_EQ(ResolveNftTarget(bad).status().message(),
            "sources: bad CIDR \"198.18.1.1/40\": prefix length above 32");
  v1::NetworkTarget missing;
  missing.set_interface("fl-no-such0");
  EXPECT_EQ(ResolveNftTarget(missing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ResolveNftTarget(v1::NetworkTarget()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Read-only lookups of the loopback link, which every namespace has at
// ifindex 1; the vanished-link paths of the engines run in the conformance
// suite on a real veth pair.
TEST(CheckInterfaceUnchangedTest, SameLinkOrNotFoundNamingIt) {
  EXPECT_TRUE(CheckInterfaceUnchanged("lo", 1).ok());
  EXPECT_TRUE(CheckInterfaceUnchanged("lo", 0).ok()) << "ifindex 0: any link of that name";
  absl::Status replaced = CheckInterfaceUnchanged("lo", 4242);
  EXPECT_EQ(replaced.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(replaced.message(), "interface lo (ifindex 4242) not found (that name is now ifindex 1)");
  absl::Status gone = CheckInterfaceUnchanged("fl-no-such0", 7);
  EXPECT_EQ(gone.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(gone.message(), "interface fl-no-such0 (ifindex 7) not found");
}

}  // namespace
}  // namespace faultline::agent
