// drill-from: a synthetic journal (events as the Runner writes them) -> a
// Drill that ParseExperiment accepts and that has the same hosts, offsets,
// parameters and seed.
#include "controller/drill/drill_from.h"

#include <chrono>
#include <string>
#include <vector>

#include "controller/spec/experiment.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr int64_t kT0 = 1795000000000;  // method start (unix ms)

constexpr char kSourceExperiment[] = R"(apiVersion: faultline/v1
kind: Experiment
metadata:
  name: checkout-db
  owner: payments
  hypothesis: "checkout stays up"
  roles: {incident_commander: alice}
inventory: inventory.yaml
seed: 42
targets:
  db: {select: {role: db}, count: 1}
  web: {select: {role: web}, percent: 50}
steady_state:
  - {name: health, http: {url: "http://127.0.0.1:8080/health", json: [{field: n, value: "5"}]}}
expect:
  - recover: {probe: health, within: 2m}
alerts: {alertmanager: "http://127.0.0.1:9093"}
notify: {webhook: "http://127.0.0.1:9000/hook"}
method:
  - {fault: network.delay, target: db, params: {interface: eth0, delay: 200ms, ports: [5432]}, duration: 5m}
  - {wait: 30s}
  - parallel:
      - {fault: cpu.pressure, target: [db, web], params: {workers: 1}, duration: 2m, ramp: {from: 10, to: 90, steps: 3}}
      - {fault: process.kill, target: web, params: {name: worker, signal: KILL, interval: 20s}, duration: 1m}
)";

Event At(int64_t offset_ms, const std::string& type, nlohmann::json data) {
  Event e;
  e.run_id = "20261127-120000-checkout-db-ab12";
  e.unix_ms = kT0 + offset_ms;
  e.type = type;
  e.data = std::move(data);
  return e;
}

nlohmann::json Applied(const std::string& path, const std::string& target,
                       const std::string& agent) {
  return {{"fault_id", "x"},  {"kind", "k"},
          {"agent", agent},   {"step", path},
          {"path", path},     {"target", target},
          {"engine", "e"},    {"params", nlohmann::json::object()},
          {"duration_ms", 1}, {"resolved", "r"}};
}

RunRecord SourceRun(const std::string& source) {
  RunRecord run;
  run.run_id = "20261127-120000-checkout-db-ab12";
  run.experiment = "checkout-db";
  run.source_text = source;
  run.started_unix_ms = kT0 - 5000;
  run.status = RunStatus::kPassed;
  return run;
}

std::vector<Event> ExperimentJournal() {
  return {
      At(-4000, "run.started",
         {{"experiment", "checkout-db"}, {"targets", {{"db", {"db-1"}}, {"web", {"web-2"}}}}}),
      At(-3990, "plan",
         {{"seed", 42u},
          {"hosts",
           {{{"name", "db-1"}, {"address", "10.0.0.1:7420"}},
            {{"name", "web-2"}, {"address", "10.0.0.12:7420"}}}}}),
      At(0, "step.started", {{"path", "1"}}),
      At(12, "fault.applied", Applied("1", "db", "db-1")),
      At(30020, "step.started", {{"path", "3"}}),
      At(30031, "fault.applied", Applied("3.1", "db", "db-1")),
      At(30035, "fault.applied", Applied("3.1", "web", "web-2")),
      At(30040, "fault.applied", Applied("3.2", "web", "web-2")),
      At(70031, "fault.applied", Applied("3.1", "db", "db-1")),  // ramp phase 1
  };
}

Experiment MustParse(const std::string& yaml) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> e = ParseExperiment(yaml, "replay.yaml", &diagnostics);
  EXPECT_TRUE(e.ok()) << e.status() << "\n" << yaml;
  return e.ok() ? *e : Experiment{};
}

TEST(DrillFromTest, ReplaysAnExperimentRunOnTheSameHostsAtTheSameOffsets) {
  absl::StatusOr<std::string> yaml =
      DrillFromRun(SourceRun(kSourceExperiment), ExperimentJournal());
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  const Experiment drill = MustParse(*yaml);
  const Experiment source = MustParse(kSourceExperiment);
  EXPECT_EQ(drill.kind, "Drill");
  EXPECT_EQ(drill.name, "checkout-db-replay");
  EXPECT_THAT(drill.description, HasSubstr("20261127-120000-checkout-db-ab12"));
  EXPECT_EQ(drill.owner, "payments");
  EXPECT_EQ(drill.hypothesis, "checkout stays up");
  EXPECT_THAT(drill.roles, ElementsAre(Pair("incident_commander", "alice")));
  EXPECT_EQ(drill.seed, 42u);
  EXPECT_EQ(drill.speed, 1);
  EXPECT_TRUE(drill.inventory_path.empty());
  ASSERT_EQ(drill.targets.size(), 2u);
  EXPECT_THAT(drill.targets.at("db").agents, ElementsAre("10.0.0.1:7420"));
  EXPECT_THAT(drill.targets.at("web").agents, ElementsAre("10.0.0.12:7420"));
  EXPECT_THAT(*yaml, HasSubstr("# db-1"));

  ASSERT_EQ(drill.timeline.size(), 3u);
  EXPECT_EQ(drill.timeline[0].at, milliseconds(12));
  EXPECT_EQ(drill.timeline[1].at, milliseconds(30031));
  EXPECT_EQ(drill.timeline[2].at, milliseconds(30040));
  const Step& delay = source.method[0];
  const Step& cpu = source.method[2].steps[0];
  const Step& kill = source.method[2].steps[1];
  const Step* want[] = {&delay, &cpu, &kill};
  for (int i = 0; i < 3; ++i) {
    const Step& got = drill.timeline[i].step;
    EXPECT_EQ(got.fault_kind, want[i]->fault_kind) << i;
    EXPECT_EQ(got.spec.SerializeAsString(), want[i]->spec.SerializeAsString()) << i;
    EXPECT_EQ(got.duration, want[i]->duration) << i;
    EXPECT_EQ(got.params_summary, want[i]->params_summary) << i;
  }
  EXPECT_EQ(drill.timeline[1].step.targets, (std::vector<std::string>{"db", "web"}));
  ASSERT_TRUE(drill.timeline[1].step.ramp.has_value());
  EXPECT_EQ(drill.timeline[1].step.ramp->specs.size(), 3u);
  EXPECT_EQ(drill.timeline[2].step.targets, (std::vector<std::string>{"web"}));

  // Copied as written, quotes included: "5" stays a string.
  ASSERT_EQ(drill.steady_state.size(), 1u);
  ASSERT_EQ(drill.steady_state[0].json.size(), 1u);
  EXPECT_FALSE(drill.steady_state[0].json[0].is_number);
  EXPECT_EQ(drill.steady_state[0].json[0].text, "5");
  ASSERT_EQ(drill.expect_recover.size(), 1u);
  EXPECT_EQ(drill.alerts.alertmanager, "http://127.0.0.1:9093");
  ASSERT_TRUE(drill.notify.has_value());
}

constexpr char kSourceDrill[] = R"(apiVersion: faultline/v1
kind: Drill
metadata: {name: checkout-db-latency-2026-03-with-a-rather-long-name-that-fills}
speed: 10x
timeline:
  - {at: 0s, fault: process.pause, params: {name: postgres}, duration: 2m, flap: {on: 10s, off: 20s}}
  - {at: 2m30.25s, fault: process.kill, params: {name: worker, interval: 20s}, duration: 1m}
)";

TEST(DrillFromTest, ReplaysADrillInItsOwnTimeBase) {
  const std::vector<Event> events = {
      At(-10, "run.started", {{"experiment", "x"}, {"speed", 10}}),
      At(-5, "plan",
         {{"seed", 7u},
          {"hosts", {{{"name", "local"}, {"address", "unix:/x"}}}},
          {"faults",
           {{{"path", "1.1.1"}, {"offset_ms", 0}}, {{"path", "1.2.2"}, {"offset_ms", 15025}}}}}),
      At(0, "step.started", {{"path", "1"}}),
      At(3, "fault.applied", Applied("1.1.1", "local", "local")),
      At(15028, "fault.applied", Applied("1.2.2", "local", "local")),
  };
  RunRecord run = SourceRun(kSourceDrill);
  run.experiment = "checkout-db-latency-2026-03-with-a-rather-long-name-that-fills";
  absl::StatusOr<std::string> yaml = DrillFromRun(run, events);
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  const Experiment drill = MustParse(*yaml);
  const Experiment source = MustParse(kSourceDrill);
  EXPECT_EQ(drill.name, "checkout-db-latency-2026-03-with-a-rather-long-name-that-replay");
  EXPECT_EQ(drill.speed, 10);
  EXPECT_EQ(drill.seed, 7u);
  EXPECT_TRUE(drill.targets.empty());  // the embedded agent, as in the source run
  ASSERT_EQ(drill.timeline.size(), 2u);
  // Anchored at the first fault's planned offset (0s, not the 3 ms it took
  // to apply), spaced as applied: 15.025 s at 10x.
  EXPECT_EQ(drill.timeline[0].at, milliseconds(0));
  EXPECT_EQ(drill.timeline[1].at, milliseconds(150250));
  EXPECT_THAT(*yaml, HasSubstr("at: 2m30.25s"));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(drill.timeline[i].step.spec.SerializeAsString(),
              source.timeline[i].step.spec.SerializeAsString());
    EXPECT_EQ(drill.timeline[i].step.duration, source.timeline[i].step.duration);
  }
  ASSERT_TRUE(drill.timeline[0].step.flap.has_value());
  EXPECT_EQ(drill.timeline[0].step.flap->off, std::chrono::seconds(20));
  // The built method runs at the same wall-clock pace as the source's.
  EXPECT_EQ(drill.method[0].steps[1].steps[0].duration, milliseconds(15025));
  EXPECT_EQ(drill.method[0].steps[1].steps[1].duration,
            source.method[0].steps[1].steps[1].duration);
}

TEST(DrillFromTest, RefusesRunsThatAppliedNoFault) {
  RunRecord run = SourceRun(kSourceExperiment);
  run.dry_run = true;
  const std::vector<Event> events = {At(0, "step.started", {{"path", "1"}}),
                                     At(1, "fault.validated", Applied("1", "db", "db-1"))};
  absl::StatusOr<std::string> yaml = DrillFromRun(run, events);
  EXPECT_EQ(yaml.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(yaml.status().message(),
            "run 20261127-120000-checkout-db-ab12 applied no fault (a dry run); there is nothing "
            "to replay");
}

TEST(DrillFromTest, ReportsAJournalThatDoesNotMatchItsExperiment) {
  std::vector<Event> events = ExperimentJournal();
  events.push_back(At(90000, "fault.applied", Applied("4.1", "db", "db-1")));
  absl::StatusOr<std::string> yaml = DrillFromRun(SourceRun(kSourceExperiment), events);
  EXPECT_EQ(yaml.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(yaml.status().message()), HasSubstr("step 4.1 is not in the experiment"));
  EXPECT_EQ(DrillFromRun(SourceRun("a: [b"), ExperimentJournal()).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace faultline::controller
