// kill -9 of `faultline serve` in the middle of a run: the agent keeps the
// victim paused (its lease is long), and the restarted serve marks the run
// interrupted and reverts its faults at once through the inventory's agents -
// long before the lease would have expired.
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "controller/run/agent_client.h"
#include "controller/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/serve_harness.h"

namespace faultline::testing {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ServeCrashTest, RestartAfterKill9MarksTheRunInterruptedAndRevertsItsFaults) {
  TempDir dir;
  AgentProcess agent = StartAgent(dir.File("agent"), dir.File("agent.log"));
  ASSERT_FALSE(agent.address.empty()) << ReadFile(dir.File("agent.log"));
  Child victim = StartVictim(dir, "flsrvvic" + std::to_string(getpid() % 100000));
  ASSERT_TRUE(Eventually([&] { return ProcessState(victim.pid()) == 'S'; }, seconds(5)));

  WriteFile(dir, "fleet.yaml",
            "agents:\n  - {name: web-1, address: \"" + agent.address +
                "\", labels: {role: web}}\n");
  std::string experiment = WriteFile(
      dir, "pause.yaml",
      "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: crash-drill}\n"
      "inventory: fleet.yaml\n"
      "targets:\n  web: {select: {role: web}, all: true}\n"
      "method:\n  - {fault: process.pause, target: web, params: {pid: " +
          std::to_string(victim.pid()) + "}, duration: 5m}\n");
  // A lease far longer than the test: only serve's start-up revert can
  // resume the victim in time.
  std::string config = WriteFile(dir, "serve.yaml",
                                 "listen: 127.0.0.1:0\njournal: journal.db\ninventory: fleet.yaml\n"
                                 "lease_ttl: 5m\nembedded_dir: embedded\n");
  ServeProcess serve = StartServe(dir, config, dir.File("serve.log"));
  ASSERT_FALSE(serve.address.empty()) << ReadFile(dir.File("serve.log"));

  std::string out;
  ASSERT_EQ(Faultline({"submit", experiment, "--server", serve.address}, &out), 0) << out;
  std::string run_id = out.substr(0, out.find('\n'));
  ASSERT_THAT(run_id, HasSubstr("crash-drill"));
  ASSERT_TRUE(Eventually([&] { return ProcessState(victim.pid()) == 'T'; }, seconds(15)))
      << ReadFile(dir.File("serve.log"));

  serve.child.Signal(SIGKILL);
  ASSERT_GE(serve.child.Wait(seconds(10)), 0);
  // The agent still holds the pause: nobody reverted it yet.
  std::this_thread::sleep_for(seconds(1));
  EXPECT_EQ(ProcessState(victim.pid()), 'T');
  controller::AgentClient client("web-1", agent.address, seconds(5));
  auto listed = client.List(run_id);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->faults_size(), 1);
  EXPECT_EQ(listed->faults(0).state(), v1::FAULT_STATE_ACTIVE);

  auto restarted_at = std::chrono::steady_clock::now();
  ServeProcess again = StartServe(dir, config, dir.File("serve2.log"));
  ASSERT_FALSE(again.address.empty()) << ReadFile(dir.File("serve2.log"));
  ASSERT_TRUE(Eventually([&] { return ProcessState(victim.pid()) == 'S'; }, seconds(10)));
  auto resumed_ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() -
                                                             restarted_at);
  std::cout << "victim resumed " << resumed_ms.count()
            << " ms after serve was restarted (lease: 5 min)\n";
  EXPECT_LT(resumed_ms, seconds(10));

  listed = client.List(run_id);
  ASSERT_TRUE(listed.ok()) << listed.status();
  for (const v1::FaultStatus& f : listed->faults()) {
    EXPECT_NE(f.state(), v1::FAULT_STATE_ACTIVE) << f.fault_id();
  }
  auto all = client.List("");
  ASSERT_TRUE(all.ok());
  for (const v1::FaultStatus& f : all->faults()) {
    EXPECT_NE(f.state(), v1::FAULT_STATE_ACTIVE) << f.fault_id();
  }

  auto store = controller::OpenSqliteStore(dir.File("journal.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  auto run = (*store)->GetRun(run_id);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status, controller::RunStatus::kInterrupted);
  auto events = (*store)->Events(run_id);
  ASSERT_TRUE(events.ok());
  nlohmann::json recovered;
  for (const controller::Event& e : *events) {
    if (e.type == "run.recovered") recovered = e.data;
  }
  ASSERT_TRUE(recovered.is_object()) << "no run.recovered event";
  EXPECT_EQ(recovered["reverted"], 1);
  EXPECT_EQ(recovered["unreachable"], 0);

  ASSERT_EQ(Faultline({"status", run_id, "--server", again.address}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("status:     interrupted"));
  ASSERT_EQ(Faultline({"show", run_id, "--journal", dir.File("journal.db")}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("run.recovered"));
  StopServe(again);
}

// An experiment without targets runs on serve's embedded agent, a child that
// watches serve: a kill -9 of serve makes it revert at once; the restarted
// serve marks the run interrupted and clears the dead agent's state.
TEST(ServeCrashTest, Kill9WithTheEmbeddedAgentRevertsAtOnce) {
  TempDir dir;
  Child victim = StartVictim(dir, "flsrvemb" + std::to_string(getpid() % 100000));
  ASSERT_TRUE(Eventually([&] { return ProcessState(victim.pid()) == 'S'; }, seconds(5)));
  std::string experiment = WriteFile(
      dir, "local.yaml",
      "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: local-pause}\n"
      "method:\n  - {fault: process.pause, params: {pid: " +
          std::to_string(victim.pid()) + "}, duration: 5m}\n");
  std::string config = WriteFile(dir, "serve.yaml",
                                 "listen: 127.0.0.1:0\njournal: journal.db\nlease_ttl: 5m\n"
                                 "embedded_dir: embedded\n");
  ServeProcess serve = StartServe(dir, config, dir.File("serve.log"));
  ASSERT_FALSE(serve.address.empty()) << ReadFile(dir.File("serve.log"));
  std::string out;
  ASSERT_EQ(Faultline({"submit", experiment, "--server", serve.address}, &out), 0) << out;
  std::string run_id = out.substr(0, out.find('\n'));
  ASSERT_TRUE(Eventually([&] { return ProcessState(victim.pid()) == 'T'; }, seconds(15)))
      << ReadFile(dir.File("serve.log"));
  const std::string agent_dir = dir.File("embedded/" + std::to_string(serve.child.pid()));
  ASSERT_TRUE(std::filesystem::exists(agent_dir));

  auto killed_at = std::chrono::steady_clock::now();
  serve.child.Signal(SIGKILL);
  ASSERT_GE(serve.child.Wait(seconds(10)), 0);
  ASSERT_TRUE(Eventually([&] { return ProcessState(victim.pid()) == 'S'; }, seconds(10)));
  std::cout << "embedded agent resumed the victim "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() -
                                                        killed_at)
                   .count()
            << " ms after serve was killed\n";

  ServeProcess again = StartServe(dir, config, dir.File("serve2.log"));
  ASSERT_FALSE(again.address.empty()) << ReadFile(dir.File("serve2.log"));
  EXPECT_FALSE(std::filesystem::exists(agent_dir)) << "dead embedded agent's state not recovered";
  ASSERT_EQ(Faultline({"status", run_id, "--server", again.address}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("status:     interrupted"));
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
  StopServe(again);
}

}  // namespace
}  // namespace faultline::testing
