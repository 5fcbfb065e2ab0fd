// Policy on a real network (privileged, in a throwaway netlab): a
// network.delay above max_delay is refused before anything reaches the
// namespace (qdiscs, filters, nft ruleset and links unchanged, RTT unchanged,
// no state-file entry), while one within the limit really delays packets and
// reverts to the same snapshot.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include "agent/faults/network/support.h"
#include "agent/host/clock.h"
#include "agent/manager/fault_manager.h"
#include "agent/manager/state_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/netlab.h"
#include "tests/test_util.h"

namespace faultline::agent {
namespace {

using faultline::testing::NetLab;
using faultline::testing::PingResult;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

v1::ApplyRequest Delay(const std::string& id, uint64_t delay_ms, bool dry_run) {
  v1::ApplyRequest request;
  request.set_fault_id(id);
  request.set_run_id("run1");
  request.set_duration_ms(60'000);
  request.set_lease_ttl_ms(600'000);
  request.set_dry_run(dry_run);
  v1::NetworkDelay* delay = request.mutable_spec()->mutable_network_delay();
  delay->set_delay_us(delay_ms * 1000);
  delay->mutable_target()->set_interface(NetLab::kInterface);
  delay->mutable_target()->add_destinations(NetLab::Address(1) + "/32");
  return request;
}

TEST(PolicyNetLabTest, MaxDelayRefusesATooLargeDelayBeforeTheHostChanges) {
  auto lab = NetLab::Create(2);
  ASSERT_TRUE(lab.ok()) << lab.status();
  const std::string before = (*lab)->Snapshot(0);
  absl::StatusOr<PingResult> base = (*lab)->Ping(0, 1, 10, milliseconds(5));
  ASSERT_TRUE(base.ok()) << base.status();
  ASSERT_EQ(base->received, 10);

  faultline::testing::TempDir state;
  ManagerOptions options;
  options.state_dir = state.path();
  options.policy.max_delay = milliseconds(100);
  options.policy.interfaces = std::vector<std::string>{"eth*"};
  options.fault_context.network = DetectNetworkSupport();
  RealClock clock;
  FaultManager manager(options, &clock);
  ASSERT_TRUE(manager.Recover().ok());

  for (bool dry_run : {true, false}) {
    absl::Status refused = absl::OkStatus();
    ASSERT_TRUE((*lab)
                    ->RunIn(0,
                            [&] {
                              refused = manager.Apply(Delay("big", 500, dry_run)).status();
                              return absl::OkStatus();
                            })
                    .ok());
    EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(refused.message(),
              "fault big: policy max_delay (100ms) refuses network.delay of 500ms");
  }
  EXPECT_EQ((*lab)->Snapshot(0), before);
  absl::StatusOr<v1::AgentState> persisted = StateFile(state.path()).Read();
  ASSERT_TRUE(persisted.ok()) << persisted.status();
  EXPECT_EQ(persisted->faults_size(), 0);
  absl::StatusOr<PingResult> after = (*lab)->Ping(0, 1, 10, milliseconds(5));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->received, 10);
  EXPECT_LT(after->rtt_max_ms, 50);

  // Within the limit the same fault really delays: the refusal above was the
  // policy, not a request this host could not run.
  ASSERT_TRUE((*lab)->RunIn(0, [&] { return manager.Apply(Delay("small", 60, false)).status(); })
                  .ok());
  EXPECT_NE((*lab)->Snapshot(0), before);
  absl::StatusOr<PingResult> delayed = (*lab)->Ping(0, 1, 10, milliseconds(5));
  ASSERT_TRUE(delayed.ok()) << delayed.status();
  EXPECT_GE(delayed->received, 9);
  EXPECT_GE(delayed->rtt_min_ms, 55);
  std::cout << "rtt ms min/avg/max: baseline " << base->rtt_min_ms << "/" << base->rtt_avg_ms
            << "/" << base->rtt_max_ms << ", after refusal " << after->rtt_min_ms << "/"
            << after->rtt_avg_ms << "/" << after->rtt_max_ms << ", 60ms allowed "
            << delayed->rtt_min_ms << "/" << delayed->rtt_avg_ms << "/" << delayed->rtt_max_ms
            << "\n";
  ASSERT_TRUE((*lab)->RunIn(0, [&] { return manager.Revert("small").status(); }).ok());
  EXPECT_EQ((*lab)->Snapshot(0), before);
}

}  // namespace
}  // namespace faultline::agent
