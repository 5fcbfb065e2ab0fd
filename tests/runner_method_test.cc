// The run engine's method against real agents: parallel and serial steps,
// pause gates, ramps, flaps, during-probes with deviations and abort
// conditions, unreachable or hung hosts in a multi-host step, external
// aborts and rollback policies. The Runner runs in-process (its journal read
// back from SQLite); agents are real faultline-agent processes, and the
// faults' effects are read from /proc: process.pause of our own sleeping
// victims ('T' while paused) and cpu.pressure's observed load.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "controller/probes/probe.h"
#include "controller/run/control_events.h"
#include "controller/run/embedded_agent.h"
#include "controller/run/runner.h"
#include "controller/store/sqlite_store.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace faultline::testing {
namespace {

using controller::Event;
using controller::Experiment;
using controller::Inventory;
using controller::InventoryAgent;
using controller::JournalStore;
using controller::Probe;
using controller::ProbeKind;
using controller::RollbackAction;
using controller::RollbackPolicy;
using controller::RunOptions;
using controller::RunOutcome;
using controller::Runner;
using controller::RunStatus;
using controller::Step;
using controller::StepKind;
using controller::StopSignal;
using controller::Target;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

template <typename Predicate>
bool WaitUntil(Predicate predicate, milliseconds timeout) {
  auto end = Steady::now() + timeout;
  while (Steady::now() < end) {
    if (predicate()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return predicate();
}

v1::FaultSpec PauseSpec(pid_t pid) {
  v1::FaultSpec spec;
  spec.mutable_process_pause()->mutable_target()->set_pid(pid);
  return spec;
}

v1::FaultSpec CpuSpec(uint32_t load) {
  v1::FaultSpec spec;
  spec.mutable_cpu_pressure()->set_load_pct(load);
  spec.mutable_cpu_pressure()->set_workers(1);
  return spec;
}

Step Fault(const std::string& kind, const v1::FaultSpec& spec, milliseconds duration,
           std::vector<std::string> targets = {}) {
  Step s;
  s.kind = StepKind::kFault;
  s.fault_kind = kind;
  s.spec = spec;
  s.duration = duration;
  s.targets = targets;
  s.target = targets.empty() ? "" : targets[0];
  s.label = s.target.empty() ? kind : kind + " on " + s.target;
  s.params_summary = kind;
  return s;
}

Step Pause(pid_t pid, milliseconds duration, std::vector<std::string> targets = {}) {
  return Fault("process.pause", PauseSpec(pid), duration, std::move(targets));
}

Step Wait(milliseconds duration) {
  Step s;
  s.kind = StepKind::kWait;
  s.duration = duration;
  s.label = "wait";
  return s;
}

Step Block(StepKind kind, std::vector<Step> children) {
  Step s;
  s.kind = kind;
  s.steps = std::move(children);
  s.label = kind == StepKind::kParallel ? "parallel" : "serial";
  return s;
}

Step Gate(milliseconds timeout, controller::PauseTimeout on_timeout) {
  Step s;
  s.kind = StepKind::kPause;
  s.duration = timeout;
  s.on_timeout = on_timeout;
  s.message = "check the dashboards";
  s.label = "pause";
  return s;
}

// Passes while `pid` is not stopped: fails exactly while a process.pause holds it.
Probe NotStopped(pid_t pid, bool during, int failures) {
  Probe p;
  p.name = "victim-running";
  p.kind = ProbeKind::kExec;
  p.command = "grep -q '^State:[[:space:]]*T' /proc/" + std::to_string(pid) +
              "/status && exit 1; exit 0";
  p.during = during;
  p.interval = milliseconds(150);
  p.failures = failures;
  p.timeout = seconds(2);
  return p;
}

RollbackAction Touch(const std::string& name, const std::string& file) {
  RollbackAction a;
  a.kind = RollbackAction::Kind::kExec;
  a.name = name;
  a.command = "touch " + file;
  a.timeout = seconds(5);
  return a;
}

std::vector<Event> OfType(const std::vector<Event>& events, const std::string& type) {
  std::vector<Event> out;
  for (const Event& e : events) {
    if (e.type == type) out.push_back(e);
  }
  return out;
}

// The first event of `type` whose data[key] == value, or nullopt.
std::optional<Event> Find(const std::vector<Event>& events, const std::string& type,
                          const std::string& key, const nlohmann::json& value) {
  for (const Event& e : events) {
    if (e.type == type && e.data.contains(key) && e.data[key] == value) return e;
  }
  return std::nullopt;
}

std::string Dump(const std::vector<Event>& events) {
  std::string out;
  for (const Event& e : events) out += e.type + " " + e.data.dump() + "\n";
  return out;
}

class RunnerMethodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    controller::InitProbes();
    auto store = controller::OpenSqliteStore(dir_.File("journal.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    for (int i = 0; i < 2; ++i) {
      std::string name = "h" + std::to_string(i + 1);
      agents_.push_back(StartAgent(dir_.File(name + "-state"), dir_.File(name + ".log")));
      ASSERT_FALSE(agents_.back().address.empty()) << ReadFile(dir_.File(name + ".log"));
      inventory_.agents.push_back(InventoryAgent{
          .name = name, .address = agents_.back().address, .labels = {{"role", "web"}, {"host", name}}});
    }
    inventory_.path = "fleet.yaml";
  }

  // An experiment on the inventory: group "h1" = host h1, "h2" = host h2,
  // "web" = both.
  Experiment Fleet(const std::string& name, std::vector<Step> method) {
    Experiment e;
    e.name = name;
    e.api_version = "faultline/v1";
    e.kind = "Experiment";
    e.targets["h1"] = Target{.name = "h1", .select = {{"host", "h1"}}};
    e.targets["h2"] = Target{.name = "h2", .select = {{"host", "h2"}}};
    e.targets["web"] = Target{.name = "web", .select = {{"role", "web"}}};
    e.method = std::move(method);
    return e;
  }

  RunOptions Options(const std::string& run_id) {
    RunOptions options;
    options.run_id = run_id + "-" + std::to_string(getpid());
    options.inventory = &inventory_;
    options.default_seed = 7;
    options.observe_interval = milliseconds(500);
    options.rpc_deadline = seconds(5);
    return options;
  }

  // Runs `experiment` on a thread; Finish() joins it.
  void Start(const Experiment& experiment, RunOptions options) {
    run_id_ = options.run_id;
    stop_ = std::make_unique<StopSignal>();  // a stop is for good: one per run
    runner_thread_ = std::thread([this, &experiment, options] {
      Runner runner(experiment, store_.get(), stop_.get(), options, nullptr);
      auto outcome = runner.Run();
      if (outcome.ok()) outcome_ = *outcome;
      done_ = true;
    });
  }

  RunOutcome Finish() {
    runner_thread_.join();
    return outcome_;
  }

  RunOutcome RunToEnd(const Experiment& experiment, RunOptions options) {
    Start(experiment, std::move(options));
    return Finish();
  }

  std::vector<Event> Events() {
    auto events = store_->Events(run_id_);
    return events.ok() ? *events : std::vector<Event>{};
  }

  bool WaitForEvent(const std::string& type, milliseconds timeout) {
    return WaitUntil([&] { return !OfType(Events(), type).empty(); }, timeout);
  }

  TempDir dir_;
  std::unique_ptr<JournalStore> store_;
  std::vector<AgentProcess> agents_;
  Inventory inventory_;
  std::unique_ptr<StopSignal> stop_;
  std::string run_id_;
  std::thread runner_thread_;
  RunOutcome outcome_;
  std::atomic<bool> done_{false};
};

// Samples victims' states every 10 ms on a thread until destroyed.
class StateSampler {
 public:
  explicit StateSampler(std::vector<pid_t> pids) : pids_(std::move(pids)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        std::vector<char> row;
        for (pid_t pid : pids_) row.push_back(ProcessState(pid));
        {
          std::lock_guard lock(mu_);
          rows_.push_back(row);
        }
        std::this_thread::sleep_for(milliseconds(10));
      }
    });
  }
  ~StateSampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::vector<char>> rows() {
    std::lock_guard lock(mu_);
    return rows_;
  }
  // Number of separate stretches in which victim `i` was stopped.
  int StoppedStretches(size_t i) {
    int n = 0;
    char last = 0;
    for (const auto& row : rows()) {
      if (row[i] == 'T' && last != 'T') ++n;
      last = row[i];
    }
    return n;
  }

 private:
  std::vector<pid_t> pids_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::vector<char>> rows_;
  std::thread thread_;
};

TEST_F(RunnerMethodTest, ParallelBranchesOverlapAndSerialKeepsOrder) {
  Child v1 = StartVictim(dir_, "fl-par-v1");
  Child v2 = StartVictim(dir_, "fl-par-v2");
  Child v3 = StartVictim(dir_, "fl-par-v3");
  Experiment e = Fleet(
      "parallel", {Block(StepKind::kParallel,
                         {Block(StepKind::kSerial, {Pause(v1.pid(), milliseconds(700), {"h1"}),
                                                    Pause(v2.pid(), milliseconds(700), {"h1"})}),
                          Pause(v3.pid(), milliseconds(1200), {"h2"})})});
  StateSampler sampler({v1.pid(), v2.pid(), v3.pid()});
  RunOutcome outcome = RunToEnd(e, Options("parallel"));
  sampler.Stop();
  std::vector<Event> events = Events();
  ASSERT_EQ(outcome.exit_code, 0) << outcome.verdict << "\n" << Dump(events);
  EXPECT_EQ(outcome.status, RunStatus::kPassed);

  // Journal: the paths and host names, the parallel branch overlapping both
  // serial children, the serial children one after the other.
  auto applied_11 = Find(events, "fault.applied", "path", "1.1.1");
  auto reverted_11 = Find(events, "fault.reverted", "path", "1.1.1");
  auto applied_12 = Find(events, "fault.applied", "path", "1.1.2");
  auto reverted_12 = Find(events, "fault.reverted", "path", "1.1.2");
  auto applied_2 = Find(events, "fault.applied", "path", "1.2");
  auto reverted_2 = Find(events, "fault.reverted", "path", "1.2");
  ASSERT_TRUE(applied_11 && reverted_11 && applied_12 && reverted_12 && applied_2 && reverted_2)
      << Dump(events);
  EXPECT_EQ(applied_11->data["agent"], "h1");
  EXPECT_EQ(applied_2->data["agent"], "h2");
  EXPECT_LT(applied_2->unix_ms, reverted_11->unix_ms) << "branches did not overlap";
  EXPECT_LT(applied_11->unix_ms, reverted_2->unix_ms) << "branches did not overlap";
  EXPECT_LE(reverted_11->seq, applied_12->seq) << "serial children overlapped";
  EXPECT_LT(applied_12->unix_ms, reverted_2->unix_ms);
  std::vector<std::string> started;
  for (const Event& s : OfType(events, "step.started")) started.push_back(s.data["path"]);
  ASSERT_EQ(started.size(), 5u) << Dump(events);
  EXPECT_EQ(started[0], "1");
  // 1.1.1 before 1.1.2 whatever the interleaving with 1.2.
  EXPECT_LT(std::find(started.begin(), started.end(), "1.1.1"),
            std::find(started.begin(), started.end(), "1.1.2"));

  // The real effect: v1 and v3 stopped at the same time, v1 and v2 never.
  bool v1_and_v3 = false, v1_and_v2 = false;
  for (const auto& row : sampler.rows()) {
    v1_and_v3 = v1_and_v3 || (row[0] == 'T' && row[2] == 'T');
    v1_and_v2 = v1_and_v2 || (row[0] == 'T' && row[1] == 'T');
  }
  EXPECT_TRUE(v1_and_v3);
  EXPECT_FALSE(v1_and_v2);
  EXPECT_EQ(sampler.StoppedStretches(1), 1);
  for (pid_t pid : {v1.pid(), v2.pid(), v3.pid()}) EXPECT_EQ(ProcessState(pid), 'S');
}

TEST_F(RunnerMethodTest, PauseGateWaitsForContinue) {
  Child victim = StartVictim(dir_, "fl-gate-vic");
  Experiment e = Fleet("gate", {Gate(seconds(30), controller::PauseTimeout::kAbort),
                                Pause(victim.pid(), milliseconds(300), {"h1"})});
  auto begun = Steady::now();
  Start(e, Options("gate"));
  ASSERT_TRUE(WaitForEvent("gate.waiting", seconds(15))) << Dump(Events());
  auto waiting = OfType(Events(), "gate.waiting")[0];
  EXPECT_EQ(waiting.data["path"], "1");
  EXPECT_EQ(waiting.data["timeout_ms"], 30000);
  EXPECT_EQ(waiting.data["continue_with"], "faultline continue " + run_id_);
  // The gate holds the method: nothing is injected while it waits.
  std::this_thread::sleep_for(milliseconds(600));
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
  EXPECT_TRUE(OfType(Events(), "fault.applied").empty());
  // A continue for another gate does not open this one.
  ASSERT_TRUE(store_->Append(run_id_, controller::kEventContinue, {{"by", "bob"}, {"gate", "7"}}).ok());
  std::this_thread::sleep_for(milliseconds(600));
  EXPECT_TRUE(OfType(Events(), "gate.continued").empty());
  ASSERT_TRUE(store_->Append(run_id_, controller::kEventContinue, {{"by", "alice"}, {"gate", ""}}).ok());
  RunOutcome outcome = Finish();
  std::vector<Event> events = Events();
  EXPECT_EQ(outcome.exit_code, 0) << outcome.verdict << "\n" << Dump(events);
  EXPECT_LT(Steady::now() - begun, seconds(20));
  auto continued = OfType(events, "gate.continued");
  ASSERT_EQ(continued.size(), 1u) << Dump(events);
  EXPECT_EQ(continued[0].data["by"], "alice");
  EXPECT_GE(continued[0].data["waited_ms"].get<int64_t>(), 1000);
  EXPECT_EQ(OfType(events, "fault.applied").size(), 1u);
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
}

TEST_F(RunnerMethodTest, PauseGateTimeoutAbortsAndIgnoresEarlierContinues) {
  Child victim = StartVictim(dir_, "fl-gto-vic");
  Experiment e = Fleet("gate-timeout", {Wait(milliseconds(800)),
                                        Gate(milliseconds(800), controller::PauseTimeout::kAbort),
                                        Pause(victim.pid(), seconds(5), {"h1"})});
  Start(e, Options("gate-timeout"));
  ASSERT_TRUE(WaitForEvent("step.started", seconds(15)));
  // Appended before the gate opened: it must not count.
  ASSERT_TRUE(store_->Append(run_id_, controller::kEventContinue, {{"by", "early"}}).ok());
  RunOutcome outcome = Finish();
  std::vector<Event> events = Events();
  EXPECT_EQ(outcome.exit_code, 3) << Dump(events);
  EXPECT_EQ(outcome.status, RunStatus::kAborted);
  EXPECT_NE(outcome.verdict.find("pause gate timed out"), std::string::npos) << outcome.verdict;
  EXPECT_TRUE(OfType(events, "gate.continued").empty()) << Dump(events);
  ASSERT_EQ(OfType(events, "gate.timeout").size(), 1u);
  EXPECT_TRUE(OfType(events, "fault.applied").empty()) << "a fault after a timed-out gate ran";
  auto abort = OfType(events, "abort");
  ASSERT_EQ(abort.size(), 1u);
  EXPECT_EQ(abort[0].data["condition"], "gate.timeout");

  // on_timeout: continue goes on to the next step.
  Experiment go_on = Fleet("gate-continue", {Gate(milliseconds(300), controller::PauseTimeout::kContinue),
                                             Pause(victim.pid(), milliseconds(200), {"h1"})});
  outcome = RunToEnd(go_on, Options("gate-continue"));
  events = Events();
  EXPECT_EQ(outcome.exit_code, 0) << outcome.verdict << Dump(events);
  EXPECT_EQ(OfType(events, "gate.timeout").size(), 1u);
  EXPECT_EQ(OfType(events, "fault.applied").size(), 1u);
}

TEST_F(RunnerMethodTest, RampAppliesIncreasingPhasesOneAfterTheOther) {
  Step ramp = Fault("cpu.pressure", CpuSpec(20), seconds(3), {"h1"});
  ramp.ramp = controller::Ramp{.param = "load",
                               .specs = {CpuSpec(20), CpuSpec(50), CpuSpec(80)},
                               .summaries = {"load=20", "load=50", "load=80"}};
  Experiment e = Fleet("ramp", {ramp});
  RunOutcome outcome = RunToEnd(e, Options("ramp"));
  std::vector<Event> events = Events();
  ASSERT_EQ(outcome.exit_code, 0) << outcome.verdict << "\n" << Dump(events);
  auto applied = OfType(events, "fault.applied");
  auto reverted = OfType(events, "fault.reverted");
  ASSERT_EQ(applied.size(), 3u) << Dump(events);
  ASSERT_EQ(reverted.size(), 3u) << Dump(events);
  std::vector<double> load;
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(applied[k].data["phase"], k);
    EXPECT_EQ(applied[k].data["phases"], 3);
    EXPECT_EQ(applied[k].data["ramp"], "load");
    EXPECT_EQ(applied[k].data["summary"], "load=" + std::to_string(20 + 30 * k));
    std::string id = applied[k].data["fault_id"];
    EXPECT_EQ(id.substr(id.size() - 2), "." + std::to_string(k));
    EXPECT_EQ(applied[k].data["params"]["cpu_pressure"]["load_pct"], 20 + 30 * k);
    EXPECT_EQ(reverted[k].data["fault_id"], id);
    // Revert before apply: phase k is gone before phase k+1 starts.
    if (k > 0) {
      EXPECT_LT(reverted[k - 1].seq, applied[k].seq);
    }
    // About one second each.
    EXPECT_NEAR(reverted[k].unix_ms - applied[k].unix_ms, 1000, 500);
    load.push_back(reverted[k].data["observed"].value("cpu_load_pct", 0.0));
  }
  std::fprintf(stderr, "ramp 20/50/80%% -> observed cpu_load_pct %.1f / %.1f / %.1f\n", load[0],
               load[1], load[2]);
  for (double l : load) EXPECT_GT(l, 5.0) << "the stressor did not run";
  // The figures the agent measured rise with the phases - unless other work
  // starves the stressor (2 cores shared with compilers: a worker then gets
  // its fair share, whatever load it asks for).
  double loadavg = 0;
  std::ifstream("/proc/loadavg") >> loadavg;
  if (loadavg > 2.0 * std::thread::hardware_concurrency()) {
    std::fprintf(stderr, "load average %.1f: not comparing achieved loads\n", loadavg);
    return;
  }
  EXPECT_LT(load[0], load[1]) << Dump(events);
  EXPECT_LT(load[1], load[2]) << Dump(events);
  EXPECT_GT(load[2], load[0] + 25) << Dump(events);
}

TEST_F(RunnerMethodTest, FlapTogglesOnTheEmbeddedAgent) {
  controller::EmbeddedAgentOptions embedded;
  embedded.agent_binary = BinDir() + "/faultline-agent";
  embedded.base_dir = dir_.File("embedded");
  auto agent = controller::EmbeddedAgent::Start(embedded);
  ASSERT_TRUE(agent.ok()) << agent.status();
  Child victim = StartVictim(dir_, "fl-flap-vic");
  Step flap = Pause(victim.pid(), milliseconds(1500));
  flap.flap = controller::Flap{.on = milliseconds(300), .off = milliseconds(300)};
  Experiment e;
  e.name = "flap";
  e.method = {flap};
  RunOptions options = Options("flap");
  options.inventory = nullptr;
  options.embedded_address = (*agent)->address();
  StateSampler sampler({victim.pid()});
  RunOutcome outcome = RunToEnd(e, options);
  sampler.Stop();
  std::vector<Event> events = Events();
  ASSERT_EQ(outcome.exit_code, 0) << outcome.verdict << "\n" << Dump(events);
  auto applied = OfType(events, "fault.applied");
  auto reverted = OfType(events, "fault.reverted");
  // On at 0, 600 and 1200 ms (the last cut at 1500 ms).
  ASSERT_EQ(applied.size(), 3u) << Dump(events);
  ASSERT_EQ(reverted.size(), 3u) << Dump(events);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(applied[k].data["agent"], "local");
    EXPECT_EQ(applied[k].data["flap"], "on");
    EXPECT_EQ(applied[k].data["phase"], k);
    // The last phase ends with the step: the runner's revert or the agent's
    // own expiry of the same duration, whichever comes first.
    const std::string reason = reverted[k].data["reason"];
    if (k < 2) {
      EXPECT_EQ(reason, "flap off") << Dump(events);
    } else {
      EXPECT_TRUE(reason == "duration" || reason == "duration (by the agent)") << Dump(events);
    }
  }
  EXPECT_NEAR(applied[1].unix_ms - applied[0].unix_ms, 600, 250);
  EXPECT_NEAR(applied[2].unix_ms - applied[0].unix_ms, 1200, 250);
  EXPECT_EQ(sampler.StoppedStretches(0), 3);
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
}

TEST_F(RunnerMethodTest, DuringProbeDeviationExitsOne) {
  Child victim = StartVictim(dir_, "fl-dev-vic");
  Experiment e = Fleet("deviate", {Pause(victim.pid(), milliseconds(1500), {"h1"})});
  e.steady_state.push_back(NotStopped(victim.pid(), /*during=*/true, /*failures=*/2));
  RunOutcome outcome = RunToEnd(e, Options("deviate"));
  std::vector<Event> events = Events();
  EXPECT_EQ(outcome.exit_code, 1) << outcome.verdict << "\n" << Dump(events);
  EXPECT_EQ(outcome.status, RunStatus::kDeviated);
  EXPECT_NE(outcome.verdict.find("during the method (victim-running)"), std::string::npos)
      << outcome.verdict;
  int during = 0, failed = 0;
  for (const Event& r : OfType(events, "probe.result")) {
    if (r.data["phase"] != "during") continue;
    ++during;
    failed += r.data["ok"] ? 0 : 1;
    EXPECT_TRUE(r.data.contains("latency_us"));
  }
  EXPECT_GE(during, 5) << Dump(events);
  EXPECT_GE(failed, 2) << Dump(events);
  auto deviated = OfType(events, "probe.deviated");
  ASSERT_EQ(deviated.size(), 1u) << Dump(events);
  EXPECT_EQ(deviated[0].data["consecutive_failures"], 2);
  // Not an abort: the fault ran its course; the after probe passed.
  EXPECT_TRUE(OfType(events, "abort").empty());
  auto after = Find(events, "probe.result", "phase", "after");
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->data["ok"]);
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
}

TEST_F(RunnerMethodTest, AbortConditionRevertsEverythingAndExitsThree) {
  Child v1 = StartVictim(dir_, "fl-abw-v1");
  Child v2 = StartVictim(dir_, "fl-abw-v2");
  Experiment e = Fleet("abort-when", {Block(StepKind::kParallel,
                                            {Pause(v1.pid(), seconds(30), {"h1"}),
                                             Pause(v2.pid(), seconds(30), {"h2"})})});
  e.steady_state.push_back(NotStopped(v1.pid(), /*during=*/true, /*failures=*/5));
  e.abort_when.push_back({.probe = "victim-running", .failures = 2});
  auto begun = Steady::now();
  RunOutcome outcome = RunToEnd(e, Options("abort-when"));
  std::vector<Event> events = Events();
  EXPECT_LT(Steady::now() - begun, seconds(15));
  EXPECT_EQ(outcome.exit_code, 3) << outcome.verdict << "\n" << Dump(events);
  EXPECT_EQ(outcome.status, RunStatus::kAborted);
  EXPECT_NE(outcome.verdict.find("abort_when: probe victim-running failed 2 times"),
            std::string::npos)
      << outcome.verdict;
  auto abort = OfType(events, "abort");
  ASSERT_EQ(abort.size(), 1u) << Dump(events);
  EXPECT_EQ(abort[0].data["condition"], "abort_when");
  EXPECT_EQ(abort[0].data["probe"], "victim-running");
  EXPECT_GT(abort[0].data["triggered_unix_ms"].get<int64_t>(), 0);
  auto reverted = OfType(events, "abort.reverted");
  ASSERT_EQ(reverted.size(), 1u) << Dump(events);
  int64_t revert_ms = reverted[0].data["revert_ms"];
  EXPECT_GE(revert_ms, 0);
  EXPECT_LT(revert_ms, 3000);
  EXPECT_TRUE(reverted[0].data["all_reverted"]);
  EXPECT_GT(reverted[0].seq, abort[0].seq);
  // Both hosts' faults reverted after the abort, before abort.reverted.
  auto fault_reverts = OfType(events, "fault.reverted");
  ASSERT_EQ(fault_reverts.size(), 2u) << Dump(events);
  for (const Event& r : fault_reverts) {
    EXPECT_EQ(r.data["reason"], "abort");
    EXPECT_LT(r.seq, reverted[0].seq);
  }
  // No deviation was declared (tolerance 5 not reached); it is an abort.
  EXPECT_TRUE(OfType(events, "probe.deviated").empty());
  EXPECT_EQ(ProcessState(v1.pid()), 'S');
  EXPECT_EQ(ProcessState(v2.pid()), 'S');
  std::fprintf(stderr, "abort_when -> everything reverted in %lld ms\n",
               static_cast<long long>(revert_ms));
}

TEST_F(RunnerMethodTest, ExternalAbortRequestStopsTheRun) {
  Child victim = StartVictim(dir_, "fl-ext-vic");
  Experiment e = Fleet("external", {Pause(victim.pid(), seconds(30), {"h1"})});
  auto begun = Steady::now();
  Start(e, Options("external"));
  ASSERT_TRUE(WaitForEvent("fault.applied", seconds(15)))
      << Dump(Events());
  EXPECT_EQ(ProcessState(victim.pid()), 'T');
  ASSERT_TRUE(store_
                  ->Append(run_id_, controller::kEventAbortRequested,
                           {{"by", "carol"}, {"reason", "customer impact"}})
                  .ok());
  RunOutcome outcome = Finish();
  std::vector<Event> events = Events();
  EXPECT_LT(Steady::now() - begun, seconds(15));
  EXPECT_EQ(outcome.exit_code, 3) << Dump(events);
  EXPECT_EQ(outcome.verdict, "aborted: abort requested by carol: customer impact");
  auto abort = OfType(events, "abort");
  ASSERT_EQ(abort.size(), 1u);
  EXPECT_EQ(abort[0].data["condition"], "external");
  auto reverted = OfType(events, "abort.reverted");
  ASSERT_EQ(reverted.size(), 1u);
  // From the request's own timestamp: the poll interval plus the reverts.
  EXPECT_LT(reverted[0].data["revert_ms"].get<int64_t>(), 3000);
  EXPECT_EQ(OfType(events, "fault.reverted").size(), 1u);
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
}

TEST_F(RunnerMethodTest, StopSignalRevertsAndExitsThree) {
  Child victim = StartVictim(dir_, "fl-stop-vic");
  Experiment e = Fleet("stop", {Pause(victim.pid(), seconds(30), {"h1"})});
  Start(e, Options("stop"));
  ASSERT_TRUE(WaitForEvent("fault.applied", seconds(15))) << Dump(Events());
  stop_->Stop("interrupted by SIGINT (Ctrl-C)");
  RunOutcome outcome = Finish();
  std::vector<Event> events = Events();
  EXPECT_EQ(outcome.exit_code, 3) << Dump(events);
  EXPECT_EQ(outcome.status, RunStatus::kAborted);
  auto abort = OfType(events, "abort");
  ASSERT_EQ(abort.size(), 1u) << Dump(events);
  EXPECT_EQ(abort[0].data["condition"], "stop");
  EXPECT_EQ(abort[0].data["reason"], "interrupted by SIGINT (Ctrl-C)");
  ASSERT_EQ(OfType(events, "abort.reverted").size(), 1u);
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
}

TEST_F(RunnerMethodTest, DryRunValidatesEveryPhaseAndSkipsGates) {
  Child victim = StartVictim(dir_, "fl-dry-vic");
  Step ramp = Fault("cpu.pressure", CpuSpec(20), seconds(30), {"web"});
  ramp.ramp = controller::Ramp{.param = "load",
                               .specs = {CpuSpec(20), CpuSpec(50), CpuSpec(80)},
                               .summaries = {"load=20", "load=50", "load=80"}};
  Step flap = Pause(victim.pid(), seconds(30), {"h1"});
  flap.flap = controller::Flap{.on = seconds(1), .off = seconds(1)};
  Experiment e = Fleet("dry", {Gate(seconds(30), controller::PauseTimeout::kAbort),
                               Block(StepKind::kParallel, {ramp, flap}), Wait(seconds(30))});
  RunOptions options = Options("dry");
  options.dry_run = true;
  auto begun = Steady::now();
  RunOutcome outcome = RunToEnd(e, options);
  std::vector<Event> events = Events();
  EXPECT_LT(Steady::now() - begun, seconds(10));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.verdict << "\n" << Dump(events);
  EXPECT_EQ(OfType(events, "gate.skipped").size(), 1u);
  EXPECT_TRUE(OfType(events, "fault.applied").empty());
  // Every ramp phase on both hosts (each phase has its own spec), the flap once.
  EXPECT_EQ(OfType(events, "fault.validated").size(), 3u * 2 + 1) << Dump(events);
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
}

// One host of a two-host step dies (or hangs) after the run connected: the
// other host's fault is reverted, the run fails with exit 3 naming the host.
class BrokenHostTest : public RunnerMethodTest, public ::testing::WithParamInterface<int> {};

TEST_P(BrokenHostTest, OtherHostRevertedAndRunFails) {
  const int signal = GetParam();
  Child victim = StartVictim(dir_, signal == SIGKILL ? "fl-dead-vic" : "fl-hung-vic");
  Experiment e = Fleet("broken-host", {Wait(milliseconds(800)), Pause(victim.pid(), seconds(30), {"web"})});
  RunOptions options = Options(signal == SIGKILL ? "dead-host" : "hung-host");
  options.rpc_deadline = milliseconds(1500);
  auto begun = Steady::now();
  Start(e, options);
  ASSERT_TRUE(WaitForEvent("step.started", seconds(15))) << Dump(Events());
  agents_[1].child.Signal(signal);
  RunOutcome outcome = Finish();
  auto took = Steady::now() - begun;
  std::vector<Event> events = Events();
  EXPECT_EQ(outcome.exit_code, 3) << outcome.verdict << "\n" << Dump(events);
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_NE(outcome.verdict.find("not applied on h2 ("), std::string::npos) << outcome.verdict;
  EXPECT_NE(outcome.verdict.find(signal == SIGKILL ? "UNAVAILABLE" : "DEADLINE_EXCEEDED"),
            std::string::npos)
      << outcome.verdict;
  EXPECT_EQ(outcome.verdict.find("h1 ("), std::string::npos) << outcome.verdict;
  auto failed = Find(events, "fault.failed", "agent", "h2");
  ASSERT_TRUE(failed.has_value()) << Dump(events);
  auto applied = Find(events, "fault.applied", "agent", "h1");
  ASSERT_TRUE(applied.has_value()) << Dump(events);
  auto reverted = Find(events, "fault.reverted", "fault_id", applied->data["fault_id"]);
  ASSERT_TRUE(reverted.has_value()) << Dump(events);
  auto abort = OfType(events, "abort");
  ASSERT_EQ(abort.size(), 1u);
  EXPECT_EQ(abort[0].data["condition"], "fault.failed");
  EXPECT_TRUE(abort[0].data["hosts"].contains("h2"));
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
  // Bounded by the per-agent deadline (apply, then revert of the unknown
  // outcome), not by the 30 s step.
  EXPECT_LT(took, seconds(12));
  // The resumed agent may still run the Apply it had queued; the fixture
  // kills it (and the victim) before its lease could matter.
  if (signal == SIGSTOP) agents_[1].child.Signal(SIGCONT);
}

INSTANTIATE_TEST_SUITE_P(Signals, BrokenHostTest, ::testing::Values(SIGKILL, SIGSTOP),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGKILL ? "Killed" : "Hung");
                         });

struct RollbackCase {
  const char* name;
  RollbackPolicy policy;
  bool deviate;          // a during probe deviates
  bool kill;             // the method kills a process
  bool failing_action;   // the action exits 3
  bool expect_ran;
  int expect_exit;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const RollbackCase& c, std::ostream* os) { *os << c.name; }

class RollbackTest : public RunnerMethodTest, public ::testing::WithParamInterface<RollbackCase> {};

TEST_P(RollbackTest, PolicyDecidesWhetherActionsRun) {
  const RollbackCase& c = GetParam();
  Child victim = StartVictim(dir_, "fl-rb-vic");
  Child doomed = StartVictim(dir_, "fl-rb-doomed");
  std::vector<Step> method = {Pause(victim.pid(), milliseconds(800), {"h1"})};
  if (c.kill) {
    v1::FaultSpec kill;
    kill.mutable_process_kill()->mutable_target()->set_pid(doomed.pid());
    kill.mutable_process_kill()->set_signal(SIGKILL);
    method.push_back(Fault("process.kill", kill, milliseconds(200), {"h1"}));
  }
  Experiment e = Fleet(c.name, method);
  if (c.deviate) e.steady_state.push_back(NotStopped(victim.pid(), true, 2));
  e.rollback_policy = c.policy;
  std::string marker = dir_.File("rolled-back");
  e.rollback_actions.push_back(Touch("mark", marker));
  if (c.failing_action) {
    RollbackAction fail;
    fail.command = "echo nope; exit 3";
    e.rollback_actions.push_back(fail);
  }
  RunOutcome outcome = RunToEnd(e, Options(c.name));
  std::vector<Event> events = Events();
  EXPECT_EQ(outcome.exit_code, c.expect_exit) << outcome.verdict << "\n" << Dump(events);
  EXPECT_EQ(std::filesystem::exists(marker), c.expect_ran) << Dump(events);
  auto actions = OfType(events, "rollback.action");
  auto skipped = OfType(events, "rollback.skipped");
  if (c.expect_ran) {
    ASSERT_EQ(actions.size(), c.failing_action ? 2u : 1u) << Dump(events);
    EXPECT_EQ(actions[0].data["name"], "mark");
    EXPECT_TRUE(actions[0].data["ok"]);
    EXPECT_TRUE(skipped.empty());
    // Rollback comes after every fault is reverted.
    auto last_revert = OfType(events, "fault.reverted").back();
    EXPECT_GT(actions[0].seq, last_revert.seq);
  } else {
    EXPECT_TRUE(actions.empty()) << Dump(events);
    ASSERT_EQ(skipped.size(), 1u) << Dump(events);
  }
  if (c.failing_action) {
    EXPECT_EQ(actions[1].data["name"], "rollback[1]");
    EXPECT_FALSE(actions[1].data["ok"]);
    EXPECT_NE(outcome.verdict.find("rollback failed: rollback[1]"), std::string::npos)
        << outcome.verdict;
  }
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
}

INSTANTIATE_TEST_SUITE_P(
    Policies, RollbackTest,
    ::testing::Values(
        RollbackCase{"always-passed", RollbackPolicy::kAlways, false, false, false, true, 0},
        RollbackCase{"on-deviation-passed", RollbackPolicy::kOnDeviation, false, false, false,
                     false, 0},
        RollbackCase{"on-deviation-deviated", RollbackPolicy::kOnDeviation, true, false, false,
                     true, 1},
        RollbackCase{"never-for-kills-killed", RollbackPolicy::kNeverForKills, false, true, false,
                     false, 0},
        RollbackCase{"never-for-kills-no-kill", RollbackPolicy::kNeverForKills, false, false,
                     false, true, 0},
        RollbackCase{"always-failing-action", RollbackPolicy::kAlways, false, false, true, true,
                     1}),
    [](const ::testing::TestParamInfo<RollbackCase>& info) {
      std::string name = info.param.name;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

}  // namespace
}  // namespace faultline::testing
