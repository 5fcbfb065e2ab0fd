// The fallback engines through a real faultline-agent running inside a lab
// host, driven over gRPC like the controller drives it: loss, partition and
// delay measured on real traffic, List reports what the kernel counted, and
// kill -9 of the agent during a delay (NFQUEUE) and during a loss leaves
// traffic flowing (bypass) or lossy until the restarted agent removes every
// object of ours. After each test the host is exactly as before, including
// an nft table the test installed itself.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "faultline/v1/agent.grpc.pb.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "tests/netlab.h"

namespace faultline::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr char kForeignTable[] =
    "add table inet keep_me; add chain inet keep_me in { type filter hook input priority 10; "
    "policy accept; }; add rule inet keep_me in meta l4proto tcp th dport 9 counter";

v1::FaultSpec Loss(double percent, const std::string& destination) {
  v1::FaultSpec spec;
  spec.mutable_network_loss()->set_percent(percent);
  spec.mutable_network_loss()->mutable_target()->add_destinations(destination);
  return spec;
}

v1::FaultSpec Delay(uint64_t delay_ms, const std::string& destination) {
  v1::FaultSpec spec;
  spec.mutable_network_delay()->set_delay_us(delay_ms * 1000);
  spec.mutable_network_delay()->mutable_target()->add_destinations(destination);
  return spec;
}

v1::FaultSpec Partition(const std::string& peer) {
  v1::FaultSpec spec;
  spec.mutable_network_partition()->add_peers(peer);
  return spec;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

class AgentNftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lab = NetLab::Create(3);
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = std::move(*lab);
    std::string out;
    ASSERT_EQ(lab_->Exec(0, {"/usr/sbin/nft", kForeignTable}, &out), 0) << out;
    before_ = lab_->Snapshot(0);
    agent_ = lab_->StartAgent(0);
    ASSERT_FALSE(agent_->address.empty()) << ReadFile(agent_->log_file);
    Connect();
  }

  void TearDown() override {
    if (lab_ == nullptr || before_.empty()) return;
    EXPECT_EQ(lab_->Snapshot(0), before_);
  }

  void Connect() {
    stub_ = v1::AgentService::NewStub(
        grpc::CreateChannel(agent_->address, grpc::InsecureChannelCredentials()));
  }

  grpc::Status Apply(const std::string& id, const v1::FaultSpec& spec, v1::ApplyResponse* response,
                     uint64_t duration_ms = 600'000) {
    v1::ApplyRequest request;
    request.set_fault_id(id);
    request.set_run_id("run-nft");
    request.set_duration_ms(duration_ms);
    request.set_lease_ttl_ms(600'000);
    *request.mutable_spec() = spec;
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->Apply(&call, request, response);
  }

  grpc::Status Revert(const std::string& id, v1::RevertResponse* response) {
    v1::RevertRequest request;
    request.set_fault_id(id);
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->Revert(&call, request, response);
  }

  std::string Ruleset() {
    std::string out;
    lab_->Exec(0, {"/usr/sbin/nft", "list", "ruleset"}, &out);
    return out;
  }

  void KillAgent() {
    agent_->child.Signal(SIGKILL);
    agent_->child.Wait(std::chrono::seconds(10));
  }

  void RestartAgent() {
    std::string state_dir = agent_->state_dir;
    auto keep_dir = std::move(agent_->own_dir);  // the state dir outlives the old agent
    agent_ = lab_->StartAgent(0, state_dir);
    agent_->own_dir = std::move(keep_dir);
    ASSERT_FALSE(agent_->address.empty()) << ReadFile(agent_->log_file);
    Connect();
  }

  std::unique_ptr<NetLab> lab_;
  std::string before_;
  std::unique_ptr<LabAgent> agent_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
};

TEST_F(AgentNftTest, LossThroughTheAgent) {
  v1::ApplyResponse applied;
  grpc::Status status = Apply("loss30", Loss(30, "198.18.0.2/32"), &applied);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(applied.fault().engine(), "nftables");
  auto ping = lab_->Ping(0, 1, 2000, microseconds(2000));
  ASSERT_TRUE(ping.ok());
  EXPECT_NEAR(ping->loss_pct, 30.0, 3.0);
  std::printf("agent loss 30%%: measured %.2f%% of %d\n", ping->loss_pct, ping->sent);

  v1::RevertResponse reverted;
  status = Revert("loss30", &reverted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(reverted.was_active());
  EXPECT_EQ(reverted.fault().observed().at("packets_dropped"), ping->sent - ping->received);
}

TEST_F(AgentNftTest, PartitionThroughTheAgent) {
  v1::ApplyResponse applied;
  grpc::Status status = Apply("cut", Partition("198.18.0.2"), &applied);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(applied.fault().engine(), "nftables");
  auto cut = lab_->UdpLoss(1, 0, NetLab::Address(0), 300, microseconds(300));
  auto other = lab_->UdpLoss(2, 0, NetLab::Address(0), 300, microseconds(300));
  ASSERT_TRUE(cut.ok() && other.ok());
  EXPECT_EQ(cut->received, 0);
  EXPECT_EQ(other->received, 300);
  v1::RevertResponse reverted;
  ASSERT_TRUE(Revert("cut", &reverted).ok());
}

TEST_F(AgentNftTest, DelayThroughTheAgentEndsWithItsDuration) {
  auto baseline = lab_->Ping(0, 1, 50, milliseconds(5));
  ASSERT_TRUE(baseline.ok());
  v1::ApplyResponse applied;
  grpc::Status status = Apply("d50", Delay(50, "198.18.0.2"), &applied, /*duration_ms=*/2500);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(applied.fault().engine(), "nfqueue");
  auto delayed = lab_->Ping(0, 1, 100, milliseconds(10));
  ASSERT_TRUE(delayed.ok());
  EXPECT_GE(delayed->rtt_min_ms, 50.0);
  EXPECT_LE(Median(delayed->rtts_ms), Median(baseline->rtts_ms) + 53.0);
  // The agent reverts on its own when the duration ends.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Ruleset().find("faultline_d50") != std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  auto after = lab_->Ping(0, 1, 50, milliseconds(5));
  ASSERT_TRUE(after.ok());
  EXPECT_LT(Median(after->rtts_ms), Median(baseline->rtts_ms) + 1.0);
}

// kill -9 during an NFQUEUE delay: nobody listens on the queue any more and
// the bypass lets traffic through undelayed at once; the restarted agent
// deletes the table.
TEST_F(AgentNftTest, KilledDuringDelayTrafficFlowsAndRestartCleansUp) {
  auto baseline = lab_->Ping(0, 1, 50, milliseconds(5));
  ASSERT_TRUE(baseline.ok());
  v1::ApplyResponse applied;
  ASSERT_TRUE(Apply("crash-delay", Delay(50, "198.18.0.2"), &applied).ok());
  auto delayed = lab_->Ping(0, 1, 20, milliseconds(10));
  ASSERT_TRUE(delayed.ok());
  EXPECT_GE(delayed->rtt_min_ms, 50.0);

  KillAgent();
  EXPECT_NE(Ruleset().find("faultline_crash_delay"), std::string::npos) << "kill -9 reverts nothing";
  auto orphaned = lab_->Ping(0, 1, 200, milliseconds(2));
  ASSERT_TRUE(orphaned.ok());
  EXPECT_EQ(orphaned->received, 200) << "queue bypass keeps traffic flowing";
  EXPECT_LT(Median(orphaned->rtts_ms), Median(baseline->rtts_ms) + 1.0);

  RestartAgent();
  EXPECT_EQ(Ruleset().find("faultline_"), std::string::npos) << Ruleset();
  auto after = lab_->Ping(0, 1, 100, milliseconds(2));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->received, 100);
}

// kill -9 during a loss: the table (and the loss) stays until the restarted
// agent's recovery deletes it.
TEST_F(AgentNftTest, KilledDuringLossRestartCleansUp) {
  v1::ApplyResponse applied;
  ASSERT_TRUE(Apply("crash-loss", Loss(100, "198.18.0.2"), &applied).ok());
  KillAgent();
  auto lost = lab_->Ping(0, 1, 50, milliseconds(2), milliseconds(200));
  ASSERT_TRUE(lost.ok());
  EXPECT_EQ(lost->received, 0) << "the loss outlives the agent until recovery";

  RestartAgent();
  EXPECT_EQ(Ruleset().find("faultline_"), std::string::npos) << Ruleset();
  auto after = lab_->Ping(0, 1, 500, milliseconds(2));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->received, 500);
}

}  // namespace
}  // namespace faultline::testing
