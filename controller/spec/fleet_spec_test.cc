// Experiment keys for fleets: inventory, seed, max_targets, metadata.labels
// and targets (explicit agents, label selection, blast radius). The whole
// issue-4 example is parsed here too.
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/spec/experiment.h"
#include "controller/spec/spec_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// The YAML surface of issue 4 (the network step names an interface, which
// network.delay needs).
constexpr char kGameDay[] = R"yaml(apiVersion: faultline/v1
kind: Experiment
metadata: {name: game-day, owner: sre, labels: {team: payments}}
inventory: fleet.yaml
seed: 42
max_targets: 10
targets:
  web: {select: {role: web}, count: 2}
  db:  {select: {role: db, zone: a}, all: true}
  lab: {agents: ["unix:/run/fl/h0.sock"]}
  half: {select: {}, percent: 50}
steady_state:
  - name: health
    http: {url: "http://127.0.0.1:8080/health", status: 200, body_matches: "ok",
           json: [{field: status, op: "==", value: ok}], max_latency: 200ms}
    when: [before, during, after]
    interval: 2s
    failures: 2
  - name: errors
    prometheus: {server: "http://127.0.0.1:9090", query: 'sum(rate(x[1m]))', op: "<", value: 5}
  - name: script
    exec: {command: "./check.sh", exit_code: 0, output_matches: "OK"}
abort_when:
  - {probe: health, failures: 3}
rollback:
  policy: always
  actions:
    - {name: restart-web, exec: {command: "systemctl restart web"}, timeout: 30s}
    - {http: {url: "http://127.0.0.1:8080/reset", method: POST, body: "{}"}}
method:
  - fault: network.delay
    target: [web, db]
    params: {interface: eth0, delay: 50ms}
    duration: 60s
    ramp: {from: 50ms, to: 500ms, steps: 10}
  - pause: {message: "check dashboards", timeout: 10m, on_timeout: abort}
  - parallel:
      - {fault: cpu.pressure, target: web, params: {load: 50}, duration: 30s,
         flap: {on: 10s, off: 20s}}
      - {wait: 30s}
  - serial: [ {wait: 5s}, {fault: process.kill, target: db, params: {name: worker}, duration: 1s} ]
)yaml";

TEST(FleetSpecTest, IssueExampleParses) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> parsed =
      ParseExperiment(kGameDay, "experiments/game-day.yaml", &diagnostics);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Experiment& e = *parsed;
  EXPECT_THAT(e.labels, ElementsAre(Pair("team", "payments")));
  EXPECT_EQ(e.inventory_path, "experiments/fleet.yaml");
  EXPECT_EQ(e.seed, 42u);
  EXPECT_EQ(e.max_targets, 10);

  ASSERT_EQ(e.targets.size(), 4u);
  const Target& web = e.targets.at("web");
  EXPECT_TRUE(web.agents.empty());
  EXPECT_THAT(web.select, ElementsAre(Pair("role", "web")));
  EXPECT_EQ(web.radius, BlastRadius::kCount);
  EXPECT_EQ(web.count, 2);
  const Target& db = e.targets.at("db");
  EXPECT_THAT(db.select, UnorderedElementsAre(Pair("role", "db"), Pair("zone", "a")));
  EXPECT_EQ(db.radius, BlastRadius::kAll);
  const Target& lab = e.targets.at("lab");
  EXPECT_THAT(lab.agents, ElementsAre("unix:/run/fl/h0.sock"));
  EXPECT_TRUE(lab.select.empty());
  EXPECT_EQ(lab.radius, BlastRadius::kAll);
  const Target& half = e.targets.at("half");
  EXPECT_TRUE(half.select.empty());               // every inventory agent ...
  EXPECT_EQ(half.radius, BlastRadius::kPercent);  // ... narrowed to half
  EXPECT_EQ(half.percent, 50.0);
  EXPECT_EQ(half.where.line, 11);

  ASSERT_EQ(e.steady_state.size(), 3u);
  const Probe& health = e.steady_state[0];
  EXPECT_EQ(health.body_regex, "ok");
  ASSERT_EQ(health.json.size(), 1u);
  EXPECT_EQ(health.json[0].field, "status");
  EXPECT_EQ(health.json[0].op, Comparison::kEqual);
  EXPECT_FALSE(health.json[0].is_number);
  EXPECT_EQ(health.json[0].text, "ok");
  EXPECT_EQ(health.max_latency, milliseconds(200));
  EXPECT_TRUE(health.before && health.during && health.after);
  EXPECT_EQ(health.interval, seconds(2));
  EXPECT_EQ(health.failures, 2);
  const Probe& errors = e.steady_state[1];
  EXPECT_EQ(errors.kind, ProbeKind::kPrometheus);
  EXPECT_STREQ(ProbeKindName(errors.kind), "prometheus");
  EXPECT_EQ(errors.server, "http://127.0.0.1:9090");
  EXPECT_EQ(errors.query, "sum(rate(x[1m]))");
  EXPECT_EQ(errors.op, Comparison::kLess);
  EXPECT_EQ(errors.value, 5.0);
  EXPECT_TRUE(errors.before && !errors.during && errors.after);  // default when
  const Probe& script = e.steady_state[2];
  EXPECT_EQ(script.expect_exit, 0);
  EXPECT_EQ(script.output_regex, "OK");

  ASSERT_EQ(e.abort_when.size(), 1u);
  EXPECT_EQ(e.abort_when[0].probe, "health");
  EXPECT_EQ(e.abort_when[0].failures, 3);
  EXPECT_EQ(e.rollback_policy, RollbackPolicy::kAlways);
  ASSERT_EQ(e.rollback_actions.size(), 2u);
  EXPECT_EQ(e.rollback_actions[0].name, "restart-web");
  EXPECT_EQ(e.rollback_actions[1].name, "rollback[1]");

  ASSERT_EQ(e.method.size(), 4u);
  const Step& delay = e.method[0];
  EXPECT_EQ(delay.label, "network.delay on web, db");
  EXPECT_THAT(delay.targets, ElementsAre("web", "db"));
  EXPECT_EQ(delay.target, "web");
  ASSERT_TRUE(delay.ramp.has_value());
  EXPECT_EQ(delay.ramp->specs.size(), 10u);
  EXPECT_EQ(delay.ramp->specs.back().network_delay().delay_us(), 500'000u);
  EXPECT_EQ(delay.params_summary, "delay=50ms..500ms steps=10 interface=eth0");
  EXPECT_EQ(e.method[1].kind, StepKind::kPause);
  EXPECT_EQ(e.method[2].kind, StepKind::kParallel);
  ASSERT_EQ(e.method[2].steps.size(), 2u);
  ASSERT_TRUE(e.method[2].steps[0].flap.has_value());
  EXPECT_EQ(e.method[2].steps[0].flap->on, seconds(10));
  EXPECT_EQ(e.method[3].kind, StepKind::kSerial);
  EXPECT_EQ(e.method[3].steps[1].label, "process.kill on db");
}

TEST(FleetSpecTest, InventoryPathIsResolvedNextToTheExperiment) {
  auto resolved = [](const std::string& file, const std::string& inventory) {
    absl::StatusOr<Experiment> e = ParseExperiment(
        absl::StrCat(kHead, "  - wait: 1s\ninventory: \"", inventory, "\"\n"), file, nullptr);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? e->inventory_path : "";
  };
  EXPECT_EQ(resolved("x.yaml", "fleet.yaml"), "fleet.yaml");
  EXPECT_EQ(resolved("experiments/x.yaml", "fleet.yaml"), "experiments/fleet.yaml");
  EXPECT_EQ(resolved("experiments/x.yaml", "../inv/fleet.yaml"), "inv/fleet.yaml");
  EXPECT_EQ(resolved("/srv/exp/x.yaml", "./fleet.yaml"), "/srv/exp/fleet.yaml");
  EXPECT_EQ(resolved("experiments/x.yaml", "/etc/faultline/fleet.yaml"),
            "/etc/faultline/fleet.yaml");
}

TEST(FleetSpecTest, DefaultsWithoutFleetKeys) {
  const Experiment e = MustParse(WithStep("wait: 1s"));
  EXPECT_EQ(e.inventory_path, "");
  EXPECT_EQ(e.seed, std::nullopt);
  EXPECT_EQ(e.max_targets, 0);
  EXPECT_TRUE(e.labels.empty());
}

TEST(FleetSpecTest, LargestSeedAndQuotedLabelValues) {
  const Experiment e = MustParse(absl::StrCat(
      "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: t, labels: {tier: 1, "
      "\"app.kubernetes.io/name\": web, empty: \"\"}}\nmethod: [{wait: 1s}]\n"
      "seed: 18446744073709551615\n"));
  EXPECT_EQ(e.seed, UINT64_MAX);
  EXPECT_THAT(e.labels,
              UnorderedElementsAre(Pair("tier", "1"), Pair("app.kubernetes.io/name", "web"),
                                   Pair("empty", "")));
}

std::string WithTargets(const std::string& targets) {
  return absl::StrCat(kHead, "  - wait: 1s\ntargets:\n", targets);
}

std::vector<BadCase> BadCases() {
  return {
      // --- top level --------------------------------------------------------------
      {"InventoryEmpty",
       absl::StrCat(kHead, "  - wait: 1s\ninventory: \"\"\n"),
       {"x.yaml:6:12: inventory must be the path of an inventory file (relative to this file), "
        "got \"\""}},
      {"InventoryNotAString",
       absl::StrCat(kHead, "  - wait: 1s\ninventory: [a.yaml]\n"),
       {"x.yaml:6:12: inventory must be a string, got a sequence"}},
      {"SeedNegative",
       absl::StrCat(kHead, "  - wait: 1s\nseed: -1\n"),
       {"x.yaml:6:7: seed must be an integer 0..18446744073709551615, got -1"}},
      {"SeedTooLarge",
       absl::StrCat(kHead, "  - wait: 1s\nseed: 18446744073709551616\n"),
       {"x.yaml:6:7: seed must be an integer 0..18446744073709551615, got "
        "18446744073709551616"}},
      {"SeedNotAnInteger",
       absl::StrCat(kHead, "  - wait: 1s\nseed: 4.2\n"),
       {"x.yaml:6:7: seed must be an integer 0..18446744073709551615, got 4.2"}},
      {"MaxTargetsZero",
       absl::StrCat(kHead, "  - wait: 1s\nmax_targets: 0\n"),
       {"x.yaml:6:14: max_targets must be an integer of at least 1, got 0"}},
      {"MaxTargetsText",
       absl::StrCat(kHead, "  - wait: 1s\nmax_targets: ten\n"),
       {"x.yaml:6:14: max_targets must be an integer of at least 1, got \"ten\""}},
      // --- metadata.labels --------------------------------------------------------
      {"LabelsNotAMapping",
       "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: t, labels: [a]}\n"
       "method: [{wait: 1s}]\n",
       {"x.yaml:3:29: metadata.labels: expected a mapping, got a sequence"}},
      {"BadLabels",
       "apiVersion: faultline/v1\nkind: Experiment\nmetadata:\n  name: t\n  labels:\n"
       "    \"bad key\": x\n    -x: y\n    nested: {a: b}\n    none:\n    team: a\n"
       "    team: b\nmethod: [{wait: 1s}]\n",
       {"x.yaml:6:5: metadata.labels: label name \"bad key\" must be 1..63 letters, digits, "
        "'-', '_', '.' and '/', starting with a letter or digit",
        "x.yaml:7:5: metadata.labels: label name \"-x\" must be 1..63 letters, digits, '-', "
        "'_', '.' and '/', starting with a letter or digit",
        "x.yaml:8:13: metadata.labels.nested must be a string, got a mapping",
        "x.yaml:9:5: metadata.labels.none must be a string, got nothing",
        "x.yaml:11:5: duplicate field \"team\" in metadata.labels (first at 10:5)"}},
      // --- targets ----------------------------------------------------------------
      {"AgentsAndSelect",
       WithTargets("  db: {agents: [\"h:1\"], select: {role: db}}\n"),
       {"x.yaml:7:25: agents and select cannot be used together in target \"db\"; use one"}},
      {"TwoBlastRadii",
       WithTargets("  web: {select: {role: web}, count: 2, percent: 50, all: true}\n"),
       {"x.yaml:7:40: count, percent and all cannot be used together in target \"web\"; "
        "use one"}},
      {"CountZero",
       WithTargets("  web: {select: {role: web}, count: 0}\n"),
       {"x.yaml:7:37: target \"web\": count must be an integer of at least 1, got 0"}},
      {"PercentOutOfRange",
       WithTargets("  a: {select: {}, percent: 0}\n  b: {select: {}, percent: 101}\n"
                   "  c: {select: {}, percent: 5%}\n"),
       {"x.yaml:7:28: target \"a\": percent must be a number greater than 0 and at most 100, "
        "got 0",
        "x.yaml:8:28: target \"b\": percent must be a number greater than 0 and at most 100, "
        "got 101",
        "x.yaml:9:28: target \"c\": percent must be a number greater than 0 and at most 100, "
        "got \"5%\""}},
      {"AllFalseOrNotABool",
       WithTargets("  a: {select: {}, all: false}\n  b: {select: {}, all: yes please}\n"),
       {"x.yaml:7:24: target \"a\": all must be true (omit it, or use count or percent), got "
        "false",
        "x.yaml:8:24: target \"b\": all must be true or false, got \"yes please\""}},
      {"BlastRadiusNeedsSelect",
       WithTargets("  lab: {agents: [\"h:1\", \"h:2\"], count: 1}\n"),
       {"x.yaml:7:33: count needs select: a blast radius chooses among the inventory agents a "
        "selection matches, and target \"lab\" lists its agents"}},
      {"SeedInTarget",
       WithTargets("  web: {select: {role: web}, seed: 42}\n"),
       {"x.yaml:7:30: seed belongs at the top level of the experiment (seed: 42), not in "
        "target \"web\""}},
      {"SelectBadLabels",
       WithTargets("  web: {select: {Role: web, \"a b\": x, zone: [a]}}\n"),
       {"x.yaml:7:29: target \"web\": select: label name \"a b\" must be 1..63 letters, "
        "digits, '-', '_', '.' and '/', starting with a letter or digit",
        "x.yaml:7:45: target \"web\": select.zone must be a string, got a sequence"}},
      {"SelectNotAMapping",
       WithTargets("  web: {select: role=web}\n"),
       {"x.yaml:7:17: target \"web\": select: expected a mapping, got \"role=web\""}},
      {"UnknownTargetField",
       WithTargets("  web: {select: {}, cuont: 2}\n"),
       {"x.yaml:7:21: unknown field \"cuont\" in target \"web\" (did you mean \"count\"?)"}},
  };
}

class FleetBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(FleetBadInputTest, ReportsExactDiagnostics) {
  const BadCase& c = GetParam();
  EXPECT_THAT(Problems(c.yaml), ::testing::ElementsAreArray(c.expected)) << c.yaml;
}

INSTANTIATE_TEST_SUITE_P(Fleet, FleetBadInputTest, ::testing::ValuesIn(BadCases()), CaseName);

}  // namespace
}  // namespace faultline::controller
