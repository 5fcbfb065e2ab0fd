// Cross-binary failure-semantics tests with the real faultline-agent and
// faultline binaries: crash recovery of the agent, the dead-man's switch when
// the controller is kill -9'd (remote and embedded agents), Ctrl-C.
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/host/process.h"
#include "controller/run/agent_client.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace faultline::testing {
namespace {

using controller::AgentClient;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

// Polls `predicate` every 20 ms until true or `timeout`; returns the time it took.
template <typename Predicate>
std::optional<milliseconds> WaitUntil(Predicate predicate, milliseconds timeout) {
  auto start = Steady::now();
  while (Steady::now() - start < timeout) {
    if (predicate()) return std::chrono::duration_cast<milliseconds>(Steady::now() - start);
    std::this_thread::sleep_for(milliseconds(20));
  }
  return std::nullopt;
}

// Children of `parent` whose comm starts with "faultline-stres" (comm is 15 chars).
std::vector<pid_t> StressorsOf(pid_t parent) {
  std::vector<pid_t> out;
  auto all = agent::ListProcesses();
  if (!all.ok()) return out;
  for (const auto& p : *all) {
    if (p.ppid == parent && p.comm.rfind("faultline-stres", 0) == 0 && p.state != 'Z') {
      out.push_back(p.pid);
    }
  }
  return out;
}

v1::ApplyRequest Request(const std::string& id, const std::string& run) {
  v1::ApplyRequest r;
  r.set_fault_id(id);
  r.set_run_id(run);
  r.set_duration_ms(60000);
  r.set_lease_ttl_ms(60000);
  return r;
}

TEST(AgentCrashRecoveryTest, RestartRevertsStressorAndPause) {
  TempDir dir;
  Child victim = StartVictim(dir, "fl-crash-vic");
  std::string state = dir.File("state");
  AgentProcess agent = StartAgent(state, dir.File("agent.log"));
  ASSERT_FALSE(agent.address.empty()) << ReadFile(dir.File("agent.log"));
  AgentClient client("a", agent.address, seconds(5));

  v1::ApplyRequest cpu = Request("crash.cpu", "crash-run");
  cpu.mutable_spec()->mutable_cpu_pressure()->set_load_pct(30);
  cpu.mutable_spec()->mutable_cpu_pressure()->set_workers(1);
  ASSERT_TRUE(client.Apply(cpu).ok());
  v1::ApplyRequest pause = Request("crash.pause", "crash-run");
  pause.mutable_spec()->mutable_process_pause()->mutable_target()->set_pid(victim.pid());
  auto paused = client.Apply(pause);
  ASSERT_TRUE(paused.ok()) << paused.status();
  EXPECT_EQ(ProcessState(victim.pid()), 'T');
  std::vector<pid_t> stressors = StressorsOf(agent.child.pid());
  ASSERT_EQ(stressors.size(), 1u);

  agent.child.Signal(SIGKILL);
  ASSERT_NE(agent.child.Wait(seconds(5)), -1);
  // The stressor watches its parent and goes with it.
  EXPECT_TRUE(WaitUntil([&] { return ProcessState(stressors[0]) == '\0'; }, seconds(2)));
  // Nobody has resumed the victim yet: that is the restarted agent's job.
  EXPECT_EQ(ProcessState(victim.pid()), 'T');

  AgentProcess restarted = StartAgent(state, dir.File("agent2.log"));
  ASSERT_FALSE(restarted.address.empty()) << ReadFile(dir.File("agent2.log"));
  EXPECT_TRUE(WaitUntil([&] { return ProcessState(victim.pid()) != 'T'; }, seconds(2)));
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
  AgentClient client2("a", restarted.address, seconds(5));
  auto list = client2.List("");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->faults_size(), 0);
  EXPECT_EQ(ReadFile(state + "/state.json").find("crash."), std::string::npos);
  restarted.child.Signal(SIGTERM);
  EXPECT_NE(restarted.child.Wait(seconds(10)), -1);
}

TEST(AgentCrashRecoveryTest, SigtermRevertsEverythingBeforeExit) {
  TempDir dir;
  Child victim = StartVictim(dir, "fl-term-vic");
  AgentProcess agent = StartAgent(dir.File("state"), dir.File("agent.log"));
  ASSERT_FALSE(agent.address.empty());
  AgentClient client("a", agent.address, seconds(5));
  v1::ApplyRequest pause = Request("term.pause", "term-run");
  pause.mutable_spec()->mutable_process_pause()->mutable_target()->set_pid(victim.pid());
  ASSERT_TRUE(client.Apply(pause).ok());
  ASSERT_EQ(ProcessState(victim.pid()), 'T');
  agent.child.Signal(SIGTERM);
  int status = agent.child.Wait(seconds(10));
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
}

std::string WriteExperiment(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir.File(name);
  std::ofstream(path) << body;
  return path;
}

// Starts `faultline run` of a 60 s process.pause of `victim_name` on the
// embedded local agent (state under `dir`).
Child StartEmbeddedPauseRun(const TempDir& dir, const std::string& victim_name,
                            std::vector<std::string> extra_flags = {}) {
  std::string file = WriteExperiment(dir, "pause.yaml", R"(apiVersion: faultline/v1
kind: Experiment
metadata: {name: embedded-pause}
method:
  - {fault: process.pause, params: {name: )" + victim_name + R"(}, duration: 60s}
)");
  std::vector<std::string> argv = {BinDir() + "/faultline", "run", file, "--journal",
                                   dir.File("journal.db"), "--embedded-dir", dir.File("embedded")};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  return Child(argv, dir.File("controller.log"));
}

TEST(DeadMansSwitchTest, KilledControllerFaultsRevertedWithinLeaseTtl) {
  TempDir dir;
  AgentProcess agent = StartAgent(dir.File("state"), dir.File("agent.log"));
  ASSERT_FALSE(agent.address.empty());
  std::string file = WriteExperiment(dir, "deadman.yaml", R"(apiVersion: faultline/v1
kind: Experiment
metadata: {name: deadman}
targets:
  host: {agents: [")" + agent.address + R"("]}
method:
  - {fault: cpu.pressure, target: host, params: {load: 20}, duration: 60s}
)");
  Child controller({BinDir() + "/faultline", "run", file, "--journal", dir.File("journal.db"),
                    "--lease-ttl", "2s"},
                   dir.File("controller.log"));
  AgentClient client("a", agent.address, seconds(5));
  auto active = [&] {
    auto list = client.List("");
    return list.ok() && list->faults_size() == 1;
  };
  ASSERT_TRUE(WaitUntil(active, seconds(15))) << ReadFile(dir.File("controller.log"));

  controller.Signal(SIGKILL);
  controller.Wait(seconds(5));
  auto reverted = WaitUntil([&] { return !active(); }, seconds(6));
  ASSERT_TRUE(reverted.has_value()) << "fault still active 6 s after the controller died";
  EXPECT_LE(*reverted, milliseconds(2000 + 2000));
  EXPECT_TRUE(StressorsOf(agent.child.pid()).empty());

  // The journal shows the run as interrupted once someone looks.
  std::string out;
  ASSERT_EQ(RunCommand({BinDir() + "/faultline", "runs", "--journal", dir.File("journal.db")}, &out), 0);
  EXPECT_NE(out.find("interrupted"), std::string::npos) << out;
}

TEST(DeadMansSwitchTest, EmbeddedAgentRevertsWhenControllerKilled) {
  TempDir dir;
  Child victim = StartVictim(dir, "fl-embed-vic");
  Child controller = StartEmbeddedPauseRun(dir, "fl-embed-vic");
  ASSERT_TRUE(WaitUntil([&] { return ProcessState(victim.pid()) == 'T'; }, seconds(15)))
      << ReadFile(dir.File("controller.log"));
  controller.Signal(SIGKILL);
  controller.Wait(seconds(5));
  auto resumed = WaitUntil([&] { return ProcessState(victim.pid()) == 'S'; }, seconds(4));
  EXPECT_TRUE(resumed.has_value()) << "victim still stopped after the controller died";
}

TEST(DeadMansSwitchTest, CtrlCRevertsAndExitsThree) {
  TempDir dir;
  Child victim = StartVictim(dir, "fl-sigint-vic");
  Child controller = StartEmbeddedPauseRun(dir, "fl-sigint-vic");
  ASSERT_TRUE(WaitUntil([&] { return ProcessState(victim.pid()) == 'T'; }, seconds(15)))
      << ReadFile(dir.File("controller.log"));
  controller.Signal(SIGINT);
  int status = controller.Wait(seconds(15));
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << ReadFile(dir.File("controller.log"));
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
  std::string log = ReadFile(dir.File("controller.log"));
  EXPECT_NE(log.find("fault.reverted"), std::string::npos) << log;
  EXPECT_NE(log.find("run.aborted"), std::string::npos) << log;
}

// Children of `parent` with the given comm prefix.
std::vector<pid_t> ChildrenNamed(pid_t parent, const std::string& comm) {
  std::vector<pid_t> out;
  auto all = agent::ListProcesses();
  if (!all.ok()) return out;
  for (const auto& p : *all) {
    if (p.ppid == parent && p.comm.rfind(comm, 0) == 0 && p.state != 'Z') out.push_back(p.pid);
  }
  return out;
}

TEST(DeadMansSwitchTest, CrashedEmbeddedAgentIsRecoveredBeforeTheControllerExits) {
  TempDir dir;
  Child victim = StartVictim(dir, "fl-crash-emb");
  Child controller = StartEmbeddedPauseRun(dir, "fl-crash-emb", {"--lease-ttl", "2s"});
  ASSERT_TRUE(WaitUntil([&] { return ProcessState(victim.pid()) == 'T'; }, seconds(15)))
      << ReadFile(dir.File("controller.log"));
  std::vector<pid_t> agents = ChildrenNamed(controller.pid(), "faultline-agen");
  ASSERT_EQ(agents.size(), 1u);
  ASSERT_EQ(kill(agents[0], SIGKILL), 0);

  // The controller loses the lease, cannot revert through the dead agent,
  // recovers the agent's state directory itself and exits 3.
  int status = controller.Wait(seconds(30));
  ASSERT_NE(status, -1) << ReadFile(dir.File("controller.log"));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << ReadFile(dir.File("controller.log"));
  EXPECT_EQ(ProcessState(victim.pid()), 'S') << ReadFile(dir.File("controller.log"));
}

TEST(DeadMansSwitchTest, RemoteAgentKilledMidFaultAbortsTheRun) {
  TempDir dir;
  AgentProcess agent = StartAgent(dir.File("state"), dir.File("agent.log"));
  ASSERT_FALSE(agent.address.empty());
  std::string file = WriteExperiment(dir, "lost.yaml", R"(apiVersion: faultline/v1
kind: Experiment
metadata: {name: agent-lost}
targets:
  host: {agents: [")" + agent.address + R"("]}
method:
  - {fault: cpu.pressure, target: host, params: {load: 10}, duration: 4s}
)");
  Child controller({BinDir() + "/faultline", "run", file, "--journal", dir.File("journal.db"),
                    "--lease-ttl", "2s"},
                   dir.File("controller.log"));
  AgentClient client("a", agent.address, seconds(5));
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto list = client.List("");
        return list.ok() && list->faults_size() == 1;
      },
      seconds(15)));
  agent.child.Signal(SIGKILL);
  agent.child.Wait(seconds(5));
  int status = controller.Wait(seconds(30));
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << ReadFile(dir.File("controller.log"));
  EXPECT_NE(ReadFile(dir.File("controller.log")).find("run.aborted"), std::string::npos);

  // The stressor died with the agent; its cgroup is removed by the next
  // agent on the same state directory.
  auto cgroups = [] {
    std::vector<std::string> left;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/sys/fs/cgroup/cpuacct/faultline", ec)) {
      if (e.is_directory() && e.path().filename().string().find("agent-lost") != std::string::npos) {
        left.push_back(e.path().string());
      }
    }
    return left;
  };
  AgentProcess restarted = StartAgent(dir.File("state"), dir.File("agent2.log"));
  ASSERT_FALSE(restarted.address.empty()) << ReadFile(dir.File("agent2.log"));
  EXPECT_TRUE(cgroups().empty());
  restarted.child.Signal(SIGTERM);
  EXPECT_NE(restarted.child.Wait(seconds(10)), -1);
}

}  // namespace
}  // namespace faultline::testing
