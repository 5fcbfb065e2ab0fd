// Loads and validates every example in experiments/ (found at run time), and
// pins down the properties other parts of the project rely on: the README
// quickstart runs on the embedded agent against the demo service, and
// remote-agent.yaml targets the agent's default address.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "controller/spec/experiment.h"
#include "gtest/gtest.h"

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

}  // namespace
}  // namespace faultline::controller
