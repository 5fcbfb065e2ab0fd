// Network spec validation (every field, table-driven), the engine choice per
// kind on hosts with and without netem and Capabilities per kind (the CIDR
// parser and rule count are tested in common/network_limits_test.cc). Pure:
// nothing here touches the host.
#include "agent/faults/network/network_fault.h"

#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using ::testing::HasSubstr;

// This machine (MACHINE-NOTES): everything but netem.
NetworkSupport NoNetem() {
  NetworkSupport s;
  s.detected = true;
  s.htb = s.tbf = s.u32 = s.ifb = s.nftables = s.nfqueue = true;
  s.missing = "netem: kernel has no sch_netem (Specified qdisc kind is unknown)";
  return s;
}

NetworkSupport Everything() {
  NetworkSupport s = NoNetem();
  s.netem = true;
  s.missing.clear();
  return s;
}

v1::FaultSpec Delay(uint64_t delay_us) {
  v1::FaultSpec spec;
  spec.mutable_network_delay()->set_delay_us(delay_us);
  spec.mutable_network_delay()->mutable_target()->set_interface("eth0");
  return spec;
}

v1::FaultSpec Loss(double percent) {
  v1::FaultSpec spec;
  spec.mutable_network_loss()->set_percent(percent);
  spec.mutable_network_loss()->mutable_target()->set_interface("eth0");
  return spec;
}

v1::FaultSpec Bandwidth(uint64_t rate) {
  v1::FaultSpec spec;
  spec.mutable_network_bandwidth()->set_rate_bps(rate);
  spec.mutable_network_bandwidth()->mutable_target()->set_interface("eth0");
  return spec;
}

v1::FaultSpec Partition(const std::string& peer) {
  v1::FaultSpec spec;
  spec.mutable_network_partition()->add_peers(peer);
  return spec;
}

struct BadCase {
  std::string name;
  std::function<v1::FaultSpec()> spec;
  std::string message;  // a substring of the InvalidArgument message
};

class BadSpecTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadSpecTest, IsInvalidArgumentNamingTheField) {
  absl::Status status = ValidateNetworkSpec(GetParam().spec());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(GetParam().message));
}

template <typename F>
std::function<v1::FaultSpec()> With(v1::FaultSpec base, F change) {
  return [base, change]() mutable {
    v1::FaultSpec spec = base;
    change(spec);
    return spec;
  };
}

std::vector<BadCase> BadCases() {
  using S = v1::FaultSpec;
  auto delay_target = [](S& s) { return s.mutable_network_delay()->mutable_target(); };
  return {
      {"delay_zero", With(Delay(0), [](S&) {}), "network.delay: delay_us must be 1..60000000"},
      {"delay_too_long", With(Delay(60'000'001), [](S&) {}), "delay_us must be 1..60000000"},
      {"jitter_above_delay",
       With(Delay(10'000), [](S& s) { s.mutable_network_delay()->set_jitter_us(20'000); }),
       "jitter_us (20000) must not exceed delay_us (10000)"},
      {"correlation_range",
       With(Delay(10'000), [](S& s) { s.mutable_network_delay()->set_correlation_pct(101); }),
       "correlation_pct must be 0..100, got 101"},
      {"correlation_nan",
       With(Delay(10'000),
            [](S& s) { s.mutable_network_delay()->set_correlation_pct(std::nan("")); }),
       "correlation_pct must be 0..100"},
      {"distribution_without_jitter",
       With(Delay(10'000),
            [](S& s) { s.mutable_network_delay()->set_distribution(v1::DELAY_DISTRIBUTION_NORMAL); }),
       "distribution needs jitter_us > 0"},
      {"distribution_unknown",
       With(Delay(10'000),
            [](S& s) {
              s.mutable_network_delay()->set_jitter_us(1);
              s.mutable_network_delay()->set_distribution(static_cast<v1::DelayDistribution>(9));
            }),
       "distribution must be uniform, normal, pareto or paretonormal, got 9"},
      {"gap_without_reorder",
       With(Delay(10'000), [](S& s) { s.mutable_network_delay()->set_reorder_gap(5); }),
       "reorder_gap needs reorder_pct > 0"},
      {"reorder_on_nfqueue",
       With(Delay(10'000),
            [&](S& s) {
              s.mutable_network_delay()->set_reorder_pct(10);
              delay_target(s)->set_engine("nfqueue");
            }),
       "reorder needs engine netem, not nfqueue"},
      {"interface_name",
       With(Delay(10'000), [&](S& s) { delay_target(s)->set_interface("eth0/x"); }),
       "target.interface must be an interface name"},
      {"interface_too_long",
       With(Delay(10'000), [&](S& s) { delay_target(s)->set_interface("abcdefghijklmnop"); }),
       "target.interface must be an interface name of 1..15"},
      {"no_interface_no_destination",
       With(Delay(10'000), [&](S& s) { delay_target(s)->clear_interface(); }),
       "target.interface is required when target.destinations is empty"},
      {"bad_cidr",
       With(Delay(10'000), [&](S& s) { delay_target(s)->add_destinations("198.18.0.300"); }),
       "target.destinations[0] must be an IPv4 or IPv6 address or CIDR"},
      {"host_bits",
       With(Delay(10'000), [&](S& s) { delay_target(s)->add_sources("198.18.0.1/24"); }),
       "target.sources[0] has host bits set after its /24 prefix: \"198.18.0.1/24\"; did you "
       "mean 198.18.0.0/24?"},
      {"prefix_too_long",
       With(Delay(10'000), [&](S& s) { delay_target(s)->add_destinations("2001:db8::/129"); }),
       "has a prefix longer than 128 bits"},
      {"duplicate_cidr",
       With(Delay(10'000),
            [&](S& s) {
              delay_target(s)->add_destinations("198.18.0.2");
              delay_target(s)->add_destinations("198.18.0.2/32");
            }),
       "target.destinations lists 198.18.0.2/32 more than once"},
      {"families_disjoint",
       With(Delay(10'000),
            [&](S& s) {
              delay_target(s)->add_destinations("198.18.0.2");
              delay_target(s)->add_sources("2001:db8::1");
            }),
       "share no address family"},
      {"port_zero", With(Delay(10'000), [&](S& s) { delay_target(s)->add_ports(0); }),
       "target.ports[0] must be a port 1..65535, got 0"},
      {"port_high", With(Delay(10'000), [&](S& s) { delay_target(s)->add_ports(65536); }),
       "must be a port 1..65535, got 65536"},
      {"port_twice",
       With(Delay(10'000),
            [&](S& s) {
              delay_target(s)->add_ports(80);
              delay_target(s)->add_ports(80);
            }),
       "target.ports lists port 80 more than once"},
      {"ports_with_icmp",
       With(Delay(10'000),
            [&](S& s) {
              delay_target(s)->add_ports(80);
              delay_target(s)->set_protocol(v1::NETWORK_PROTOCOL_ICMP);
            }),
       "target.ports need protocol tcp, udp or any; icmp has no ports"},
      {"bad_protocol",
       With(Delay(10'000),
            [&](S& s) { delay_target(s)->set_protocol(static_cast<v1::NetworkProtocol>(7)); }),
       "target.protocol must be any, tcp, udp or icmp, got 7"},
      {"bad_direction",
       With(Delay(10'000),
            [&](S& s) { delay_target(s)->set_direction(static_cast<v1::NetworkDirection>(5)); }),
       "target.direction must be egress or ingress, got 5"},
      {"engine_for_kind",
       With(Delay(10'000), [&](S& s) { delay_target(s)->set_engine("tbf"); }),
       "target.engine \"tbf\" cannot run network.delay; use netem or nfqueue"},
      {"too_many_rules",
       With(Delay(10'000),
            [&](S& s) {
              for (int i = 0; i < 20; ++i) {
                delay_target(s)->add_destinations("198.18.0." + std::to_string(i + 1));
              }
              for (int p = 1; p <= 10; ++p) delay_target(s)->add_ports(p);
            }),
       "the filters expand to 800 classifier rules"},
      {"loss_zero", With(Loss(0), [](S&) {}),
       "network.loss: percent must be greater than 0 and at most 100, got 0"},
      {"loss_above", With(Loss(100.5), [](S&) {}), "percent must be greater than 0"},
      {"ge_with_random",
       With(Loss(10), [](S& s) { s.mutable_network_loss()->mutable_gilbert_elliott(); }),
       "gilbert_elliott is set but model is random"},
      {"ge_missing",
       With(Loss(0), [](S& s) { s.mutable_network_loss()->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT); }),
       "model gilbert-elliott needs gilbert_elliott"},
      {"ge_with_percent",
       With(Loss(10),
            [](S& s) {
              s.mutable_network_loss()->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT);
              s.mutable_network_loss()->mutable_gilbert_elliott()->set_p_pct(1);
              s.mutable_network_loss()->mutable_gilbert_elliott()->set_bad_loss_pct(100);
            }),
       "percent and correlation_pct cannot be used with model gilbert-elliott"},
      {"ge_drops_nothing",
       With(Loss(0),
            [](S& s) {
              s.mutable_network_loss()->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT);
              s.mutable_network_loss()->mutable_gilbert_elliott()->set_p_pct(5);
            }),
       "gilbert_elliott drops nothing"},
      {"ge_range",
       With(Loss(0),
            [](S& s) {
              s.mutable_network_loss()->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT);
              s.mutable_network_loss()->mutable_gilbert_elliott()->set_p_pct(5);
              s.mutable_network_loss()->mutable_gilbert_elliott()->set_bad_loss_pct(120);
            }),
       "gilbert_elliott.bad_loss_pct must be 0..100, got 120"},
      {"duplicate_zero",
       [] {
         v1::FaultSpec s;
         s.mutable_network_duplicate()->mutable_target()->set_interface("eth0");
         return s;
       },
       "network.duplicate: percent must be greater than 0"},
      {"corrupt_correlation",
       [] {
         v1::FaultSpec s;
         s.mutable_network_corrupt()->set_percent(1);
         s.mutable_network_corrupt()->set_correlation_pct(-1);
         s.mutable_network_corrupt()->mutable_target()->set_interface("eth0");
         return s;
       },
       "network.corrupt: correlation_pct must be 0..100, got -1"},
      {"rate_low", With(Bandwidth(7'999), [](S&) {}),
       "network.bandwidth: rate_bps must be 8000..100000000000"},
      {"rate_high", With(Bandwidth(100'000'000'001), [](S&) {}), "rate_bps must be 8000.."},
      {"burst_small",
       With(Bandwidth(1'000'000), [](S& s) { s.mutable_network_bandwidth()->set_burst_bytes(100); }),
       "burst_bytes must be 0 (default) or 1600..1073741824"},
      {"limit_huge",
       With(Bandwidth(1'000'000),
            [](S& s) { s.mutable_network_bandwidth()->set_limit_bytes(uint64_t{1} << 31); }),
       "limit_bytes must be 0 (default) or 1600"},
      {"tbf_filtered",
       With(Bandwidth(1'000'000),
            [](S& s) {
              s.mutable_network_bandwidth()->mutable_target()->set_engine("tbf");
              s.mutable_network_bandwidth()->mutable_target()->add_ports(80);
            }),
       "target.engine tbf shapes the whole interface and cannot filter"},
      {"partition_no_peers", [] {
         v1::FaultSpec s;
         s.mutable_network_partition();
         return s;
       },
       "network.partition: peers must list at least one address or CIDR"},
      {"partition_target_filters",
       With(Partition("198.18.0.2"),
            [](S& s) {
              s.mutable_network_partition()->mutable_target()->add_destinations("198.18.0.3");
            }),
       "target.destinations, target.sources, target.ports and target.protocol must be empty in a "
       "partition"},
      {"partition_engine",
       With(Partition("198.18.0.2"),
            [](S& s) { s.mutable_network_partition()->mutable_target()->set_engine("netem"); }),
       "target.engine \"netem\" cannot run network.partition"},
      {"partition_icmp_ports",
       With(Partition("198.18.0.2"),
            [](S& s) {
              s.mutable_network_partition()->add_ports(22);
              s.mutable_network_partition()->set_protocol(v1::NETWORK_PROTOCOL_ICMP);
            }),
       "ports need protocol tcp, udp or any"},
      {"partition_direction",
       With(Partition("198.18.0.2"),
            [](S& s) {
              s.mutable_network_partition()->set_direction(static_cast<v1::PartitionDirection>(3));
            }),
       "direction must be both, to or from, got 3"},
      {"partition_bad_peer", With(Partition("peer-a"), [](S&) {}),
       "peers[0] must be an IPv4 or IPv6 address or CIDR"},
  };
}

INSTANTIATE_TEST_SUITE_P(Fields, BadSpecTest, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

TEST(ValidateNetworkSpecTest, ReportsEveryProblemAtOnce) {
  v1::FaultSpec spec = Delay(0);
  spec.mutable_network_delay()->set_correlation_pct(200);
  spec.mutable_network_delay()->mutable_target()->add_ports(0);
  absl::Status status = ValidateNetworkSpec(spec);
  EXPECT_THAT(status.message(), HasSubstr("delay_us"));
  EXPECT_THAT(status.message(), HasSubstr("correlation_pct"));
  EXPECT_THAT(status.message(), HasSubstr("target.ports[0]"));
}

TEST(ValidateNetworkSpecTest, AcceptsGoodSpecs) {
  v1::FaultSpec full = Delay(100'000);
  v1::NetworkDelay* d = full.mutable_network_delay();
  d->set_jitter_us(10'000);
  d->set_correlation_pct(25);
  d->set_distribution(v1::DELAY_DISTRIBUTION_PARETONORMAL);
  d->set_reorder_pct(5);
  d->set_reorder_gap(3);
  d->mutable_target()->add_destinations("198.18.0.0/24");
  d->mutable_target()->add_destinations("fd00:198:18::/64");
  d->mutable_target()->add_sources("198.18.0.1");
  d->mutable_target()->add_ports(443);
  d->mutable_target()->set_direction(v1::NETWORK_DIRECTION_INGRESS);
  EXPECT_TRUE(ValidateNetworkSpec(full).ok()) << ValidateNetworkSpec(full);

  v1::FaultSpec routed = Delay(1);
  routed.mutable_network_delay()->mutable_target()->clear_interface();
  routed.mutable_network_delay()->mutable_target()->add_destinations("2001:db8::1");
  EXPECT_TRUE(ValidateNetworkSpec(routed).ok());

  v1::FaultSpec ge = Loss(0);
  ge.mutable_network_loss()->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT);
  ge.mutable_network_loss()->mutable_gilbert_elliott()->set_p_pct(1);
  ge.mutable_network_loss()->mutable_gilbert_elliott()->set_r_pct(30);
  ge.mutable_network_loss()->mutable_gilbert_elliott()->set_bad_loss_pct(100);
  EXPECT_TRUE(ValidateNetworkSpec(ge).ok()) << ValidateNetworkSpec(ge);

  EXPECT_TRUE(ValidateNetworkSpec(Bandwidth(8'000)).ok());
  EXPECT_TRUE(ValidateNetworkSpec(Bandwidth(100'000'000'000)).ok());
  v1::FaultSpec partition = Partition("198.18.0.2");
  partition.mutable_network_partition()->add_ports(5432);
  partition.mutable_network_partition()->set_protocol(v1::NETWORK_PROTOCOL_TCP);
  EXPECT_TRUE(ValidateNetworkSpec(partition).ok()) << ValidateNetworkSpec(partition);
}

TEST(ChooseNetworkEngineTest, PrefersNetemAndFallsBackWithoutIt) {
  EXPECT_EQ(*ChooseNetworkEngine(Delay(1000), Everything()), "netem");
  EXPECT_EQ(*ChooseNetworkEngine(Delay(1000), NoNetem()), "nfqueue");
  EXPECT_EQ(*ChooseNetworkEngine(Loss(10), Everything()), "netem");
  EXPECT_EQ(*ChooseNetworkEngine(Loss(10), NoNetem()), "nftables");
  EXPECT_EQ(*ChooseNetworkEngine(Bandwidth(1'000'000), NoNetem()), "tbf");
  v1::FaultSpec filtered = Bandwidth(1'000'000);
  filtered.mutable_network_bandwidth()->mutable_target()->add_destinations("198.18.0.2");
  EXPECT_EQ(*ChooseNetworkEngine(filtered, NoNetem()), "htb");
  EXPECT_EQ(*ChooseNetworkEngine(Partition("198.18.0.2"), NoNetem()), "nftables");
}

TEST(ChooseNetworkEngineTest, PinnedEngineThatIsMissingIsFailedPrecondition) {
  v1::FaultSpec spec = Delay(1000);
  spec.mutable_network_delay()->mutable_target()->set_engine("netem");
  absl::StatusOr<std::string> engine = ChooseNetworkEngine(spec, NoNetem());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine.status().message(),
            "network.delay: engine \"netem\" is not available on this host: kernel has no "
            "sch_netem (Specified qdisc kind is unknown)");
  spec.mutable_network_delay()->mutable_target()->set_engine("nfqueue");
  EXPECT_EQ(*ChooseNetworkEngine(spec, Everything()), "nfqueue");
}

TEST(ChooseNetworkEngineTest, NetemOnlyFeaturesFailOnTheFallback) {
  struct Case {
    v1::FaultSpec spec;
    std::string message;
  };
  v1::FaultSpec reorder = Delay(1000);
  reorder.mutable_network_delay()->set_reorder_pct(10);
  v1::FaultSpec correlated = Delay(1000);
  correlated.mutable_network_delay()->set_correlation_pct(10);
  v1::FaultSpec ge = Loss(0);
  ge.mutable_network_loss()->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT);
  ge.mutable_network_loss()->mutable_gilbert_elliott()->set_p_pct(1);
  ge.mutable_network_loss()->mutable_gilbert_elliott()->set_bad_loss_pct(100);
  v1::FaultSpec loss_corr = Loss(10);
  loss_corr.mutable_network_loss()->set_correlation_pct(50);
  v1::FaultSpec duplicate;
  duplicate.mutable_network_duplicate()->set_percent(1);
  v1::FaultSpec corrupt;
  corrupt.mutable_network_corrupt()->set_percent(1);
  const Case cases[] = {
      {reorder, "nfqueue: reorder needs netem"},
      {correlated, "nfqueue: delay correlation needs netem"},
      {ge, "nftables: model gilbert-elliott needs netem"},
      {loss_corr, "nftables: loss correlation needs netem"},
      {duplicate, "network.duplicate: no engine on this host can run this spec (netem: kernel "
                  "has no sch_netem"},
      {corrupt, "network.corrupt: no engine"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> engine = ChooseNetworkEngine(c.spec, NoNetem());
    EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition) << c.message;
    EXPECT_THAT(engine.status().message(), HasSubstr(c.message));
    EXPECT_EQ(*ChooseNetworkEngine(c.spec, Everything()), "netem") << c.message;
  }
}

TEST(ChooseNetworkEngineTest, FiltersAndIngressNeedTheirKernelParts) {
  NetworkSupport no_ifb = Everything();
  no_ifb.ifb = false;
  no_ifb.missing = "ifb: kernel has no ifb links";
  v1::FaultSpec ingress = Delay(1000);
  ingress.mutable_network_delay()->mutable_target()->set_direction(v1::NETWORK_DIRECTION_INGRESS);
  ingress.mutable_network_delay()->mutable_target()->set_engine("netem");
  absl::StatusOr<std::string> engine = ChooseNetworkEngine(ingress, no_ifb);
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(engine.status().message(), HasSubstr("ingress needs an ifb link"));

  NetworkSupport no_u32 = Everything();
  no_u32.u32 = false;
  v1::FaultSpec filtered = Delay(1000);
  filtered.mutable_network_delay()->mutable_target()->add_ports(80);
  filtered.mutable_network_delay()->mutable_target()->set_engine("netem");
  EXPECT_THAT(ChooseNetworkEngine(filtered, no_u32).status().message(),
              HasSubstr("kernel has no cls_u32"));

  EXPECT_EQ(ChooseNetworkEngine(Delay(1000), NetworkSupport()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(NetworkCapabilitiesTest, ReportsEveryKindWithEnginesPreferredFirst) {
  std::vector<v1::KindCapability> caps = NetworkCapabilities(NoNetem());
  ASSERT_EQ(caps.size(), 6u);
  std::map<std::string, v1::KindCapability> by_kind;
  for (const auto& c : caps) by_kind[c.kind()] = c;
  EXPECT_THAT(by_kind["network.delay"].engines(), ::testing::ElementsAre("nfqueue"));
  EXPECT_TRUE(by_kind["network.delay"].available());
  EXPECT_THAT(by_kind["network.delay"].reason(), HasSubstr("netem: kernel has no sch_netem"));
  EXPECT_THAT(by_kind["network.delay"].reason(), HasSubstr("no reorder"));
  EXPECT_THAT(by_kind["network.loss"].engines(), ::testing::ElementsAre("nftables"));
  EXPECT_FALSE(by_kind["network.duplicate"].available());
  EXPECT_FALSE(by_kind["network.corrupt"].available());
  EXPECT_THAT(by_kind["network.corrupt"].reason(), HasSubstr("sch_netem"));
  EXPECT_THAT(by_kind["network.bandwidth"].engines(), ::testing::ElementsAre("tbf", "htb"));
  EXPECT_EQ(by_kind["network.bandwidth"].reason(), "");
  EXPECT_THAT(by_kind["network.partition"].engines(), ::testing::ElementsAre("nftables"));

  for (const auto& c : NetworkCapabilities(Everything())) {
    EXPECT_TRUE(c.available()) << c.kind();
    if (c.kind() != "network.bandwidth" && c.kind() != "network.partition") {
      EXPECT_EQ(c.engines(0), "netem") << c.kind();
    }
  }
  for (const auto& c : NetworkCapabilities(NetworkSupport())) {
    EXPECT_FALSE(c.available()) << c.kind();
    EXPECT_THAT(c.reason(), HasSubstr("not detected"));
  }
}

TEST(MakeNetworkFaultTest, ValidatesAndDefersTheEngineErrorToPrepare) {
  FaultContext context;
  context.fault_id = "f";
  context.network = NoNetem();
  EXPECT_EQ(MakeNetworkFault(Delay(0), context).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::FaultSpec duplicate;
  duplicate.mutable_network_duplicate()->set_percent(1);
  duplicate.mutable_network_duplicate()->mutable_target()->set_interface("eth0");
  auto fault = MakeNetworkFault(duplicate, context);
  ASSERT_TRUE(fault.ok()) << fault.status();
  EXPECT_EQ((*fault)->kind(), "network.duplicate");
  EXPECT_EQ((*fault)->Prepare().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*fault)->Revert().ok()) << "nothing to revert";

  auto bandwidth = MakeNetworkFault(Bandwidth(1'000'000), context);
  ASSERT_TRUE(bandwidth.ok());
  EXPECT_EQ((*bandwidth)->engine(), "tbf");
  EXPECT_EQ((*bandwidth)->target(), "eth0 egress");
}

TEST(MakeNetworkFaultTest, RestoreUsesTheEngineTheStateRecorded) {
  // Recovery on a host that (now) lacks every engine still reverts through
  // the recorded one.
  FaultContext context;
  context.fault_id = "recovered";
  auto fault = MakeNetworkFault(Bandwidth(1'000'000), context);
  ASSERT_TRUE(fault.ok());
  EXPECT_EQ((*fault)->engine(), "");
  v1::RevertState state;
  state.mutable_network()->set_engine("tbf");
  (*fault)->Restore(state);
  EXPECT_EQ((*fault)->engine(), "tbf");
  EXPECT_TRUE((*fault)->Revert().ok()) << "a state that names no link reverts nothing";
}

}  // namespace
}  // namespace faultline::agent
