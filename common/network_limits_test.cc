// The shared network limits: prefix parsing (both families, every rejection
// with its message), host bits, the classifier-rule count the agent caps,
// interface names and the engines-per-kind table. Pure.
#include "common/network_limits.h"

#include <sys/socket.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline {
namespace {

using ::testing::ElementsAre;

TEST(IpPrefixTest, ParsesBothFamilies) {
  absl::StatusOr<IpPrefix> v4 = ParseIpPrefix("198.18.0.0/15");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->family, AF_INET);
  EXPECT_EQ(v4->prefix, 15);
  EXPECT_EQ(FormatIpPrefix(*v4), "198.18.0.0/15");
  absl::StatusOr<IpPrefix> host = ParseIpPrefix("2001:db8::1");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->family, AF_INET6);
  EXPECT_EQ(host->prefix, 128);
  EXPECT_EQ(FormatIpPrefix(*host), "2001:db8::1/128");
  EXPECT_EQ(FormatIpPrefix(*ParseIpPrefix("198.18.0.2")), "198.18.0.2/32");
  EXPECT_EQ(FormatIpPrefix(*ParseIpPrefix("0.0.0.0/0")), "0.0.0.0/0");
  EXPECT_EQ(FormatIpPrefix(*ParseIpPrefix("::/0")), "::/0");
}

TEST(IpPrefixTest, RejectsWithMessagesThatFollowAFieldName) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"", "must be an IPv4 or IPv6 address or CIDR such as 198.18.0.2, 198.18.0.0/15 or "
           "2001:db8::/64, got \"\""},
      {"1.2.3.4/", "must be an address or CIDR, got \"1.2.3.4/\""},
      {"1.2.3.4/-1", "must be an address or CIDR, got \"1.2.3.4/-1\""},
      {"1.2.3.4/+8", "must be an address or CIDR, got \"1.2.3.4/+8\""},
      {"1.2.3.4/0032", "must be an address or CIDR, got \"1.2.3.4/0032\""},
      {"1.2.3.4/33", "has a prefix longer than 32 bits: \"1.2.3.4/33\""},
      {"::1/129", "has a prefix longer than 128 bits: \"::1/129\""},
      {" 198.18.0.2", "must be an IPv4 or IPv6 address or CIDR such as 198.18.0.2, 198.18.0.0/15 "
                      "or 2001:db8::/64, got \" 198.18.0.2\""},
      {"fe80::1%eth0", "must be an IPv4 or IPv6 address or CIDR such as 198.18.0.2, "
                       "198.18.0.0/15 or 2001:db8::/64, got \"fe80::1%eth0\""},
      {"198.18.0.1/24", "has host bits set after its /24 prefix: \"198.18.0.1/24\"; did you mean "
                        "198.18.0.0/24?"},
      {"2001:db8::1/64", "has host bits set after its /64 prefix: \"2001:db8::1/64\"; did you "
                         "mean 2001:db8::/64?"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<IpPrefix> parsed = ParseIpPrefix(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_EQ(parsed.status().message(), c.message);
  }
}

TEST(IpPrefixTest, HostBitsCanBeKeptAndCleared) {
  absl::StatusOr<IpPrefix> kept = ParseIpPrefixKeepingHostBits("198.18.0.1/24");
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(HasHostBits(*kept));
  EXPECT_EQ(FormatIpPrefix(*kept), "198.18.0.1/24");
  EXPECT_EQ(FormatIpPrefix(NetworkOf(*kept)), "198.18.0.0/24");
  EXPECT_FALSE(HasHostBits(NetworkOf(*kept)));
  // Bits inside the prefix are not host bits, down to a partial byte.
  EXPECT_FALSE(HasHostBits(*ParseIpPrefixKeepingHostBits("198.18.0.0/15")));
  EXPECT_TRUE(HasHostBits(*ParseIpPrefixKeepingHostBits("198.19.0.0/15")));
  EXPECT_EQ(FormatIpPrefix(NetworkOf(*ParseIpPrefixKeepingHostBits("198.19.0.0/15"))),
            "198.18.0.0/15");
  EXPECT_FALSE(HasHostBits(*ParseIpPrefixKeepingHostBits("2001:db8::1")));
  // Everything else is rejected as by ParseIpPrefix.
  EXPECT_EQ(ParseIpPrefixKeepingHostBits("1.2.3.4/33").status().message(),
            ParseIpPrefix("1.2.3.4/33").status().message());
  EXPECT_EQ(ParseIpPrefixKeepingHostBits("example.com").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(InterfaceNameTest, AcceptsWhatTheKernelCouldName) {
  EXPECT_TRUE(IsInterfaceName("eth0"));
  EXPECT_TRUE(IsInterfaceName("veth-fl.1234_a"));
  EXPECT_TRUE(IsInterfaceName(std::string(kMaxInterfaceName, 'x')));
  EXPECT_FALSE(IsInterfaceName(""));
  EXPECT_FALSE(IsInterfaceName(std::string(kMaxInterfaceName + 1, 'x')));
  for (const char* bad : {".", "..", "a/b", "eth0:1", "a b", "a\tb", "a\nb"}) {
    EXPECT_FALSE(IsInterfaceName(bad)) << bad;
  }
  EXPECT_FALSE(IsInterfaceName(std::string("a\x7f", 2)));
  EXPECT_FALSE(IsInterfaceName(std::string("a\0b", 3)));
}

v1::NetworkTarget Target(std::vector<std::string> destinations, std::vector<std::string> sources,
                         std::vector<uint32_t> ports,
                         v1::NetworkProtocol protocol = v1::NETWORK_PROTOCOL_ANY) {
  v1::NetworkTarget target;
  for (const std::string& d : destinations) target.add_destinations(d);
  for (const std::string& s : sources) target.add_sources(s);
  for (uint32_t p : ports) target.add_ports(p);
  target.set_protocol(protocol);
  return target;
}

TEST(FilterRuleCountTest, CountsDestinationsSourcesPortsAndProtocols) {
  EXPECT_FALSE(IsFilteredTarget(v1::NetworkTarget()));
  EXPECT_EQ(FilterRuleCount(v1::NetworkTarget()), 0);
  // A protocol alone filters: one rule per family.
  EXPECT_TRUE(IsFilteredTarget(Target({}, {}, {}, v1::NETWORK_PROTOCOL_ICMP)));
  EXPECT_EQ(FilterRuleCount(Target({}, {}, {}, v1::NETWORK_PROTOCOL_ICMP)), 2);
  EXPECT_EQ(FilterRuleCount(Target({"198.18.0.2"}, {}, {})), 1);
  // Each port twice (sport, dport), tcp and udp when the protocol is any.
  EXPECT_EQ(FilterRuleCount(Target({"198.18.0.2"}, {}, {53})), 4);
  EXPECT_EQ(FilterRuleCount(Target({"198.18.0.2"}, {}, {53}, v1::NETWORK_PROTOCOL_UDP)), 2);
  // IPv4: 4 x 4 x (2 ports x 2) x 2 protocols; the IPv6 source has no IPv6
  // destination and adds nothing.
  EXPECT_EQ(FilterRuleCount(Target({"198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4"},
                                   {"198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.1.4",
                                    "2001:db8::1"},
                                   {80, 443})),
            128);
  // Families counted separately and added up.
  EXPECT_EQ(FilterRuleCount(Target({"198.18.0.2", "2001:db8::2"}, {}, {})), 2);
  EXPECT_EQ(FilterRuleCount(Target({}, {"198.18.0.2", "2001:db8::/64"}, {22})), 8);
}

TEST(FilterRuleCountTest, NoSharedFamilyAndUnparsableEntries) {
  EXPECT_EQ(FilterRuleCount(Target({"198.18.0.2"}, {"2001:db8::1"}, {})), -1);
  // Entries that do not parse are left to validation; they count as absent.
  EXPECT_EQ(FilterRuleCount(Target({"198.18.0.2", "garbage", "198.18.0.1/24"}, {}, {})), 1);
  EXPECT_EQ(FilterRuleCount(Target({"garbage"}, {}, {})), -1);
}

TEST(FilterRuleCountTest, TheCapIsReachable) {
  std::vector<std::string> destinations;
  for (int i = 0; i < kMaxAddresses; ++i) destinations.push_back("198.18.0." + std::to_string(i));
  // 64 destinations x 2 port directions x 2 protocols = 256: exactly the cap.
  EXPECT_EQ(FilterRuleCount(Target(destinations, {}, {80})), kMaxFilterRules);
  EXPECT_GT(FilterRuleCount(Target(destinations, {}, {80, 443})), kMaxFilterRules);
}

TEST(NetworkKindsTest, CatalogueOrderAndEnginesPreferredFirst) {
  std::vector<std::string> names;
  for (const NetworkKind& kind : NetworkKinds()) names.push_back(kind.name);
  EXPECT_THAT(names, ElementsAre("network.delay", "network.loss", "network.duplicate",
                                 "network.corrupt", "network.bandwidth", "network.partition"));
  EXPECT_THAT(FindNetworkKind("network.delay")->engines, ElementsAre("netem", "nfqueue"));
  EXPECT_THAT(FindNetworkKind("network.loss")->engines, ElementsAre("netem", "nftables"));
  EXPECT_THAT(FindNetworkKind("network.duplicate")->engines, ElementsAre("netem"));
  EXPECT_THAT(FindNetworkKind("network.corrupt")->engines, ElementsAre("netem"));
  EXPECT_THAT(FindNetworkKind("network.bandwidth")->engines, ElementsAre("tbf", "htb"));
  EXPECT_THAT(FindNetworkKind("network.partition")->engines, ElementsAre("nftables"));
  for (const NetworkKind& kind : NetworkKinds()) {
    EXPECT_EQ(FindNetworkKind(kind.kind_case), &kind);
    EXPECT_EQ(FindNetworkKind(kind.name), &kind);
  }
  EXPECT_EQ(FindNetworkKind("cpu.pressure"), nullptr);
  EXPECT_EQ(FindNetworkKind(v1::FaultSpec::kCpuPressure), nullptr);
  EXPECT_EQ(FindNetworkKind(v1::FaultSpec::KIND_NOT_SET), nullptr);
}

}  // namespace
}  // namespace faultline
