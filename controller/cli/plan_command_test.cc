#include "controller/cli/plan_command.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using std::chrono::seconds;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

v1::CapabilitiesResponse Caps() {
  v1::CapabilitiesResponse caps;
  caps.set_agent_version("9.9");
  caps.set_hostname("box");
  v1::KindCapability* cpu = caps.add_kinds();
  cpu->set_kind("cpu.pressure");
  cpu->set_available(true);
  cpu->add_engines("stressor+cgroup-v1");
  cpu->add_engines("stressor");
  v1::KindCapability* delay = caps.add_kinds();
  delay->set_kind("network.delay");
  delay->set_available(true);
  delay->add_engines("htb+nfqueue");
  delay->add_engines("nfqueue");
  v1::KindCapability* mem = caps.add_kinds();
  mem->set_kind("memory.pressure");
  mem->set_available(false);
  mem->set_reason("stressor binary not found");
  return caps;
}

TEST(ChooseEngineTest, FirstEnginePinnedEngineOrWhyNot) {
  EngineChoice first = ChooseEngine(Caps(), "cpu.pressure", "");
  EXPECT_TRUE(first.available);
  EXPECT_EQ(first.engine, "stressor+cgroup-v1");

  EngineChoice pinned = ChooseEngine(Caps(), "network.delay", "nfqueue");
  EXPECT_TRUE(pinned.available);
  EXPECT_EQ(pinned.engine, "nfqueue");

  EngineChoice missing_engine = ChooseEngine(Caps(), "network.delay", "netem");
  EXPECT_FALSE(missing_engine.available);
  EXPECT_EQ(missing_engine.reason,
            "pinned engine netem not offered (offers: htb+nfqueue, nfqueue)");

  EngineChoice unavailable = ChooseEngine(Caps(), "memory.pressure", "");
  EXPECT_FALSE(unavailable.available);
  EXPECT_EQ(unavailable.reason, "stressor binary not found");

  EngineChoice unknown = ChooseEngine(Caps(), "process.pause", "");
  EXPECT_FALSE(unknown.available);
  EXPECT_THAT(unknown.reason, HasSubstr("does not know process.pause"));
}

TEST(PinnedEngineTest, ReadsTheNetworkTarget) {
  v1::FaultSpec spec;
  spec.mutable_network_loss()->mutable_target()->set_engine("nftables");
  EXPECT_EQ(PinnedEngine(spec), "nftables");
  spec.mutable_cpu_pressure()->set_load_pct(10);
  EXPECT_EQ(PinnedEngine(spec), "");
}

Step CpuStep(std::vector<std::string> targets) {
  Step step;
  step.kind = StepKind::kFault;
  step.fault_kind = "cpu.pressure";
  step.label = targets.empty() ? "cpu.pressure" : "cpu.pressure on " + targets.front();
  step.spec.mutable_cpu_pressure()->set_load_pct(50);
  step.params_summary = "load=50";
  step.targets = targets;
  if (!targets.empty()) step.target = targets.front();
  step.duration = seconds(30);
  return step;
}

Inventory ThreeHosts() {
  Inventory inventory;
  inventory.path = "fleet.yaml";
  for (int i = 1; i <= 3; ++i) {
    InventoryAgent agent;
    agent.name = "web-" + std::to_string(i);
    agent.address = "127.0.0.1:" + std::to_string(7000 + i);
    agent.labels["role"] = "web";
    inventory.agents.push_back(agent);
  }
  return inventory;
}

TEST(PlanOutputTest, NamesEachHostItsEngineAndTheProblems) {
  Inventory inventory = ThreeHosts();
  Experiment experiment;
  experiment.name = "demo";
  experiment.path = "demo.yaml";
  experiment.seed = 4;
  Target web;
  web.select = {{"role", "web"}};
  experiment.targets["web"] = web;
  Step pause;
  pause.kind = StepKind::kPause;
  pause.message = "check";
  pause.duration = seconds(60);
  experiment.method = {CpuStep({"web"}), pause, CpuStep({})};
  PlanOptions options;
  options.inventory = &inventory;
  auto plan = MakePlan(experiment, "<run>", options);
  ASSERT_TRUE(plan.ok()) << plan.status();

  std::vector<HostCheck> checks(plan->hosts.size());
  for (size_t i = 0; i < checks.size(); ++i) {
    checks[i].host = plan->hosts[i];
    checks[i].checked = plan->hosts[i].name != kEmbeddedAgent;
    checks[i].reachable = true;
    checks[i].capabilities = Caps();
  }
  checks[1].reachable = false;
  checks[1].error = "no answer within 2s";
  checks[2].capabilities.mutable_kinds(0)->set_available(false);
  checks[2].capabilities.mutable_kinds(0)->set_reason("no cgroup");

  nlohmann::json doc = PlanToJson(experiment, *plan, checks, SeedSource::kExperiment, &inventory);
  EXPECT_FALSE(doc["ok"].get<bool>());
  EXPECT_EQ(doc["seed"], 4);
  const nlohmann::json& faults = doc["steps"][0]["faults"];
  ASSERT_EQ(faults.size(), 3u);
  EXPECT_EQ(faults[0]["host"], "web-1");
  EXPECT_EQ(faults[0]["address"], "127.0.0.1:7001");
  EXPECT_EQ(faults[0]["engine"], "stressor+cgroup-v1");
  EXPECT_EQ(faults[1]["status"], "unreachable");
  EXPECT_EQ(faults[2]["engine"], "unavailable: no cgroup");
  EXPECT_EQ(doc["steps"][1]["duration_is_upper_bound"], true);
  EXPECT_EQ(doc["steps"][2]["offset_is_upper_bound"], true);
  EXPECT_EQ(doc["steps"][2]["faults"][0]["host"], "local (embedded)");
  EXPECT_EQ(doc["steps"][2]["faults"][0]["engine"], "decided at run");
  EXPECT_EQ(doc["summary"]["unreachable"], nlohmann::json({"web-2"}));
  EXPECT_EQ(doc["summary"]["runnable"], 2);

  std::string text = PlanToText(experiment, *plan, checks, SeedSource::kExperiment, &inventory);
  EXPECT_THAT(text, ContainsRegex("web-1 +127\\.0\\.0\\.1:7001 +stressor\\+cgroup-v1 +load=50"));
  EXPECT_THAT(text, HasSubstr("unreachable: no answer within 2s"));
  EXPECT_THAT(text, HasSubstr("unavailable: no cgroup"));
  EXPECT_THAT(text, HasSubstr("<=1m30s"));  // after the pause gate
  EXPECT_THAT(text, HasSubstr("local (embedded)"));
  EXPECT_THAT(text, HasSubstr("4 hosts (1 embedded), 2 of 3 agents reachable, unreachable: web-2"));
  EXPECT_THAT(text, HasSubstr("NOT ready (exit 3)"));

  checks[1].reachable = true;
  checks[2].capabilities = Caps();
  EXPECT_TRUE(PlanToJson(experiment, *plan, checks, SeedSource::kFlag, &inventory)["ok"]);
  EXPECT_THAT(PlanToText(experiment, *plan, checks, SeedSource::kFlag, &inventory),
              Not(HasSubstr("NOT ready")));
}

class ResolveInventoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fl-plan-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ResolveInventoryTest, FlagWinsOverTheExperiment) {
  std::string a = Write("a.yaml", "agents:\n  - {name: a-1, address: \"127.0.0.1:1\"}\n");
  std::string b = Write("b.yaml", "agents:\n  - {name: b-1, address: \"127.0.0.1:2\"}\n");
  Experiment experiment;
  std::vector<Diagnostic> diagnostics;
  auto none = ResolveInventory(experiment, "", &diagnostics);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  experiment.inventory_path = a;
  auto from_experiment = ResolveInventory(experiment, "", &diagnostics);
  ASSERT_TRUE(from_experiment.ok()) << from_experiment.status();
  EXPECT_EQ((*from_experiment)->agents.at(0).name, "a-1");

  auto from_flag = ResolveInventory(experiment, b, &diagnostics);
  ASSERT_TRUE(from_flag.ok()) << from_flag.status();
  EXPECT_EQ((*from_flag)->agents.at(0).name, "b-1");

  std::string bad = Write("bad.yaml", "agents:\n  - {name: x}\n");
  auto invalid = ResolveInventory(experiment, bad, &diagnostics);
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_FALSE(diagnostics.empty());
  EXPECT_THAT(diagnostics[0].ToString(), HasSubstr("bad.yaml:2:"));

  EXPECT_EQ(ResolveInventory(experiment, dir_ + "/missing.yaml", &diagnostics).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace faultline::controller
