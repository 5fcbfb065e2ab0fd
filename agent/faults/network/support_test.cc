// DetectNetworkSupport on this machine (MACHINE-NOTES: no sch_netem; HTB,
// TBF, u32, IFB + mirred, nftables with numgen and the NFQUEUE xt target
// present), and proof that probing leaves the host's own links and qdiscs
// alone. Needs root.
#include "agent/faults/network/support.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace faultline::agent {
namespace {

using ::testing::HasSubstr;

std::string HostState() {
  std::string all;
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{"/usr/sbin/tc", "qdisc", "show"},
        std::vector<std::string>{"/usr/sbin/ip", "-o", "link"}}) {
    std::string output;
    EXPECT_EQ(faultline::testing::RunCommand(argv, &output), 0) << output;
    all += output;
  }
  return all;
}

TEST(SupportTest, DetectsWhatThisKernelOffers) {
  const std::string before = HostState();
  const NetworkSupport support = DetectNetworkSupport();
  EXPECT_TRUE(support.detected);
  EXPECT_TRUE(support.htb) << support.missing;
  EXPECT_TRUE(support.tbf) << support.missing;
  EXPECT_TRUE(support.u32) << support.missing;
  EXPECT_TRUE(support.ifb) << support.missing;
  EXPECT_TRUE(support.nftables) << support.missing;
  EXPECT_TRUE(support.nfqueue) << support.missing;
  if (!support.netem) {
    EXPECT_THAT(support.missing, HasSubstr("netem: kernel has no sch_netem"));
    EXPECT_THAT(support.missing, HasSubstr("Specified qdisc kind is unknown"));
  }
  EXPECT_EQ(HostState(), before) << "probing changed the host";
}

TEST(SupportTest, RepeatedProbesAgree) {
  const NetworkSupport a = DetectNetworkSupport();
  const NetworkSupport b = DetectNetworkSupport();
  EXPECT_EQ(a.netem, b.netem);
  EXPECT_EQ(a.htb, b.htb);
  EXPECT_EQ(a.ifb, b.ifb);
  EXPECT_EQ(a.nftables, b.nftables);
  EXPECT_EQ(a.missing, b.missing);
}

}  // namespace
}  // namespace faultline::agent
