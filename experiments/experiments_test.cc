// Loads and validates every example in experiments/ (found at run time), and
// pins down the properties other parts of the project rely on: the README
// quickstart runs on the embedded agent against the demo service, and
// remote-agent.yaml targets the agent's default address.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "controller/spec/drill.h"
#include "controller/spec/experiment.h"
#include "gtest/gtest.h"
#include "re2/re2.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

std::vector<std::string> ExampleFiles() {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(FAULTLINE_EXPERIMENTS_DIR, error)) {
    const std::string extension = entry.path().extension().string();
    if (entry.is_regular_file() && (extension == ".yaml" || extension == ".yml")) {
      files.push_back(entry.path().string());
    }
  }
  EXPECT_FALSE(error) << error.message();
  std::sort(files.begin(), files.end());
  return files;
}

std::string Stem(const std::string& path) {
  return std::filesystem::path(path).stem().string();
}

Experiment LoadExample(const std::string& name) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> experiment =
      LoadExperiment(std::string(FAULTLINE_EXPERIMENTS_DIR) + "/" + name, &diagnostics);
  EXPECT_TRUE(experiment.ok()) << experiment.status();
  return experiment.ok() ? *experiment : Experiment{};
}

TEST(ExperimentsTest, EveryExampleValidatesWithoutDiagnostics) {
  const std::vector<std::string> files = ExampleFiles();
  // quickstart, one per fault kind, remote-agent.
  EXPECT_GE(files.size(), 6u);
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    std::vector<Diagnostic> diagnostics;
    absl::StatusOr<Experiment> experiment = LoadExperiment(file, &diagnostics);
    EXPECT_TRUE(experiment.ok()) << experiment.status();
    for (const Diagnostic& d : diagnostics) ADD_FAILURE() << d.ToString();
    if (experiment.ok()) {
      // One file, one experiment, one name: `faultline runs` lists by name.
      EXPECT_EQ(experiment->name, Stem(file));
      EXPECT_FALSE(experiment->owner.empty());
      EXPECT_FALSE(experiment->description.empty());
    }
  }
}

TEST(ExperimentsTest, EveryFaultKindHasAnExample) {
  std::vector<std::string> kinds;
  for (const std::string& file : ExampleFiles()) {
    std::vector<Diagnostic> diagnostics;
    absl::StatusOr<Experiment> experiment = LoadExperiment(file, &diagnostics);
    if (!experiment.ok()) continue;
    for (const Step& step : experiment->method) {
      if (step.kind == StepKind::kFault) kinds.push_back(step.fault_kind);
    }
  }
  for (const char* kind : {"cpu.pressure", "memory.pressure", "process.kill", "process.pause"}) {
    EXPECT_NE(std::find(kinds.begin(), kinds.end(), kind), kinds.end()) << kind;
  }
}

TEST(ExperimentsTest, QuickstartRunsLocallyAgainstTheDemoServiceInAboutFifteenSeconds) {
  const Experiment e = LoadExample("quickstart.yaml");
  EXPECT_TRUE(e.targets.empty());  // embedded local agent
  ASSERT_EQ(e.steady_state.size(), 1u);
  EXPECT_EQ(e.steady_state[0].name, "demo-health");
  EXPECT_EQ(e.steady_state[0].url, "http://127.0.0.1:8080/health");
  EXPECT_EQ(e.steady_state[0].expect_status, 200);
  milliseconds total{0};
  for (const Step& step : e.method) {
    EXPECT_TRUE(step.target.empty());
    total += step.duration;
  }
  EXPECT_GE(total, milliseconds(10000));
  EXPECT_LE(total, milliseconds(20000));
  ASSERT_FALSE(e.method.empty());
  const Step& last = e.method.back();
  ASSERT_EQ(last.fault_kind, "process.pause");
  EXPECT_EQ(last.spec.process_pause().target().name(), "faultline-demo");
}

TEST(ExperimentsTest, RemoteAgentTargetsTheDefaultAgentAddress) {
  const Experiment e = LoadExample("remote-agent.yaml");
  ASSERT_EQ(e.targets.count("local"), 1u);
  EXPECT_EQ(e.targets.at("local").agents, std::vector<std::string>{"127.0.0.1:7431"});
  for (const Step& step : e.method) {
    if (step.kind == StepKind::kFault) {
      EXPECT_EQ(step.target, "local");
    }
  }
}

// The game-day example plans against this inventory: it must load, and the
// experiment's label selections must find hosts in it.
TEST(ExperimentsTest, GameDayInventoryLoadsAndMatchesItsTargets) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Inventory> inventory =
      LoadInventory(std::string(FAULTLINE_EXPERIMENTS_DIR) + "/fleets/local.yaml", &diagnostics);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  const Experiment e = LoadExample("game-day.yaml");
  EXPECT_TRUE(e.inventory_path.ends_with("fleets/local.yaml")) << e.inventory_path;
  for (const auto& [name, target] : e.targets) {
    const bool matched = std::any_of(
        inventory->agents.begin(), inventory->agents.end(), [&](const InventoryAgent& agent) {
          return std::all_of(target.select.begin(), target.select.end(), [&](const auto& label) {
            auto it = agent.labels.find(label.first);
            return it != agent.labels.end() && it->second == label.second;
          });
        });
    EXPECT_TRUE(matched) << "target " << name << " selects no agent of fleets/local.yaml";
  }
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `command` with /bin/sh; returns its exit status and appends its output.
int Shell(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output->append(buffer, n);
  return pclose(pipe);
}

// The drill replays its incident on the two demo services scripts/drill-demo
// starts: the database entries stop only the database instance, the crash
// loop kills only the worker.
TEST(ExperimentsTest, CheckoutDrillHitsTheDemoServicesItNames) {
  const Experiment e = LoadExample("drill-checkout-db-latency.yaml");
  EXPECT_EQ(e.kind, "Drill");
  EXPECT_FALSE(e.hypothesis.empty());
  EXPECT_EQ(e.roles.count("incident_commander"), 1u);
  ASSERT_EQ(e.timeline.size(), 3u);
  EXPECT_EQ(e.timeline[0].at, milliseconds(0));
  EXPECT_EQ(e.timeline[1].at, std::chrono::minutes(2));
  EXPECT_EQ(e.timeline[2].at, milliseconds(270000));
  const std::string db = "build/bin/faultline-demo --listen 127.0.0.1:18081";
  const std::string worker =
      "build/bin/faultline-demo --listen 127.0.0.1:18082 --backend http://127.0.0.1:18081/health";
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(e.timeline[i].step.fault_kind, "process.pause");
    const std::string& pattern = e.timeline[i].step.spec.process_pause().target().cmdline();
    EXPECT_TRUE(RE2::PartialMatch(db, pattern)) << pattern;
    EXPECT_FALSE(RE2::PartialMatch(worker, pattern)) << pattern;
  }
  ASSERT_EQ(e.timeline[2].step.fault_kind, "process.kill");
  const std::string& kill = e.timeline[2].step.spec.process_kill().target().cmdline();
  EXPECT_TRUE(RE2::PartialMatch(worker, kill)) << kill;
  EXPECT_FALSE(RE2::PartialMatch(db, kill)) << kill;

  // The script starts the services, Alertmanager and Prometheus where the
  // drill looks for them.
  const std::string script =
      ReadText(std::string(FAULTLINE_EXPERIMENTS_DIR) + "/../scripts/drill-demo");
  for (const char* line : {"DB_PORT=18081", "WORKER_PORT=18082", "ALERTMANAGER_PORT=19093"}) {
    EXPECT_NE(script.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(e.alerts.alertmanager, "http://127.0.0.1:19093");

  // Every alert it expects is defined in the rules the test Prometheus loads.
  const std::string rules =
      ReadText(std::string(FAULTLINE_EXPERIMENTS_DIR) + "/alerts/checkout.rules.yml");
  ASSERT_EQ(e.expect_detect.size(), 2u);
  for (const DetectExpectation& d : e.expect_detect) {
    EXPECT_NE(rules.find("alert: " + d.alert + "\n"), std::string::npos) << d.alert;
  }
  ASSERT_EQ(e.expect_recover.size(), 1u);
  EXPECT_EQ(e.expect_recover[0].probe, "worker-health");

  // At 10x (scripts/drill-demo's default) the 6.5-minute incident takes 39 s.
  Experiment fast = e;
  fast.speed = *ParseSpeed("10x");
  ASSERT_TRUE(BuildDrillMethod(&fast).ok());
  milliseconds longest{0};
  for (const Step& branch : fast.method[0].steps) {
    milliseconds total{0};
    for (const Step& step : branch.steps) total += step.duration;
    longest = std::max(longest, total);
  }
  EXPECT_EQ(longest, milliseconds(39000));
}

// The alert rules are valid Prometheus rules, and their unit test
// (checkout.rules.test.yml: which series make which alert fire) passes.
TEST(ExperimentsTest, CheckoutAlertRulesPassPromtool) {
  if (!std::filesystem::exists("/usr/bin/promtool")) {
    GTEST_SKIP() << "promtool not installed (Debian package prometheus; scripts/install-deps)";
  }
  const std::string dir = std::string(FAULTLINE_EXPERIMENTS_DIR) + "/alerts";
  std::string output;
  EXPECT_EQ(Shell("/usr/bin/promtool check rules '" + dir + "/checkout.rules.yml'", &output), 0)
      << output;
  EXPECT_NE(output.find("SUCCESS: 2 rules found"), std::string::npos) << output;
  output.clear();
  const std::string test = "cd '" + dir + "' && /usr/bin/promtool test rules checkout.rules.test.yml";
  EXPECT_EQ(Shell(test, &output), 0) << output;
  EXPECT_NE(output.find("SUCCESS"), std::string::npos) << output;
}

}  // namespace
}  // namespace faultline::controller
