#include "controller/plan/plan.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Step Fault(std::vector<std::string> targets, milliseconds duration = seconds(10)) {
  Step step;
  step.kind = StepKind::kFault;
  step.fault_kind = "cpu.pressure";
  step.label = "cpu.pressure";
  step.spec.mutable_cpu_pressure()->set_load_pct(50);
  step.targets = std::move(targets);
  if (!step.targets.empty()) step.target = step.targets.front();
  step.duration = duration;
  return step;
}

Step Wait(milliseconds duration) {
  Step step;
  step.kind = StepKind::kWait;
  step.duration = duration;
  return step;
}

Step Pause(milliseconds timeout) {
  Step step;
  step.kind = StepKind::kPause;
  step.message = "look at the dashboards";
  step.duration = timeout;
  return step;
}

Step Block(StepKind kind, std::vector<Step> steps) {
  Step step;
  step.kind = kind;
  step.steps = std::move(steps);
  return step;
}

Target Select(std::map<std::string, std::string> select, BlastRadius radius = BlastRadius::kAll,
              int count = 0, double percent = 0) {
  Target target;
  target.select = std::move(select);
  target.radius = radius;
  target.count = count;
  target.percent = percent;
  return target;
}

// web-1..web-4 (zone a, b, a, b), db-1..db-2 (zone a), cache-1 (no zone).
Inventory Fleet() {
  Inventory inventory;
  inventory.path = "fleet.yaml";
  auto add = [&](std::string name, std::string role, std::string zone) {
    InventoryAgent agent;
    agent.address = "127.0.0.1:" + std::to_string(7000 + inventory.agents.size());
    agent.name = std::move(name);
    agent.labels["role"] = std::move(role);
    if (!zone.empty()) agent.labels["zone"] = std::move(zone);
    inventory.agents.push_back(std::move(agent));
  };
  add("web-1", "web", "a");
  add("web-2", "web", "b");
  add("web-3", "web", "a");
  add("web-4", "web", "b");
  add("db-1", "db", "a");
  add("db-2", "db", "a");
  add("cache-1", "cache", "");
  return inventory;
}

// n agents "h00".."h<n-1>", all role=web.
Inventory BigFleet(int n) {
  Inventory inventory;
  inventory.path = "big.yaml";
  for (int i = 0; i < n; ++i) {
    InventoryAgent agent;
    agent.name = (i < 10 ? "h0" : "h") + std::to_string(i);
    agent.address = "127.0.0.1:" + std::to_string(8000 + i);
    agent.labels["role"] = "web";
    inventory.agents.push_back(std::move(agent));
  }
  return inventory;
}

Experiment WithTarget(Target target, uint64_t seed = 42) {
  Experiment experiment;
  experiment.name = "x";
  experiment.seed = seed;
  target.name = "web";
  experiment.targets["web"] = std::move(target);
  experiment.method.push_back(Fault({"web"}));
  return experiment;
}

std::vector<std::string> HostsOf(const PlannedStep& step) {
  std::vector<std::string> hosts;
  for (const PlannedFault& fault : step.faults) hosts.push_back(fault.agent);
  return hosts;
}

std::vector<std::string> Chosen(const Experiment& experiment, const Inventory& inventory) {
  PlanOptions options;
  options.inventory = &inventory;
  auto plan = MakePlan(experiment, "r", options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  return HostsOf(plan->steps.at(0));
}

TEST(MakePlanTest, ExperimentWithoutTargetsUsesTheEmbeddedAgent) {
  Experiment experiment;
  experiment.method = {Fault({}), Wait(seconds(5)), Fault({})};
  auto plan = MakePlan(experiment, "run1", PlanOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->uses_embedded_agent);
  EXPECT_THAT(plan->agents, ElementsAre(kEmbeddedAgent));
  ASSERT_EQ(plan->hosts.size(), 1u);
  EXPECT_EQ(plan->hosts[0].address, "");
  EXPECT_EQ(AddressOf(*plan, kEmbeddedAgent), "");
  ASSERT_EQ(plan->steps.size(), 3u);
  EXPECT_THAT(HostsOf(plan->steps[0]), ElementsAre(kEmbeddedAgent));
  const v1::ApplyRequest& request = plan->steps[0].faults[0].request;
  EXPECT_EQ(request.fault_id(), "run1.s1.0");
  EXPECT_EQ(request.run_id(), "run1");
  EXPECT_EQ(request.duration_ms(), 10000u);
  EXPECT_EQ(request.ttl_ms(), 40000u);
  EXPECT_EQ(request.spec().cpu_pressure().load_pct(), 50u);
  EXPECT_EQ(plan->steps[2].faults[0].request.fault_id(), "run1.s3.0");
  EXPECT_EQ(plan->max_targets, 0);
}

TEST(MakePlanTest, StepWithoutTargetUsesTheEmbeddedAgentNextToFleetSteps) {
  Experiment experiment = WithTarget(Select({{"role", "db"}}));
  experiment.method.push_back(Fault({}));
  Inventory inventory = Fleet();
  PlanOptions options;
  options.inventory = &inventory;
  auto plan = MakePlan(experiment, "r", options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->uses_embedded_agent);
  EXPECT_THAT(plan->agents, ElementsAre("db-1", "db-2", kEmbeddedAgent));
  EXPECT_EQ(AddressOf(*plan, "db-2"), "127.0.0.1:7005");
}

TEST(MakePlanTest, SelectsInventoryAgentsMatchingEveryLabel) {
  Inventory inventory = Fleet();
  EXPECT_THAT(Chosen(WithTarget(Select({{"role", "web"}, {"zone", "a"}})), inventory),
              ElementsAre("web-1", "web-3"));
  EXPECT_THAT(Chosen(WithTarget(Select({{"zone", "a"}})), inventory),
              ElementsAre("db-1", "db-2", "web-1", "web-3"));
  EXPECT_THAT(Chosen(WithTarget(Select({})), inventory),
              ElementsAre("cache-1", "db-1", "db-2", "web-1", "web-2", "web-3", "web-4"));

  PlanOptions options;
  options.inventory = &inventory;
  auto plan = MakePlan(WithTarget(Select({{"role", "web"}})), "r", options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->hosts.size(), 4u);
  EXPECT_EQ(plan->hosts[1].name, "web-2");
  EXPECT_EQ(plan->hosts[1].address, "127.0.0.1:7001");
  EXPECT_EQ(plan->hosts[1].labels.at("zone"), "b");
  EXPECT_EQ(plan->steps[0].faults[1].group, "web");
  EXPECT_EQ(plan->steps[0].faults[1].request.fault_id(), "r.s1.1");
}

TEST(MakePlanTest, LabelSelectionErrors) {
  Inventory inventory = Fleet();
  PlanOptions options;
  options.inventory = &inventory;

  auto none = MakePlan(WithTarget(Select({{"role", "queue"}})), "r", options);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(none.status().message(),
              HasSubstr("target \"web\": no agent of inventory fleet.yaml matches {role: queue}"));

  auto no_inventory = MakePlan(WithTarget(Select({{"role", "web"}})), "r", PlanOptions());
  EXPECT_EQ(no_inventory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_inventory.status().message(), HasSubstr("there is no inventory"));

  Experiment unknown = WithTarget(Select({{"role", "web"}}));
  unknown.method.push_back(Fault({"nope"}));
  auto status = MakePlan(unknown, "r", options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("step 2 (cpu.pressure): unknown target \"nope\""));

  auto too_many = MakePlan(WithTarget(Select({{"role", "db"}}, BlastRadius::kCount, 3)), "r",
                           options);
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_many.status().message(), HasSubstr("count 3 but 2 agents match {role: db}"));
}

TEST(MakePlanTest, BlastRadiusCountPercentAll) {
  Inventory inventory = BigFleet(10);
  auto count = Chosen(WithTarget(Select({{"role", "web"}}, BlastRadius::kCount, 3)), inventory);
  EXPECT_EQ(count.size(), 3u);
  EXPECT_EQ(std::set<std::string>(count.begin(), count.end()).size(), 3u);
  EXPECT_TRUE(std::is_sorted(count.begin(), count.end()));

  auto percent = [&](double p) {
    return Chosen(WithTarget(Select({{"role", "web"}}, BlastRadius::kPercent, 0, p)), inventory)
        .size();
  };
  EXPECT_EQ(percent(50), 5u);
  EXPECT_EQ(percent(25), 3u);   // 2.5 rounds up
  EXPECT_EQ(percent(1), 1u);    // at least one host
  EXPECT_EQ(percent(100), 10u);
  Inventory three = BigFleet(3);
  EXPECT_EQ(Chosen(WithTarget(Select({}, BlastRadius::kPercent, 0, 100.0 / 3)), three).size(),
            1u);
  EXPECT_EQ(Chosen(WithTarget(Select({}, BlastRadius::kPercent, 0, 34)), three).size(), 2u);

  EXPECT_EQ(Chosen(WithTarget(Select({{"role", "web"}}, BlastRadius::kAll)), inventory).size(),
            10u);
  EXPECT_EQ(Chosen(WithTarget(Select({{"role", "web"}}, BlastRadius::kCount, 10)), inventory)
                .size(),
            10u);
}

TEST(MakePlanTest, SameSeedSameHostsWhateverTheInventoryOrder) {
  Inventory inventory = BigFleet(20);
  Experiment experiment = WithTarget(Select({{"role", "web"}}, BlastRadius::kCount, 4), 7);
  auto first = Chosen(experiment, inventory);
  EXPECT_EQ(Chosen(experiment, inventory), first);
  std::reverse(inventory.agents.begin(), inventory.agents.end());
  EXPECT_EQ(Chosen(experiment, inventory), first);
  // An agent the selector does not match changes nothing.
  InventoryAgent other;
  other.name = "a-db";
  other.address = "127.0.0.1:1";
  other.labels["role"] = "db";
  inventory.agents.insert(inventory.agents.begin(), other);
  EXPECT_EQ(Chosen(experiment, inventory), first);
}

TEST(MakePlanTest, TheChoiceForASeedIsFixedAcrossBuilds) {
  // The recorded seed of a past run must keep meaning the same hosts: this
  // pins the PRNG, the hash and the shuffle (see plan.h).
  Inventory inventory = BigFleet(10);
  EXPECT_THAT(Chosen(WithTarget(Select({{"role", "web"}}, BlastRadius::kCount, 3), 42), inventory),
              ElementsAre("h03", "h04", "h09"));
}

TEST(MakePlanTest, DifferentSeedsChooseDifferentHosts) {
  Inventory inventory = BigFleet(10);
  std::set<std::vector<std::string>> choices;
  std::set<std::string> ever_chosen;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    auto hosts = Chosen(WithTarget(Select({{"role", "web"}}, BlastRadius::kCount, 2), seed),
                        inventory);
    choices.insert(hosts);
    ever_chosen.insert(hosts.begin(), hosts.end());
  }
  // 45 possible pairs; 40 seeds must not collapse onto a handful of them.
  EXPECT_GE(choices.size(), 15u);
  EXPECT_EQ(ever_chosen.size(), 10u);
}

TEST(MakePlanTest, DefaultSeedIsUsedOnlyWhenTheExperimentHasNone) {
  Inventory inventory = BigFleet(10);
  PlanOptions options;
  options.inventory = &inventory;
  options.default_seed = 99;
  Experiment seeded = WithTarget(Select({}, BlastRadius::kCount, 2), 5);
  auto plan = MakePlan(seeded, "r", options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->seed, 5u);

  Experiment unseeded = seeded;
  unseeded.seed.reset();
  auto defaulted = MakePlan(unseeded, "r", options);
  ASSERT_TRUE(defaulted.ok()) << defaulted.status();
  EXPECT_EQ(defaulted->seed, 99u);
  Experiment seeded_99 = WithTarget(Select({}, BlastRadius::kCount, 2), 99);
  EXPECT_EQ(HostsOf(defaulted->steps[0]), Chosen(seeded_99, inventory));
}

TEST(MakePlanTest, SeveralGroupsInOneStepAreAUnionWithEachHostOnce) {
  Inventory inventory = Fleet();
  Experiment experiment;
  experiment.seed = 1;
  experiment.targets["zone-a"] = Select({{"zone", "a"}});
  experiment.targets["web"] = Select({{"role", "web"}});
  experiment.method = {Fault({"zone-a", "web"}), Fault({"web"})};
  PlanOptions options;
  options.inventory = &inventory;
  auto plan = MakePlan(experiment, "r", options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const PlannedStep& step = plan->steps[0];
  EXPECT_THAT(HostsOf(step), ElementsAre("db-1", "db-2", "web-1", "web-3", "web-2", "web-4"));
  EXPECT_EQ(step.faults[2].group, "zone-a");  // web-1: chosen through the first group
  EXPECT_EQ(step.faults[4].group, "web");
  EXPECT_EQ(step.faults[5].request.fault_id(), "r.s1.5");
  EXPECT_EQ(plan->hosts.size(), 6u);
  EXPECT_THAT(HostsOf(plan->steps[1]), ElementsAre("web-1", "web-2", "web-3", "web-4"));
}

TEST(MakePlanTest, AGroupUsedByTwoStepsHitsTheSameHosts) {
  Inventory inventory = BigFleet(10);
  Experiment experiment = WithTarget(Select({}, BlastRadius::kPercent, 0, 30), 3);
  experiment.method.push_back(Wait(seconds(1)));
  experiment.method.push_back(Fault({"web"}));
  PlanOptions options;
  options.inventory = &inventory;
  auto plan = MakePlan(experiment, "r", options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(HostsOf(plan->steps[0]).size(), 3u);
  EXPECT_EQ(HostsOf(plan->steps[0]), HostsOf(plan->steps[2]));
  EXPECT_EQ(plan->hosts.size(), 3u);
}

TEST(MakePlanTest, RefusesPlansTouchingMoreHostsThanMaxTargets) {
  Inventory inventory = BigFleet(12);
  Experiment experiment = WithTarget(Select({{"role", "web"}}));
  experiment.path = "game.yaml";
  PlanOptions options;
  options.inventory = &inventory;

  experiment.max_targets = 10;
  auto refused = MakePlan(experiment, "r", options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "plan touches 12 hosts, more than max_targets 10 (experiment game.yaml)");

  inventory.max_targets = 8;  // the tighter limit wins and is named
  refused = MakePlan(experiment, "r", options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "plan touches 12 hosts, more than max_targets 8 (inventory big.yaml)");

  experiment.max_targets = 0;
  inventory.max_targets = 12;  // exactly at the limit is fine
  auto allowed = MakePlan(experiment, "r", options);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(allowed->max_targets, 12);

  // Hosts count once over the whole plan, across steps and groups.
  inventory.max_targets = 0;
  experiment.max_targets = 3;
  experiment.targets["web"] = Select({}, BlastRadius::kCount, 3);
  experiment.method = {Fault({"web"}), Fault({"web"})};
  EXPECT_TRUE(MakePlan(experiment, "r", options).ok());
  experiment.targets["more"] = Select({}, BlastRadius::kCount, 4);
  experiment.method.push_back(Fault({"more"}));
  EXPECT_EQ(MakePlan(experiment, "r", options).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MakePlanTest, NestedStepsGetPathsIdsAndOffsets) {
  Experiment experiment;
  // 1 fault 10s | 2 pause (<=1m) | 3 parallel [3.1 fault 30s, 3.2 serial [3.2.1 wait 5s,
  // 3.2.2 fault 40s]] | 4 wait 2s
  experiment.method = {
      Fault({}, seconds(10)),
      Pause(seconds(60)),
      Block(StepKind::kParallel,
            {Fault({}, seconds(30)),
             Block(StepKind::kSerial, {Wait(seconds(5)), Fault({}, seconds(40))})}),
      Wait(seconds(2))};
  auto plan = MakePlan(experiment, "run-7", PlanOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const auto& steps = plan->steps;
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].path, "1");
  EXPECT_EQ(steps[0].offset, seconds(0));
  EXPECT_FALSE(steps[0].offset_is_upper_bound);
  EXPECT_EQ(steps[1].offset, seconds(10));
  EXPECT_EQ(steps[1].duration, seconds(60));
  EXPECT_TRUE(steps[1].duration_is_upper_bound);
  EXPECT_FALSE(steps[1].offset_is_upper_bound);

  const PlannedStep& parallel = steps[2];
  EXPECT_EQ(parallel.path, "3");
  EXPECT_EQ(parallel.offset, seconds(70));
  EXPECT_TRUE(parallel.offset_is_upper_bound);
  EXPECT_EQ(parallel.duration, seconds(45));  // max(30, 5 + 40)
  EXPECT_FALSE(parallel.duration_is_upper_bound);
  ASSERT_EQ(parallel.children.size(), 2u);
  EXPECT_EQ(parallel.children[0].path, "3.1");
  EXPECT_EQ(parallel.children[0].index, 1);
  EXPECT_EQ(parallel.children[0].offset, seconds(70));
  EXPECT_EQ(parallel.children[0].faults[0].request.fault_id(), "run-7.s3.1.0");
  const PlannedStep& serial = parallel.children[1];
  EXPECT_EQ(serial.path, "3.2");
  EXPECT_EQ(serial.offset, seconds(70));
  EXPECT_EQ(serial.duration, seconds(45));
  ASSERT_EQ(serial.children.size(), 2u);
  EXPECT_EQ(serial.children[0].path, "3.2.1");
  EXPECT_EQ(serial.children[1].path, "3.2.2");
  EXPECT_EQ(serial.children[1].offset, seconds(75));
  EXPECT_TRUE(serial.children[1].offset_is_upper_bound);
  EXPECT_EQ(serial.children[1].faults[0].request.fault_id(), "run-7.s3.2.2.0");

  EXPECT_EQ(steps[3].path, "4");
  EXPECT_EQ(steps[3].offset, seconds(115));
  EXPECT_EQ(plan->duration, seconds(117));
  EXPECT_TRUE(plan->duration_is_upper_bound);

  // Every id uses the agent's id charset.
  for (const std::string& id : {std::string("run-7.s3.2.2.0")}) {
    EXPECT_EQ(id.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"),
              std::string::npos);
  }

  Experiment with_pause_inside;
  with_pause_inside.method = {
      Block(StepKind::kSerial, {Wait(seconds(1)), Pause(seconds(30))}), Wait(seconds(1))};
  auto bounded = MakePlan(with_pause_inside, "r", PlanOptions());
  ASSERT_TRUE(bounded.ok()) << bounded.status();
  EXPECT_TRUE(bounded->steps[0].duration_is_upper_bound);
  EXPECT_EQ(bounded->steps[0].duration, seconds(31));
  EXPECT_TRUE(bounded->steps[1].offset_is_upper_bound);
  EXPECT_FALSE(bounded->uses_embedded_agent);
  EXPECT_TRUE(bounded->hosts.empty());
}

TEST(MakePlanTest, ExplicitAgentsAreNamedByAddressUnlessTheInventoryKnowsThem) {
  Experiment experiment;
  Target lab;
  lab.agents = {"unix:/run/fl/h0.sock", "127.0.0.1:7001", "unix:/run/fl/h0.sock"};
  experiment.targets["lab"] = lab;
  experiment.method = {Fault({"lab"})};

  auto plan = MakePlan(experiment, "r", PlanOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->uses_embedded_agent);
  EXPECT_THAT(plan->agents, ElementsAre("127.0.0.1:7001", "unix:/run/fl/h0.sock"));
  EXPECT_EQ(AddressOf(*plan, "unix:/run/fl/h0.sock"), "unix:/run/fl/h0.sock");
  EXPECT_EQ(plan->steps[0].faults[0].group, "lab");

  Inventory inventory = Fleet();
  PlanOptions options;
  options.inventory = &inventory;
  auto named = MakePlan(experiment, "r", options);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_THAT(named->agents, ElementsAre("unix:/run/fl/h0.sock", "web-2"));
  EXPECT_EQ(AddressOf(*named, "web-2"), "127.0.0.1:7001");
}

TEST(MakePlanTest, RequestsCarryLeaseTtlAndDryRun) {
  Experiment experiment;
  experiment.method = {Fault({}, seconds(3))};
  PlanOptions options;
  options.lease_ttl = seconds(4);
  options.ttl_grace = seconds(1);
  options.dry_run = true;
  auto plan = MakePlan(experiment, "r", options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const v1::ApplyRequest& request = plan->steps[0].faults[0].request;
  EXPECT_EQ(request.lease_ttl_ms(), 4000u);
  EXPECT_EQ(request.ttl_ms(), 4000u);
  EXPECT_TRUE(request.dry_run());
}

}  // namespace
}  // namespace faultline::controller
