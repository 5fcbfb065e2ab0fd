// End to end: `faultline run` against a real faultline-agent over gRPC and a
// real demo service, then the journal read back through the store and the
// report commands; plus the CLI's exit codes for the failure paths.
#include <sys/wait.h>

#include <fstream>

#include "controller/store/sqlite_store.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace faultline::testing {
namespace {

using std::chrono::seconds;

std::string Write(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir.File(name);
  std::ofstream(path) << body;
  return path;
}

std::string RunIdFrom(const std::string& output) {
  auto pos = output.find("run id:");
  if (pos == std::string::npos) return "";
  pos = output.find_first_not_of(' ', pos + 7);
  return output.substr(pos, output.find_first_of(" \n", pos) - pos);
}

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    demo_ = StartDemo(dir_.File("demo.log"));
    ASSERT_GT(demo_.port, 0) << ReadFile(dir_.File("demo.log"));
    agent_ = StartAgent(dir_.File("state"), dir_.File("agent.log"));
    ASSERT_FALSE(agent_.address.empty()) << ReadFile(dir_.File("agent.log"));
  }

  std::string Header(const std::string& name) {
    return "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: " + name +
           "}\ntargets:\n  host: {agents: [\"" + agent_.address + "\"]}\n" +
           "steady_state:\n  - {name: demo-health, http: {url: \"http://127.0.0.1:" +
           std::to_string(demo_.port) + "/health\", status: 200}, timeout: 1s}\n";
  }

  int Faultline(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), BinDir() + "/faultline");
    args.push_back("--journal");
    args.push_back(dir_.File("journal.db"));
    return RunCommand(args, out);
  }

  TempDir dir_;
  DemoProcess demo_;
  AgentProcess agent_;
};

TEST_F(EndToEndTest, RunJournalsEveryStepAndReportsRender) {
  std::string file = Write(dir_, "e2e.yaml", Header("e2e") + R"(method:
  - {fault: cpu.pressure, target: host, params: {load: 30, workers: 1}, duration: 1s}
  - {wait: 200ms}
  - {fault: process.pause, target: host, params: {pid: )" +
                                                 std::to_string(demo_.child.pid()) +
                                                 R"(}, duration: 1s}
)");
  std::string out;
  ASSERT_EQ(Faultline({"run", file}, &out), 0) << out;
  std::string run_id = RunIdFrom(out);
  ASSERT_FALSE(run_id.empty()) << out;

  auto store = controller::OpenSqliteStore(dir_.File("journal.db"));
  ASSERT_TRUE(store.ok());
  auto run = (*store)->GetRun(run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, controller::RunStatus::kPassed);
  EXPECT_EQ(run->exit_code, 0);
  auto events = (*store)->Events(run_id);
  ASSERT_TRUE(events.ok());
  std::vector<std::string> types;
  std::vector<std::string> calls;  // the controller's audit trail, in order
  for (const auto& e : *events) {
    if (e.type == "agent.call") {
      const std::string rpc = e.data.value("rpc", "");
      if (rpc != "RenewLease") calls.push_back(rpc + (e.data.value("dry_run", false) ? " dry" : ""));
    } else if (e.type != "fault.observed") {
      types.push_back(e.type);
    }
  }
  // Preflight dry runs of both faults, then each applied and reverted.
  EXPECT_EQ(calls, (std::vector<std::string>{"Apply dry", "Apply dry", "Apply", "Revert", "Apply",
                                             "Revert"}));
  std::vector<std::string> expected = {
      "run.started",  "plan",           "agent.ready",   "probe.result",   "step.started",
      "fault.applied", "fault.reverted", "step.started", "wait.finished",  "step.started",
      "fault.applied", "fault.reverted", "probe.result", "run.finished"};
  EXPECT_EQ(types, expected);
  for (const auto& e : *events) {
    if (e.type == "fault.applied") {
      EXPECT_FALSE(e.data.value("engine", "").empty()) << e.data.dump();
    }
    if (e.type == "fault.reverted" && e.data.value("kind", "") == "cpu.pressure") {
      EXPECT_GT(e.data["observed"].value("cpu_load_pct", 0.0), 10.0) << e.data.dump();
    }
  }
  // The demo is running again (not left stopped).
  EXPECT_NE(ProcessState(demo_.child.pid()), 'T');

  ASSERT_EQ(Faultline({"show", run_id}, &out), 0) << out;
  EXPECT_NE(out.find("fault.applied"), std::string::npos) << out;
  ASSERT_EQ(Faultline({"report", run_id, "--format", "json"}, &out), 0) << out;
  nlohmann::json report = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << out;
  EXPECT_EQ(report["events"].size(), events->size());
  ASSERT_EQ(Faultline({"report", run_id, "--format", "junit"}, &out), 0) << out;
  EXPECT_NE(out.find("<testsuite"), std::string::npos) << out;
  ASSERT_EQ(Faultline({"report", run_id, "--format", "md"}, &out), 0) << out;
  EXPECT_NE(out.find(run_id), std::string::npos) << out;
  ASSERT_EQ(Faultline({"runs"}, &out), 0) << out;
  EXPECT_NE(out.find(run_id), std::string::npos) << out;
}

TEST_F(EndToEndTest, SteadyStateDeviationExitsOne) {
  // Killing the demo service breaks the steady state for good.
  std::string file = Write(dir_, "deviate.yaml", Header("deviate") + R"(method:
  - {fault: process.kill, target: host, params: {pid: )" +
                                                     std::to_string(demo_.child.pid()) +
                                                     R"(, signal: KILL}, duration: 500ms}
)");
  std::string out;
  EXPECT_EQ(Faultline({"run", file}, &out), 1) << out;
  EXPECT_NE(out.find("deviated"), std::string::npos) << out;
}

TEST_F(EndToEndTest, UnreachableAgentExitsThreeAndInjectsNothing) {
  std::string file = Write(dir_, "unreachable.yaml", R"(apiVersion: faultline/v1
kind: Experiment
metadata: {name: unreachable}
targets:
  gone: {agents: ["127.0.0.1:1"]}
method:
  - {fault: cpu.pressure, target: gone, params: {load: 10}, duration: 1s}
)");
  std::string out;
  EXPECT_EQ(Faultline({"run", file}, &out), 3) << out;
  EXPECT_NE(out.find("unreachable"), std::string::npos) << out;
}

TEST_F(EndToEndTest, FaultThatCannotApplyExitsThree) {
  std::string file = Write(dir_, "nomatch.yaml", Header("nomatch") + R"(method:
  - {fault: process.pause, target: host, params: {name: fl-no-such-proc}, duration: 1s}
)");
  std::string out;
  EXPECT_EQ(Faultline({"run", file}, &out), 3) << out;
  EXPECT_NE(out.find("NOT_FOUND"), std::string::npos) << out;
}

TEST_F(EndToEndTest, InvalidExperimentExitsTwoWithLocations) {
  std::string file = Write(dir_, "bad.yaml", R"(apiVersion: faultline/v1
kind: Experiment
metadata: {name: bad}
method:
  - {fault: cpu.pressure, params: {load: 150}, duration: 1s}
  - {fault: cpu.presure, params: {load: 10}, duration: 1s}
)");
  std::string out;
  EXPECT_EQ(Faultline({"validate", file}, &out), 2) << out;
  EXPECT_NE(out.find(file + ":5:"), std::string::npos) << out;
  EXPECT_NE(out.find(file + ":6:"), std::string::npos) << out;
  EXPECT_EQ(Faultline({"run", file}, &out), 2) << out;
}

TEST_F(EndToEndTest, DryRunAppliesNothing) {
  std::string file = Write(dir_, "dry.yaml", Header("dry") + R"(method:
  - {fault: process.pause, target: host, params: {pid: )" +
                                              std::to_string(demo_.child.pid()) +
                                              R"(}, duration: 5s}
)");
  std::string out;
  EXPECT_EQ(Faultline({"run", file, "--dry-run"}, &out), 0) << out;
  EXPECT_NE(ProcessState(demo_.child.pid()), 'T');
  EXPECT_NE(out.find("dry run"), std::string::npos) << out;
}

}  // namespace
}  // namespace faultline::testing
