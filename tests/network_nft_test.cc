// The nftables engine (network.loss fallback, network.partition) driven
// directly through its Fault lifecycle inside a lab host, measured on real
// traffic between lab namespaces: loss within +-3 points over 2000 packets,
// filters that leave other peers untouched, partitions that let nothing
// through, and a host left exactly as it was (including a table the test
// installed beforehand).
#include <cstdio>
#include <functional>
#include <thread>

#include "agent/faults/network/nft_client.h"
#include "agent/faults/network/nft_fault.h"
#include "agent/faults/network/nft_rules.h"
#include "gtest/gtest.h"
#include "tests/netlab.h"

namespace faultline::testing {
namespace {

using agent::Fault;
using agent::FaultContext;
using std::chrono::microseconds;

constexpr int kPackets = 2000;
constexpr microseconds kInterval{2000};
constexpr char kForeignTable[] =
    "add table inet keep_me; add chain inet keep_me in { type filter hook input priority 10; "
    "policy accept; }; add rule inet keep_me in meta l4proto tcp th dport 9 counter";

class NftFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lab = NetLab::Create(3);
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = std::move(*lab);
    // A table that is not ours: it must survive every fault untouched.
    for (int host : {0, 1}) {
      std::string out;
      ASSERT_EQ(lab_->Exec(host, {"/usr/sbin/nft", kForeignTable}, &out), 0) << out;
      before_[host] = lab_->Snapshot(host);
    }
  }

  void TearDown() override {
    if (lab_ == nullptr) return;
    for (int host : {0, 1}) {
      if (before_[host].empty()) continue;
      EXPECT_EQ(lab_->Snapshot(host), before_[host]) << "host " << host;
    }
  }

  std::unique_ptr<Fault> Make(const v1::FaultSpec& spec, const std::string& id,
                              FaultContext context = {}) {
    context.fault_id = id;
    auto fault = agent::MakeNftFault(spec, context);
    EXPECT_TRUE(fault.ok()) << fault.status();
    return fault.ok() ? std::move(*fault) : nullptr;
  }

  // Runs one lifecycle call inside `host`'s network namespace.
  absl::Status In(int host, const std::function<absl::Status()>& fn) {
    return lab_->RunIn(host, fn);
  }
  absl::Status PrepareApply(int host, Fault* fault) {
    return In(host, [&] {
      absl::Status s = fault->Prepare();
      return s.ok() ? fault->Apply() : s;
    });
  }
  absl::Status Revert(int host, Fault* fault) { return In(host, [&] { return fault->Revert(); }); }
  agent::Observation Observe(int host, Fault* fault) {
    agent::Observation out;
    (void)In(host, [&] {
      out = fault->Observe();
      return absl::OkStatus();
    });
    return out;
  }
  std::string Ruleset(int host) {
    std::string out;
    lab_->Exec(host, {"/usr/sbin/nft", "list", "ruleset"}, &out);
    return out;
  }

  std::unique_ptr<NetLab> lab_;
  std::string before_[2];
};

v1::FaultSpec Loss(double percent, std::vector<std::string> destinations) {
  v1::FaultSpec spec;
  auto* loss = spec.mutable_network_loss();
  loss->set_percent(percent);
  for (auto& d : destinations) loss->mutable_target()->add_destinations(d);
  return spec;
}

v1::FaultSpec Partition(std::vector<std::string> peers, v1::PartitionDirection direction) {
  v1::FaultSpec spec;
  auto* partition = spec.mutable_network_partition();
  for (auto& p : peers) partition->add_peers(p);
  partition->set_direction(direction);
  return spec;
}

class NftLossTest : public NftFaultTest, public ::testing::WithParamInterface<double> {};

// Egress loss towards h1 only: ping h0->h1 loses percent +-3 points while a
// concurrent ping h0->h2 loses nothing.
TEST_P(NftLossTest, FilteredEgressLossIsMeasuredAndOtherPeerUntouched) {
  const double percent = GetParam();
  auto fault = Make(Loss(percent, {"198.18.0.2/32"}), "loss-" + std::to_string(int(percent)));
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(PrepareApply(0, fault.get()).ok());
  EXPECT_EQ(fault->engine(), "nftables");
  EXPECT_EQ(fault->revert_state().network().interface(), "eth0");
  EXPECT_NE(fault->revert_state().network().nft_table_handle(), 0u);

  absl::StatusOr<PingResult> other;
  std::thread side([&] { other = lab_->Ping(0, 2, kPackets, kInterval); });
  auto lossy = lab_->Ping(0, 1, kPackets, kInterval);
  side.join();
  ASSERT_TRUE(lossy.ok()) << lossy.status();
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(lossy->sent, kPackets);
  EXPECT_NEAR(lossy->loss_pct, percent, 3.0);
  std::printf("loss %.0f%%: measured %.2f%% of %d pings; other peer %.2f%%\n", percent,
              lossy->loss_pct, lossy->sent, other->loss_pct);
  EXPECT_EQ(other->received, kPackets) << "the unfiltered peer lost packets";

  agent::Observation seen = Observe(0, fault.get());
  EXPECT_EQ(seen["packets_dropped"], lossy->sent - lossy->received);
  EXPECT_GE(seen["packets_matched"], kPackets);

  ASSERT_TRUE(Revert(0, fault.get()).ok());
  ASSERT_TRUE(Revert(0, fault.get()).ok()) << "second revert";
  auto after = lab_->Ping(0, 1, 200, kInterval);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->received, 200);
}

INSTANTIATE_TEST_SUITE_P(Percents, NftLossTest, ::testing::Values(10.0, 30.0),
                         [](const auto& info) { return "Pct" + std::to_string(int(info.param)); });

// Ingress loss on h1 for IPv6 UDP from h0, measured by the receiver.
TEST_F(NftFaultTest, IngressLossOnIpv6Udp) {
  v1::FaultSpec spec = Loss(30, {});
  auto* target = spec.mutable_network_loss()->mutable_target();
  target->set_direction(v1::NETWORK_DIRECTION_INGRESS);
  target->add_sources(NetLab::Address6(0));
  target->set_protocol(v1::NETWORK_PROTOCOL_UDP);
  auto fault = Make(spec, "ingress-v6");
  ASSERT_TRUE(PrepareApply(1, fault.get()).ok());
  auto udp = lab_->UdpLoss(0, 1, NetLab::Address6(1), kPackets, microseconds(500));
  ASSERT_TRUE(udp.ok()) << udp.status();
  EXPECT_NEAR(udp->loss_pct, 30.0, 3.0);
  std::printf("ingress IPv6 UDP loss 30%%: measured %.2f%% of %d\n", udp->loss_pct, udp->sent);
  // IPv4 from the same host is outside the filter.
  auto v4 = lab_->UdpLoss(0, 1, NetLab::Address(1), 500, microseconds(500));
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->received, 500);
  ASSERT_TRUE(Revert(1, fault.get()).ok());
}

// Partition h0 | h1 both ways: zero datagrams in either direction, h2 unaffected.
TEST_F(NftFaultTest, PartitionBothLetsNothingThroughOthersUnaffected) {
  auto fault = Make(Partition({"198.18.0.2", "fd00:198:18::2"}, v1::PARTITION_DIRECTION_BOTH),
                    "cut-both");
  ASSERT_TRUE(PrepareApply(0, fault.get()).ok());
  auto out = lab_->UdpLoss(0, 1, NetLab::Address(1), 500, microseconds(200));
  auto in = lab_->UdpLoss(1, 0, NetLab::Address(0), 500, microseconds(200));
  auto out6 = lab_->UdpLoss(0, 1, NetLab::Address6(1), 500, microseconds(200));
  auto ping = lab_->Ping(1, 0, 100, microseconds(1000), std::chrono::milliseconds(200));
  auto other = lab_->UdpLoss(0, 2, NetLab::Address(2), 500, microseconds(200));
  ASSERT_TRUE(out.ok() && in.ok() && out6.ok() && ping.ok() && other.ok());
  EXPECT_EQ(out->received, 0);
  EXPECT_EQ(in->received, 0);
  EXPECT_EQ(out6->received, 0);
  EXPECT_EQ(ping->received, 0);
  EXPECT_EQ(other->received, 500);
  // v4 out + v4 in + ping in; IPv6 dies earlier, in neighbour discovery,
  // because the peer's neighbour advertisements come from a cut address.
  EXPECT_GE(Observe(0, fault.get())["packets_dropped"], 1100);
  ASSERT_TRUE(Revert(0, fault.get()).ok());
  auto healed = lab_->UdpLoss(0, 1, NetLab::Address(1), 200, microseconds(200));
  ASSERT_TRUE(healed.ok());
  EXPECT_EQ(healed->received, 200);
}

TEST_F(NftFaultTest, PartitionDirectionToAndFrom) {
  for (auto direction : {v1::PARTITION_DIRECTION_TO, v1::PARTITION_DIRECTION_FROM}) {
    auto fault = Make(Partition({"198.18.0.2/32"}, direction), "cut-dir");
    ASSERT_TRUE(PrepareApply(0, fault.get()).ok());
    auto out = lab_->UdpLoss(0, 1, NetLab::Address(1), 300, microseconds(200));
    auto in = lab_->UdpLoss(1, 0, NetLab::Address(0), 300, microseconds(200));
    ASSERT_TRUE(out.ok() && in.ok());
    const bool to = direction == v1::PARTITION_DIRECTION_TO;
    EXPECT_EQ(out->received, to ? 0 : 300) << "to=" << to;
    EXPECT_EQ(in->received, to ? 300 : 0) << "to=" << to;
    ASSERT_TRUE(Revert(0, fault.get()).ok());
  }
}

TEST_F(NftFaultTest, PartitionByPortAndProtocol) {
  v1::FaultSpec spec = Partition({"198.18.0.0/24"}, v1::PARTITION_DIRECTION_BOTH);
  spec.mutable_network_partition()->add_ports(7000);
  spec.mutable_network_partition()->set_protocol(v1::NETWORK_PROTOCOL_UDP);
  auto fault = Make(spec, "cut-port");
  ASSERT_TRUE(PrepareApply(0, fault.get()).ok());
  auto cut = lab_->UdpLoss(0, 1, NetLab::Address(1), 300, microseconds(200), 7000);
  auto open = lab_->UdpLoss(0, 1, NetLab::Address(1), 300, microseconds(200), 7001);
  auto ping = lab_->Ping(0, 1, 50, microseconds(1000));
  ASSERT_TRUE(cut.ok() && open.ok() && ping.ok());
  EXPECT_EQ(cut->received, 0);
  EXPECT_EQ(open->received, 300);
  EXPECT_EQ(ping->received, 50);
  ASSERT_TRUE(Revert(0, fault.get()).ok());
}

// The caller's address stays reachable through a total loss unless the spec
// opts out of control-plane protection.
TEST_F(NftFaultTest, ControlPlaneIsExemptUnlessAllowed) {
  FaultContext context;
  context.caller_address = "ipv4:198.18.0.2:40000";
  auto fault = Make(Loss(100, {"198.18.0.0/24"}), "cp", context);
  ASSERT_TRUE(PrepareApply(0, fault.get()).ok());
  auto caller = lab_->Ping(0, 1, 50, microseconds(1000));
  auto other = lab_->Ping(0, 2, 50, microseconds(1000), std::chrono::milliseconds(200));
  ASSERT_TRUE(caller.ok() && other.ok());
  EXPECT_EQ(caller->received, 50);
  EXPECT_EQ(other->received, 0);
  ASSERT_TRUE(Revert(0, fault.get()).ok());

  v1::FaultSpec spec = Loss(100, {"198.18.0.0/24"});
  spec.mutable_network_loss()->mutable_target()->set_allow_control_plane(true);
  auto open = Make(spec, "cp-open", context);
  ASSERT_TRUE(PrepareApply(0, open.get()).ok());
  auto cut = lab_->Ping(0, 1, 50, microseconds(1000), std::chrono::milliseconds(200));
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->received, 0);
  ASSERT_TRUE(Revert(0, open.get()).ok());
}

// A fresh fault object restored from the persisted state removes the table
// (the crash path) but never a same-named table with another handle.
TEST_F(NftFaultTest, RestoreRevertsOnlyOurTable) {
  v1::FaultSpec spec = Loss(50, {"198.18.0.2"});
  auto fault = Make(spec, "crash");
  ASSERT_TRUE(PrepareApply(0, fault.get()).ok());
  v1::RevertState state = fault->revert_state();
  const std::string table = state.network().nft_table();
  EXPECT_EQ(table, agent::NftTableName("crash"));
  ASSERT_NE(Ruleset(0).find(table), std::string::npos);

  auto fresh = Make(spec, "crash");
  fresh->Restore(state);
  ASSERT_TRUE(Revert(0, fresh.get()).ok());
  EXPECT_EQ(Ruleset(0).find(table), std::string::npos);

  // A namesake created by someone else (another handle) stays.
  std::string out;
  ASSERT_EQ(lab_->Exec(0, {"/usr/sbin/nft", "add table netdev " + table}, &out), 0) << out;
  auto again = Make(spec, "crash");
  again->Restore(state);
  ASSERT_TRUE(Revert(0, again.get()).ok());
  EXPECT_NE(Ruleset(0).find(table), std::string::npos);
  // Apply refuses to adopt it, and leaves it alone.
  auto blocked = Make(spec, "crash");
  absl::Status applied = PrepareApply(0, blocked.get());
  EXPECT_EQ(applied.code(), absl::StatusCode::kFailedPrecondition) << applied;
  ASSERT_EQ(lab_->Exec(0, {"/usr/sbin/nft", "delete table netdev " + table}, &out), 0) << out;
}

TEST_F(NftFaultTest, BadTargetsFailBeforeTouchingTheHost) {
  v1::FaultSpec spec = Loss(10, {"198.18.0.2"});
  spec.mutable_network_loss()->mutable_target()->set_interface("nosuch0");
  auto fault = Make(spec, "bad-if");
  EXPECT_EQ(PrepareApply(0, fault.get()).code(), absl::StatusCode::kNotFound);
  auto unroutable = Make(Loss(10, {"203.0.113.9"}), "no-route");
  EXPECT_EQ(PrepareApply(0, unroutable.get()).code(), absl::StatusCode::kNotFound);
  auto nothing = Make(Loss(10, {}), "no-dest");
  EXPECT_EQ(PrepareApply(0, nothing.get()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Revert(0, nothing.get()).ok()) << "revert without apply";

  v1::FaultSpec ge = Loss(10, {"198.18.0.2"});
  ge.mutable_network_loss()->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT);
  FaultContext context;
  context.fault_id = "ge";
  EXPECT_EQ(agent::MakeNftFault(ge, context).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace faultline::testing
