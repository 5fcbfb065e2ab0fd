// u32 rule expansion (tc_filter.h) and the generated netem distribution
// tables (tc_distribution.h). Pure.
#include "agent/faults/network/tc_filter.h"

#include <cmath>

#include "agent/faults/network/tc_distribution.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

bool HasKey(const TcMatch& m, uint32_t value, uint32_t mask, int offset) {
  for (const U32Key& k : m.keys) {
    if (k.value == value && k.mask == mask && k.offset == offset) return true;
  }
  return false;
}

TEST(TargetMatchesTest, UnfilteredTargetHasNoRules) {
  v1::NetworkTarget target;
  target.set_interface("eth0");
  EXPECT_TRUE(TargetMatches(target).empty());
}

TEST(TargetMatchesTest, Ipv4DestinationPrefix) {
  v1::NetworkTarget target;
  target.add_destinations("198.18.0.0/24");
  std::vector<TcMatch> rules = TargetMatches(target);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].protocol, kEthPIp);
  ASSERT_EQ(rules[0].keys.size(), 1u);
  EXPECT_TRUE(HasKey(rules[0], 0xC6120000u, 0xFFFFFF00u, 16));
}

TEST(TargetMatchesTest, Ipv6SourceAndDestinationWordByWord) {
  v1::NetworkTarget target;
  target.add_destinations("fd00:198:18::/48");
  target.add_sources("fd00:198:18::1");
  std::vector<TcMatch> rules = TargetMatches(target);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].protocol, kEthPIpv6);
  // /48: one full word and the upper half of the next.
  EXPECT_TRUE(HasKey(rules[0], 0xFD000198u, 0xFFFFFFFFu, 24));
  EXPECT_TRUE(HasKey(rules[0], 0x00180000u, 0xFFFF0000u, 28));
  // /128 source: four words at offset 8.
  EXPECT_TRUE(HasKey(rules[0], 0x00000001u, 0xFFFFFFFFu, 20));
  EXPECT_EQ(rules[0].keys.size(), 2u + 4u);
}

TEST(TargetMatchesTest, PortsMatchEitherSideForTcpAndUdpInBothFamilies) {
  v1::NetworkTarget target;
  target.add_ports(5432);
  std::vector<TcMatch> rules = TargetMatches(target);
  // 2 families x 2 protocols x 2 sides.
  ASSERT_EQ(rules.size(), 8u);
  const TcMatch& v4_tcp_sport = rules[0];
  EXPECT_EQ(v4_tcp_sport.protocol, kEthPIp);
  EXPECT_TRUE(HasKey(v4_tcp_sport, 6u << 16, 0x00FF0000u, 8));
  EXPECT_TRUE(HasKey(v4_tcp_sport, 0x05000000u, 0x0F000000u, 0)) << "IHL 5";
  EXPECT_TRUE(HasKey(v4_tcp_sport, 0, 0x1FFFu, 4)) << "first fragment only";
  EXPECT_TRUE(HasKey(v4_tcp_sport, 5432u << 16, 0xFFFF0000u, 20));
  EXPECT_TRUE(HasKey(rules[1], 5432u, 0x0000FFFFu, 20));
  EXPECT_TRUE(HasKey(rules[2], 17u << 16, 0x00FF0000u, 8)) << "udp";
  const TcMatch& v6_udp_dport = rules[7];
  EXPECT_EQ(v6_udp_dport.protocol, kEthPIpv6);
  EXPECT_TRUE(HasKey(v6_udp_dport, 17u << 8, 0x0000FF00u, 4));
  EXPECT_TRUE(HasKey(v6_udp_dport, 5432u, 0x0000FFFFu, 40));
}

TEST(TargetMatchesTest, IcmpMeansIcmpv6ForIpv6AndFamiliesFollowTheCidrs) {
  v1::NetworkTarget target;
  target.set_protocol(v1::NETWORK_PROTOCOL_ICMP);
  std::vector<TcMatch> both = TargetMatches(target);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_TRUE(HasKey(both[0], 1u << 16, 0x00FF0000u, 8));
  EXPECT_TRUE(HasKey(both[1], 58u << 8, 0x0000FF00u, 4));
  target.add_destinations("198.18.0.2");
  std::vector<TcMatch> v4 = TargetMatches(target);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].protocol, kEthPIp);
}

TEST(TargetMatchesTest, DestinationsTimesSources) {
  v1::NetworkTarget target;
  target.add_destinations("198.18.0.2");
  target.add_destinations("198.18.0.3");
  target.add_destinations("2001:db8::/32");
  target.add_sources("198.18.0.1");
  std::vector<TcMatch> rules = TargetMatches(target);
  ASSERT_EQ(rules.size(), 2u) << "the v6 destination has no v6 source to pair with";
  EXPECT_TRUE(HasKey(rules[1], 0xC6120003u, 0xFFFFFFFFu, 16));
  EXPECT_TRUE(HasKey(rules[1], 0xC6120001u, 0xFFFFFFFFu, 12));
}

TEST(ExemptionMatchesTest, ControlPortAndCaller) {
  EXPECT_TRUE(ExemptionMatches(0, "").empty());
  EXPECT_TRUE(ExemptionMatches(0, "not-an-address").empty());
  std::vector<TcMatch> port = ExemptionMatches(7431, "");
  ASSERT_EQ(port.size(), 4u);
  EXPECT_TRUE(HasKey(port[0], 6u << 16, 0x00FF0000u, 8));
  EXPECT_TRUE(HasKey(port[0], 7431u << 16, 0xFFFF0000u, 20));
  EXPECT_TRUE(HasKey(port[1], 7431u, 0x0000FFFFu, 20));
  EXPECT_TRUE(HasKey(port[3], 7431u, 0x0000FFFFu, 40));
  std::vector<TcMatch> caller = ExemptionMatches(0, "10.1.2.3");
  ASSERT_EQ(caller.size(), 2u);
  EXPECT_TRUE(HasKey(caller[0], 0x0A010203u, 0xFFFFFFFFu, 12));
  EXPECT_TRUE(HasKey(caller[1], 0x0A010203u, 0xFFFFFFFFu, 16));
  EXPECT_TRUE(ExemptionMatches(0, "127.0.0.1").empty()) << "loopback callers use the port";
  EXPECT_TRUE(ExemptionMatches(0, "::1").empty());
  EXPECT_EQ(ExemptionMatches(7431, "127.0.0.1").size(), 4u);
  std::vector<TcMatch> caller6 = ExemptionMatches(0, "2001:db8::7");
  ASSERT_EQ(caller6.size(), 2u);
  EXPECT_EQ(caller6[0].protocol, kEthPIpv6);
  EXPECT_EQ(caller6[0].keys.size(), 4u);
}

struct Moments {
  double mean = 0, sd = 0;
};

Moments Of(const std::vector<int16_t>& table) {
  Moments m;
  for (int16_t v : table) m.mean += v;
  m.mean /= table.size();
  for (int16_t v : table) m.sd += (v - m.mean) * (v - m.mean);
  m.sd = std::sqrt(m.sd / table.size());
  return m;
}

TEST(NetemDistributionTest, TablesAreStandardised) {
  EXPECT_TRUE(NetemDistributionTable(v1::DELAY_DISTRIBUTION_UNSPECIFIED).empty());
  EXPECT_TRUE(NetemDistributionTable(v1::DELAY_DISTRIBUTION_UNIFORM).empty());
  for (v1::DelayDistribution d : {v1::DELAY_DISTRIBUTION_NORMAL, v1::DELAY_DISTRIBUTION_PARETO,
                                  v1::DELAY_DISTRIBUTION_PARETONORMAL}) {
    const std::vector<int16_t>& table = NetemDistributionTable(d);
    ASSERT_EQ(table.size(), 4096u) << d;
    const Moments m = Of(table);
    EXPECT_NEAR(m.mean, 0, 0.01 * kNetemDistScale) << d;
    EXPECT_NEAR(m.sd, kNetemDistScale, 0.02 * kNetemDistScale) << d;
    EXPECT_TRUE(std::is_sorted(table.begin(), table.end())) << d;
  }
  const std::vector<int16_t>& normal = NetemDistributionTable(v1::DELAY_DISTRIBUTION_NORMAL);
  // The median of a normal is 0; ~68% of samples lie within one sd.
  EXPECT_NEAR(normal[2048], 0, 10);
  const auto within = std::count_if(normal.begin(), normal.end(),
                                    [](int16_t v) { return std::abs(v) <= kNetemDistScale; });
  EXPECT_NEAR(within / 4096.0, 0.6827, 0.01);
  // Pareto is skewed: its median sits below its mean.
  EXPECT_LT(NetemDistributionTable(v1::DELAY_DISTRIBUTION_PARETO)[2048], -1000);
}

}  // namespace
}  // namespace faultline::agent
