// Drills and the review sections: metadata.hypothesis/roles, notify, alerts,
// expect (both kinds), kind: Drill with timeline and speed, the method built
// from a timeline (BuildDrillMethod), ParseSpeed and the
// standalone alert-source check.
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/units.h"
#include "controller/spec/drill.h"
#include "controller/spec/experiment.h"
#include "controller/spec/spec_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Five lines: the first timeline entry is on line 5 at column 5; `rest`
// follows from line 6.
std::string Drill(const std::string& rest) {
  return absl::StrCat(R"(apiVersion: faultline/v1
kind: Drill
metadata: {name: t}
timeline:
  - {at: 0s, fault: cpu.pressure, params: {load: 5}, duration: 1s}
)",
                      rest);
}

// An experiment with one wait step (lines 1-5); `rest` follows from line 6.
std::string Exp(const std::string& rest) { return absl::StrCat(kHead, "  - wait: 1s\n", rest); }

constexpr char kProbe[] = "steady_state: [{name: health, tcp: {address: \"127.0.0.1:1\"}}]\n";

std::vector<BadCase> BadCases() {
  return {
      // --- timeline -----------------------------------------------------------------
      {"TimelineEmpty",
       "apiVersion: faultline/v1\nkind: Drill\nmetadata: {name: t}\ntimeline: []\n",
       {"x.yaml:4:11: timeline must list at least one fault"}},
      {"TimelineNotASequence",
       "apiVersion: faultline/v1\nkind: Drill\nmetadata: {name: t}\ntimeline: {at: 0s}\n",
       {"x.yaml:4:11: timeline: expected a sequence, got a mapping"}},
      {"TimelineEntryProblems",
       Drill("  - {fault: cpu.pressure, params: {load: 5}, duration: 1s}\n"
             "  - {at: 25h, fault: cpu.pressure, params: {load: 5}, duration: 1s}\n"
             "  - {at: soon, at: 1s, fault: cpu.pressure, params: {load: 5}, duration: 1s}\n"
             "  - {at: 1s, wait: 5s}\n"
             "  - {at: 1s, duration: 5s}\n"
             "  - {at: 1s, fault: cpu.pressure, params: {load: 0}, duration: 1s, dureation: 1s}\n"
             "  - 5\n"),
       {"x.yaml:6:5: missing required field \"at\" in timeline entry (when the fault starts, from "
        "the start of the drill: at: 2m30s)",
        "x.yaml:7:10: at must be a duration of at least 0s and at most 24h, got 25h",
        "x.yaml:8:10: at must be a duration such as 500ms, 30s or 5m, got \"soon\"",
        "x.yaml:8:16: duplicate field \"at\" in timeline entry (first at 8:6)",
        "x.yaml:9:14: \"wait\" is not allowed in a timeline: each entry is one fault started at "
        "its offset (at:)",
        "x.yaml:10:5: missing required field \"fault\" in timeline entry (the fault kind, e.g. "
        "fault: process.kill)",
        "x.yaml:11:50: cpu.pressure: load must be an integer 1..100, got 0",
        "x.yaml:11:68: unknown field \"dureation\" in cpu.pressure step (did you mean "
        "\"duration\"?)",
        "x.yaml:12:5: timeline[7]: expected a mapping, got 5"}},
      {"TimelineTargetsAsInMethod",
       Drill("  - {at: 1s, fault: cpu.pressure, target: nope, params: {load: 5}, duration: 1s}\n"
             "targets: {db: {agents: [\"h:1\"]}}\n"),
       {"x.yaml:5:5: missing required field \"target\" in cpu.pressure step (known: db)",
        "x.yaml:6:43: unknown target \"nope\" (known: db)"}},
      {"DrillNeedsTimeline",
       "apiVersion: faultline/v1\nkind: Drill\nmetadata: {name: t}\n",
       {"x.yaml:1:1: missing required field \"timeline\" in drill (its faults at their offsets: "
        "timeline: [{at: 0s, fault: ...}])"}},
      {"SpeedOutOfRange",
       Drill("speed: 0x\n"),
       {"x.yaml:6:8: speed must be a number greater than 0 and at most 1000, optionally followed "
        "by x (10x, 0.5x), got \"0x\""}},
      {"SpeedNotANumber",
       Drill("speed: fast\n"),
       {"x.yaml:6:8: speed must be a number greater than 0 and at most 1000, optionally followed "
        "by x (10x, 0.5x), got \"fast\""}},
      {"SpeedTooHigh",
       Drill("speed: 1001\n"),
       {"x.yaml:6:8: speed must be a number greater than 0 and at most 1000, optionally followed "
        "by x (10x, 0.5x), got 1001"}},
      {"SpeedNotAScalar",
       Drill("speed: [10]\n"),
       {"x.yaml:6:8: speed must be a number greater than 0 and at most 1000, optionally followed "
        "by x (10x, 0.5x), got a sequence"}},
      {"SpeedAndTimelineInExperiment",
       Exp("speed: 10x\ntimeline: []\n"),
       {"x.yaml:6:1: speed is only for kind: Drill (it compresses a drill's timeline)",
        "x.yaml:7:1: timeline is only for kind: Drill (faults at offsets from the drill's start); "
        "an experiment lists its steps in method"}},
      {"DrillSeedRequiredForRandomTargets",
       "apiVersion: faultline/v1\nkind: Drill\nmetadata: {name: t}\ninventory: inv.yaml\n"
       "targets: {db: {select: {role: db}, count: 1}, web: {select: {}, percent: 50}, all: "
       "{select: {}}}\n"
       "timeline:\n  - {at: 0s, fault: cpu.pressure, target: [db, web, all], params: {load: 5}, "
       "duration: 1s}\n",
       {"x.yaml:5:11: target \"db\" picks count of its hosts at random: a drill must set seed "
        "(seed: 42) so that every replay hits the same hosts",
        "x.yaml:5:47: target \"web\" picks percent of its hosts at random: a drill must set seed "
        "(seed: 42) so that every replay hits the same hosts"}},
      {"ScaledDurationsTooShort",
       Drill("  - {at: 1s, fault: process.pause, params: {name: x}, duration: 10s, flap: {on: "
             "100ms, off: 100ms}}\n"
             "  - {at: 1s, fault: process.kill, params: {name: x, interval: 1s}, duration: 10s}\n"
             "speed: 1000x\n"),
       {"x.yaml:6:5: timeline[1]: flap.on 100ms at speed 1000x is 0s, below 1ms",
        "x.yaml:6:5: timeline[1]: flap.off 100ms at speed 1000x is 0s, below 1ms",
        "x.yaml:7:5: timeline[2]: process.kill interval 1s at speed 1000x is 1ms, below 100ms"}},
      // --- metadata -------------------------------------------------------------------
      {"RolesAndHypothesis",
       "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: t, hypothesis: [x], roles: "
       "{Incident Commander: a, scribe: [b], observers: c, scribe: d}}\nmethod: [{wait: 1s}]\n",
       {"x.yaml:3:33: metadata.hypothesis must be a string, got a sequence",
        "x.yaml:3:46: metadata.roles: role \"Incident Commander\" must be 1..63 lowercase letters, "
        "digits, '_' and '-' (incident_commander, scribe, observers)",
        "x.yaml:3:77: metadata.roles.scribe must be a string, got a sequence",
        "x.yaml:3:96: duplicate field \"scribe\" in metadata.roles (first at 3:69)"}},
      {"RolesNotAMapping",
       "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: t, roles: alice}\nmethod: "
       "[{wait: 1s}]\n",
       {"x.yaml:3:28: metadata.roles: expected a mapping, got \"alice\""}},
      // --- notify / alerts ----------------------------------------------------------
      {"NotifyBadUrls",
       Exp("notify: {webhook: \"ftp://chat/x\"}\n"),
       {"x.yaml:6:19: notify.webhook must be an http:// or https:// URL that names a host, got "
        "\"ftp://chat/x\""}},
      {"NotifyNoHost",
       Exp("notify: {webhook: \"https:///hook\"}\n"),
       {"x.yaml:6:19: notify.webhook must be an http:// or https:// URL that names a host, got "
        "\"https:///hook\""}},
      {"NotifyUnknownKey",
       Exp("notify: {webhok: \"http://h/\"}\n"),
       {"x.yaml:6:9: missing required field \"webhook\" in notify",
        "x.yaml:6:10: unknown field \"webhok\" in notify (did you mean \"webhook\"?)"}},
      {"NotifyNotAMapping",
       Exp("notify: \"http://h/\"\n"),
       {"x.yaml:6:9: notify: expected a mapping, got \"http://h/\""}},
      {"AlertsProblems",
       Exp("alerts: {alertmanager: \"127.0.0.1:9093\", poll: 50ms, pol: 1s}\n"),
       {"x.yaml:6:24: alerts.alertmanager must be an http:// or https:// URL that names a host, "
        "got \"127.0.0.1:9093\"",
        "x.yaml:6:48: alerts.poll must be a duration of at least 100ms and at most 1m, got 50ms",
        "x.yaml:6:54: unknown field \"pol\" in alerts (did you mean \"poll\"?)"}},
      {"AlertsPollTooLong",
       Exp("alerts: {alertmanager: \"http://127.0.0.1:9093\", poll: 2m}\n"),
       {"x.yaml:6:55: alerts.poll must be a duration of at least 100ms and at most 1m, got 2m"}},
      // --- expect --------------------------------------------------------------------
      {"ExpectNotASequence",
       Exp("expect: {detect: {alert: A, within: 1m}}\n"),
       {"x.yaml:6:9: expect: expected a sequence, got a mapping"}},
      {"ExpectEmpty",
       Exp("expect: []\n"),
       {"x.yaml:6:9: expect must list at least one expectation (omit expect when there is none)"}},
      {"ExpectEntryShapes",
       Exp(absl::StrCat(kProbe,
                        "expect:\n  - {detect: {alert: A, within: 1m}, recover: {probe: health, "
                        "within: 1m}}\n  - {detcet: {alert: A, within: 1m}}\n  - {}\n  - 5\n  - "
                        "detect: 5\n")),
       {"x.yaml:8:38: expect[0] has both detect and recover; write each expectation as its own "
        "list entry",
        "x.yaml:9:6: unknown field \"detcet\" in expect[1] (did you mean \"detect\"?)",
        "x.yaml:10:5: expect[2] needs detect or recover (- detect: {alert: NAME, within: 5m})",
        "x.yaml:11:5: expect[3]: expected a mapping, got 5",
        "x.yaml:12:13: detect: expected a mapping, got 5"}},
      {"DetectProblems",
       Exp("expect:\n  - detect: {alert: \"db latency\", within: 0s, labels: {\"a-b\": x, "
           "severity: [page]}, lables: {}}\n  - detect: {}\n"),
       {"x.yaml:7:21: detect: alert must be a Prometheus alert name (letters, digits, '_' and ':', "
        "not starting with a digit), got \"db latency\"",
        "x.yaml:7:43: detect: within must be a duration greater than 0 and at most 24h, got 0s",
        "x.yaml:7:56: detect: labels: \"a-b\" must be a Prometheus label name (letters, digits and "
        "'_', not starting with a digit)",
        "x.yaml:7:76: detect: labels.severity must be a string, got a sequence",
        "x.yaml:7:85: unknown field \"lables\" in detect (did you mean \"labels\"?)",
        "x.yaml:8:13: missing required field \"alert\" in detect",
        "x.yaml:8:13: missing required field \"within\" in detect"}},
      {"RecoverProblems",
       Exp(absl::StrCat(kProbe,
                        "expect:\n  - recover: {probe: helth, within: 25h, from: end}\n"
                        "  - recover: {within: 1m}\n")),
       {"x.yaml:8:22: recover: probe \"helth\" is not a steady_state probe (known: health)",
        "x.yaml:8:37: recover: within must be a duration greater than 0 and at most 24h, got 25h",
        "x.yaml:8:48: recover: from must be last-revert or first-fault, got \"end\"",
        "x.yaml:9:14: missing required field \"probe\" in recover"}},
      {"RecoverWithoutProbes",
       Exp("expect: [{recover: {probe: health, within: 1m}}]\n"),
       {"x.yaml:6:28: recover: probe \"health\" is not a steady_state probe (none are defined; add "
        "the probe to steady_state)"}},
      {"DuplicateExpectations",
       Exp(absl::StrCat(kProbe,
                        "expect:\n  - detect: {alert: A, within: 1m}\n  - detect: {alert: A, "
                        "within: 2m}\n  - detect: {alert: A, within: 2m, labels: {s: x}}\n  - "
                        "recover: {probe: health, within: 1m}\n  - recover: {probe: health, "
                        "within: 1m, from: first-fault}\n")),
       {"x.yaml:9:13: expect lists detect of alert \"A\" with the same labels more than once "
        "(first at 8:13)",
        "x.yaml:12:14: expect lists recover of probe \"health\" more than once (first at 11:14)"}},
  };
}

class DrillBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(DrillBadInputTest, ReportsExactDiagnostics) {
  const BadCase& c = GetParam();
  EXPECT_THAT(Problems(c.yaml), ::testing::ElementsAreArray(c.expected)) << c.yaml;
}

INSTANTIATE_TEST_SUITE_P(Drills, DrillBadInputTest, ::testing::ValuesIn(BadCases()), CaseName);

constexpr char kFullDrill[] = R"(apiVersion: faultline/v1
kind: Drill
metadata:
  name: checkout-db-latency-2026-03
  hypothesis: "DatabaseLatencyHigh fires within 1m"
  roles: {incident_commander: alice, scribe: bob, observers: "carol, dan"}
seed: 42
speed: 10x
notify: {webhook: "https://chat.example/hooks/abc?x=1"}
alerts: {alertmanager: "http://127.0.0.1:9093", poll: 500ms}
targets:
  db: {agents: ["127.0.0.1:7001"]}
  worker: {agents: ["127.0.0.1:7002"]}
steady_state:
  - {name: health, tcp: {address: "127.0.0.1:8080"}}
timeline:
  - at: 0s
    fault: process.pause
    target: db
    params: {name: postgres}
    duration: 2m
    flap: {on: 10s, off: 20s}
  - at: 2m30.25s
    fault: process.kill
    target: worker
    params: {name: worker, signal: KILL, interval: 20s}
    duration: 1m
  - at: 3m
    fault: cpu.pressure
    target: [db, worker]
    params: {workers: 1}
    duration: 1m
    ramp: {from: 10, to: 90, steps: 3}
expect:
  - detect: {alert: DatabaseLatencyHigh, within: 5m, labels: {severity: page}}
  - recover: {probe: health, within: 2m}
  - recover: {probe: health2, within: 1m, from: first-fault}
)";

std::string FullDrill() {
  // A second probe so that both `from` values can be shown.
  std::string yaml = kFullDrill;
  const std::string probe = "  - {name: health, tcp: {address: \"127.0.0.1:8080\"}}\n";
  yaml.replace(yaml.find(probe), probe.size(),
               absl::StrCat(probe, "  - {name: health2, tcp: {address: \"127.0.0.1:8081\"}}\n"));
  return yaml;
}

TEST(DrillSpecTest, ReadsEverySectionOfADrill) {
  const Experiment e = MustParse(FullDrill());
  EXPECT_EQ(e.kind, "Drill");
  EXPECT_EQ(e.hypothesis, "DatabaseLatencyHigh fires within 1m");
  EXPECT_THAT(e.roles, ElementsAre(Pair("incident_commander", "alice"),
                                   Pair("observers", "carol, dan"), Pair("scribe", "bob")));
  ASSERT_TRUE(e.notify.has_value());
  EXPECT_EQ(e.notify->webhook, "https://chat.example/hooks/abc?x=1");
  EXPECT_EQ(e.alerts.alertmanager, "http://127.0.0.1:9093");
  EXPECT_EQ(e.alerts.poll, milliseconds(500));
  EXPECT_EQ(e.speed, 10);
  ASSERT_EQ(e.timeline.size(), 3u);
  EXPECT_EQ(e.timeline[0].at, milliseconds(0));
  EXPECT_EQ(e.timeline[1].at, milliseconds(150250));
  EXPECT_EQ(e.timeline[1].where.line, 24);
  // Timeline steps keep the values as written.
  EXPECT_EQ(e.timeline[0].step.duration, std::chrono::minutes(2));
  EXPECT_EQ(e.timeline[1].step.spec.process_kill().interval_ms(), 20000u);
  EXPECT_EQ(e.timeline[2].step.targets, (std::vector<std::string>{"db", "worker"}));
  ASSERT_EQ(e.expect_detect.size(), 1u);
  EXPECT_EQ(e.expect_detect[0].alert, "DatabaseLatencyHigh");
  EXPECT_EQ(e.expect_detect[0].within, std::chrono::minutes(5));
  EXPECT_THAT(e.expect_detect[0].labels, ElementsAre(Pair("severity", "page")));
  ASSERT_EQ(e.expect_recover.size(), 2u);
  EXPECT_EQ(e.expect_recover[0].probe, "health");
  EXPECT_EQ(e.expect_recover[0].from, RecoverFrom::kLastRevert);
  EXPECT_EQ(e.expect_recover[1].from, RecoverFrom::kFirstFault);
  EXPECT_STREQ(RecoverFromName(e.expect_recover[1].from), "first-fault");
}

TEST(DrillSpecTest, MethodIsTheTimelineCompressedBySpeed) {
  const Experiment e = MustParse(FullDrill());
  ASSERT_EQ(e.method.size(), 1u);
  const Step& timeline = e.method[0];
  EXPECT_EQ(timeline.kind, StepKind::kParallel);
  EXPECT_EQ(timeline.label, "timeline (3 faults at 10x)");
  ASSERT_EQ(timeline.steps.size(), 3u);

  // at 0s: no wait, the fault and its flap at a tenth.
  const Step& first = timeline.steps[0];
  EXPECT_EQ(first.kind, StepKind::kSerial);
  EXPECT_EQ(first.label, "at 0s: process.pause on db");
  ASSERT_EQ(first.steps.size(), 1u);
  EXPECT_EQ(first.steps[0].duration, seconds(12));
  EXPECT_EQ(first.steps[0].label, "process.pause on db at 0s (10x)");
  ASSERT_TRUE(first.steps[0].flap.has_value());
  EXPECT_EQ(first.steps[0].flap->on, seconds(1));
  EXPECT_EQ(first.steps[0].flap->off, seconds(2));

  // at 2m30.25s: wait 15.025s, then the kill whose repeat interval shrinks too.
  const Step& second = timeline.steps[1];
  EXPECT_EQ(second.label, "at 2m30.25s: process.kill on worker");
  ASSERT_EQ(second.steps.size(), 2u);
  EXPECT_EQ(second.steps[0].kind, StepKind::kWait);
  EXPECT_EQ(second.steps[0].duration, milliseconds(15025));
  EXPECT_EQ(second.steps[0].label, "wait until 2m30.25s (15.025s at 10x)");
  EXPECT_EQ(second.steps[1].duration, seconds(6));
  EXPECT_EQ(second.steps[1].spec.process_kill().interval_ms(), 2000u);
  EXPECT_THAT(second.steps[1].params_summary, HasSubstr("interval=2s"));
  EXPECT_THAT(second.steps[1].params_summary, ::testing::Not(HasSubstr("interval=20s")));

  // The ramp keeps its slices (one spec each) over the shorter duration.
  const Step& third = timeline.steps[2].steps[1];
  EXPECT_EQ(third.duration, seconds(6));
  ASSERT_TRUE(third.ramp.has_value());
  EXPECT_EQ(third.ramp->specs.size(), 3u);
  EXPECT_EQ(third.targets, (std::vector<std::string>{"db", "worker"}));
}

TEST(DrillSpecTest, BuildDrillMethodAgainAtAnotherSpeed) {
  Experiment e = MustParse(FullDrill());
  e.speed = 1;
  ASSERT_TRUE(BuildDrillMethod(&e).ok());
  const Step& second = e.method[0].steps[1];
  EXPECT_EQ(e.method[0].label, "timeline (3 faults)");
  EXPECT_EQ(second.steps[0].duration, milliseconds(150250));
  EXPECT_EQ(second.steps[0].label, "wait until 2m30.25s");
  EXPECT_EQ(second.steps[1].label, "process.kill on worker at 2m30.25s");
  EXPECT_EQ(second.steps[1].spec.process_kill().interval_ms(), 20000u);
  EXPECT_THAT(second.steps[1].params_summary, HasSubstr("interval=20s"));

  e.speed = 1000;
  const absl::Status status = BuildDrillMethod(&e);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("x.yaml:24:5: timeline[1]: process.kill interval 20s at speed 1000x is "
                        "20ms, below 100ms"));
  EXPECT_TRUE(e.method.empty());

  e.speed = 0;
  EXPECT_EQ(BuildDrillMethod(&e).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DrillSpecTest, ExperimentsTakeTheReviewSectionsToo) {
  const Experiment e = MustParse(Exp(absl::StrCat(
      kProbe,
      "notify: {webhook: \"http://127.0.0.1:9000/hook\"}\nalerts: {}\nexpect:\n  - detect: "
      "{alert: \"Worker:Down_1\", within: 30s}\n  - recover: {probe: health, within: 1m}\n")));
  EXPECT_EQ(e.kind, "Experiment");
  EXPECT_TRUE(e.timeline.empty());
  EXPECT_EQ(e.speed, 1);
  EXPECT_EQ(e.alerts.alertmanager, "");
  EXPECT_EQ(e.alerts.poll, seconds(1));
  ASSERT_EQ(e.expect_detect.size(), 1u);
  EXPECT_EQ(e.expect_detect[0].alert, "Worker:Down_1");
  EXPECT_EQ(e.expect_recover[0].from, RecoverFrom::kLastRevert);
  ASSERT_EQ(e.method.size(), 1u);
  EXPECT_EQ(e.method[0].kind, StepKind::kWait);
}

TEST(DrillSpecTest, StandaloneRunsNeedAnAlertmanagerForDetect) {
  Experiment e = MustParse(Exp("expect: [{detect: {alert: A, within: 1m}}]\n"));
  const absl::Status status = CheckStandaloneAlertSource(e);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "x.yaml:6:19: expect: detect of alert \"A\" needs alerts.alertmanager (an "
            "Alertmanager URL) when run with faultline run; only faultline serve receives alerts "
            "by webhook");
  e.alerts.alertmanager = "http://127.0.0.1:9093";
  EXPECT_TRUE(CheckStandaloneAlertSource(e).ok());
  EXPECT_TRUE(CheckStandaloneAlertSource(MustParse(Exp(""))).ok());
}

TEST(DrillSpecTest, SeededDrillsMayPickHostsAtRandom) {
  const Experiment e = MustParse(
      "apiVersion: faultline/v1\nkind: Drill\nmetadata: {name: t}\ninventory: inv.yaml\nseed: "
      "7\ntargets: {db: {select: {role: db}, count: 1}}\ntimeline:\n  - {at: 0s, fault: "
      "cpu.pressure, target: db, params: {load: 5}, duration: 1s}\n");
  EXPECT_EQ(e.seed, 7u);
}

TEST(ParseSpeedTest, AcceptsFactorsWithOrWithoutX) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, double>>{
           {"10x", 10}, {"0.5x", 0.5}, {"10", 10}, {"2.5X", 2.5}, {" 3x ", 3}, {"1000", 1000}}) {
    absl::StatusOr<double> v = ParseSpeed(text);
    ASSERT_TRUE(v.ok()) << text << ": " << v.status();
    EXPECT_EQ(*v, want) << text;
    EXPECT_EQ(*ParseSpeed(FormatSpeed(*v)), *v);
  }
  for (const std::string text :
       {"0", "0x", "1001x", "-1x", "fast", "x", "", "nanx", "inf", "10xx"}) {
    absl::StatusOr<double> v = ParseSpeed(text);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  EXPECT_EQ(ParseSpeed("fast").status().message(),
            "speed must be a number greater than 0 and at most 1000, optionally followed by x "
            "(10x, 0.5x), got \"fast\"");
  EXPECT_EQ(FormatSpeed(10), "10x");
  EXPECT_EQ(FormatSpeed(0.5), "0.5x");
}

}  // namespace
}  // namespace faultline::controller
