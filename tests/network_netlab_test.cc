// The test lab itself: hosts reach each other over v4 and v6 with no loss,
// measurements are sane, an agent comes up inside a host, teardown leaves no
// namespace behind.
#include "tests/netlab.h"

#include <filesystem>

#include "gtest/gtest.h"

namespace faultline::testing {
namespace {

TEST(NetLabTest, HostsReachEachOtherAndTeardownRemovesEverything) {
  std::string name;
  {
    auto lab = NetLab::Create(3);
    ASSERT_TRUE(lab.ok()) << lab.status();
    name = (*lab)->name();
    EXPECT_TRUE(std::filesystem::exists("/run/netns/" + (*lab)->Namespace(2)));

    auto v4 = (*lab)->Ping(0, 2, 200, std::chrono::microseconds(2000));
    ASSERT_TRUE(v4.ok()) << v4.status();
    EXPECT_EQ(v4->sent, 200);
    EXPECT_EQ(v4->received, 200);
    EXPECT_LT(v4->rtt_avg_ms, 5.0);
    EXPECT_GT(v4->rtt_min_ms, 0.0);

    auto v6 = (*lab)->Ping(1, NetLab::Address6(0), 50, std::chrono::microseconds(2000));
    ASSERT_TRUE(v6.ok()) << v6.status();
    EXPECT_EQ(v6->received, 50);

    auto udp = (*lab)->UdpLoss(0, 1, NetLab::Address(1), 1000, std::chrono::microseconds(500));
    ASSERT_TRUE(udp.ok()) << udp.status();
    EXPECT_EQ(udp->received, 1000);
    EXPECT_EQ(udp->loss_pct, 0.0);

    std::string before = (*lab)->Snapshot(0);
    EXPECT_NE(before.find("eth0"), std::string::npos);
    EXPECT_EQ(before, (*lab)->Snapshot(0));
  }
  for (const char* suffix : {"-sw", "-h0", "-h1", "-h2"}) {
    EXPECT_FALSE(std::filesystem::exists("/run/netns/" + name + suffix)) << suffix;
  }
}

TEST(NetLabTest, TcpThroughputAndAgent) {
  auto lab = NetLab::Create(2);
  ASSERT_TRUE(lab.ok()) << lab.status();
  auto mbit = (*lab)->TcpThroughputMbit(0, 1, 1);
  ASSERT_TRUE(mbit.ok()) << mbit.status();
  EXPECT_GT(*mbit, 100.0);

  auto agent = (*lab)->StartAgent(1);
  ASSERT_FALSE(agent->address.empty()) << ReadFile(agent->log_file);
  EXPECT_EQ(agent->address, "unix:" + agent->state_dir + "/agent.sock");
  EXPECT_TRUE(agent->child.running());
}

}  // namespace
}  // namespace faultline::testing
