// Experiment keys that check the system: steady_state probes (http with body
// regex, json checks and max latency; exec with exit code and output regex;
// prometheus with comparisons; when/interval/failures), abort_when and
// rollback.
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

// Probes start on line 7, each entry at column 5.
std::string Probes(const std::string& steady_state) {
  return absl::StrCat(kHead, "  - wait: 1s\nsteady_state:\n", steady_state);
}

// Two probes on lines 7 and 8 ("live" runs during the method, "pre" does
// not); abort_when / rollback from line 9.
std::string WithProbes(const std::string& tail) {
  return absl::StrCat(kHead,
                      "  - wait: 1s\nsteady_state:\n"
                      "  - {name: live, exec: {command: x}, when: [during], failures: 4}\n"
                      "  - {name: pre, exec: {command: x}}\n",
                      tail);
}

std::vector<BadCase> BadCases() {
  return {
      {"BodyRegexBad",
       Probes("  - {name: p, http: {url: \"http://h/\", body_matches: \"(?=x)\"}}\n"),
       {"x.yaml:7:54: probe \"p\": http.body_matches must be an RE2 regex, got \"(?=x)\": invalid "
        "perl operator: (?=; RE2 has no lookahead or lookbehind"}},
      {"BodyRegexEmpty",
       Probes("  - {name: p, http: {url: \"http://h/\", body_matches: \"\"}}\n"),
       {"x.yaml:7:54: probe \"p\": http.body_matches must not be empty (omit it for no check)"}},
      {"JsonNotAList",
       Probes("  - {name: p, http: {url: \"http://h/\", json: {field: a}}}\n"),
       {"x.yaml:7:46: probe \"p\": http.json: expected a sequence, got a mapping"}},
      {"JsonEmpty",
       Probes("  - {name: p, http: {url: \"http://h/\", json: []}}\n"),
       {"x.yaml:7:46: probe \"p\": http.json must list at least one check (omit it for no json "
        "check)"}},
      {"JsonBadPaths",
       Probes(
           "  - {name: p, http: {url: \"http://h/\", json: [{field: \"a..b\", value: 1}, {field: "
           "\"a[x]\", value: 1}, {field: \"\", value: 1}, {field: \"a.\", value: 1}]}}\n"),
       {"x.yaml:7:55: probe \"p\": http.json[0].field must be a path such as status or "
        "data.items[0].state, got \"a..b\"",
        "x.yaml:7:82: probe \"p\": http.json[1].field must be a path such as status or "
        "data.items[0].state, got \"a[x]\"",
        "x.yaml:7:109: probe \"p\": http.json[2].field must be a path such as status or "
        "data.items[0].state, got \"\"",
        "x.yaml:7:132: probe \"p\": http.json[3].field must be a path such as status or "
        "data.items[0].state, got \"a.\""}},
      {"JsonBadOp",
       Probes(
           "  - {name: p, http: {url: \"http://h/\", json: [{field: a, op: \"=\", value: 1}]}}\n"),
       {"x.yaml:7:62: probe \"p\": http.json[0].op must be one of <, <=, >, >=, == or between, got "
        "\"=\""}},
      {"JsonStringWithOrderedOp",
       Probes("  - {name: p, http: {url: \"http://h/\", json: [{field: a, op: \"<\", value: ok}, "
              "{field: b, op: \">=\", value: \"5\"}]}}\n"),
       {"x.yaml:7:74: probe \"p\": http.json[0].op < needs a number value, got \"ok\" (strings, "
        "true, false and null compare only with ==)",
        "x.yaml:7:107: probe \"p\": http.json[1].op >= needs a number value, got \"5\" (strings, "
        "true, false and null compare only with ==)"}},
      {"JsonBetweenBad",
       Probes(
           "  - {name: p, http: {url: \"http://h/\", json: [{field: a, op: between, value: 5}, "
           "{field: b, op: between, value: [1, x]}, {field: c, op: between, value: [5, 1]}]}}\n"),
       {"x.yaml:7:78: probe \"p\": http.json[0].value must be [low, high] for op between, got 5",
        "x.yaml:7:117: probe \"p\": http.json[1].value[1] must be a number, got \"x\"",
        "x.yaml:7:153: probe \"p\": http.json[2].value must be [low, high] with low <= high, got "
        "[5, 1]"}},
      {"JsonValueMissingOrList",
       Probes("  - {name: p, http: {url: \"http://h/\", json: [{field: a}, {field: b, value: [1]}, "
              "{field: c, value: 1, extra: 2}]}}\n"),
       {"x.yaml:7:47: missing required field \"value\" in http.json[0] of probe \"p\"",
        "x.yaml:7:77: probe \"p\": http.json[1].value must be a number, a string, true, false or "
        "null, got a sequence",
        "x.yaml:7:104: unknown field \"extra\" in http.json[2] of probe \"p\""}},
      {"MaxLatency",
       Probes("  - {name: p, http: {url: \"http://h/\", max_latency: 2s}, timeout: 1s}\n"),
       {"x.yaml:7:53: probe \"p\": http.max_latency (2s) must not be longer than the probe timeout "
        "(1s)"}},
      {"MaxLatencyZero",
       Probes("  - {name: p, http: {url: \"http://h/\", max_latency: 0s}}\n"),
       {"x.yaml:7:53: probe \"p\": http.max_latency must be a duration greater than 0 and at most "
        "1m, got 0s"}},
      {"ExecExitCode",
       Probes("  - {name: p, exec: {command: \"true\", exit_code: 256, output_matches: \"a[\"}}\n"),
       {"x.yaml:7:50: probe \"p\": exec.exit_code must be an integer 0..255, got 256",
        "x.yaml:7:71: probe \"p\": exec.output_matches must be an RE2 regex, got \"a[\": missing "
        "]: ["}},
      {"PrometheusMissing",
       Probes("  - {name: p, prometheus: {server: \"https://h:9090\", query: \" \"}}\n"),
       {"x.yaml:7:27: missing required field \"op\" in prometheus probe \"p\"",
        "x.yaml:7:27: missing required field \"value\" in prometheus probe \"p\"",
        "x.yaml:7:36: probe \"p\": prometheus.server must start with http:// and name a host "
        "(https is not supported yet), got \"https://h:9090\"",
        "x.yaml:7:61: probe \"p\": prometheus.query must not be empty"}},
      {"PrometheusBadValues",
       Probes("  - {name: p, prometheus: {server: \"http://h:9090\", query: up, op: \"!=\", value: "
              "1}}\n"),
       {"x.yaml:7:68: probe \"p\": prometheus.op must be one of <, <=, >, >=, == or between, got "
        "\"!=\""}},
      {"PrometheusValueNotNumber",
       Probes("  - {name: p, prometheus: {server: \"http://h:9090\", query: up, op: \">\", value: "
              "\"5\"}}\n"),
       {"x.yaml:7:80: probe \"p\": prometheus.value must be a number, got \"5\""}},
      {"PrometheusBetween",
       Probes("  - {name: p, prometheus: {server: \"http://h:9090\", query: up, op: between, "
              "value: [3]}}\n"),
       {"x.yaml:7:84: probe \"p\": prometheus.value must be [low, high] for op between, got a "
        "sequence"}},
      {"PromAndExec",
       Probes("  - {name: p, prometheus: {server: \"http://h:9090\", query: up, op: \">\", value: "
              "1}, exec: {command: x}}\n"),
       {"x.yaml:7:84: probe \"p\" has both prometheus and exec; use one probe kind per entry"}},
      {"WhenBad",
       Probes("  - {name: p, exec: {command: x}, when: [before, durring, before]}\n"),
       {"x.yaml:7:50: probe \"p\": when[1] must be before, during or after, got \"durring\"",
        "x.yaml:7:59: probe \"p\": when lists before more than once"}},
      {"WhenEmpty",
       Probes("  - {name: p, exec: {command: x}, when: []}\n"),
       {"x.yaml:7:41: probe \"p\": when must list at least one of before, during or after"}},
      {"WhenMapping",
       Probes("  - {name: p, exec: {command: x}, when: {during: true}}\n"),
       {"x.yaml:7:41: probe \"p\": when must be a list of before, during and after, got a "
        "mapping"}},
      {"IntervalWithoutDuring",
       Probes("  - {name: p, exec: {command: x}, interval: 1s}\n"),
       {"x.yaml:7:35: probe \"p\": interval applies only to probes that run during the method; add "
        "during to when"}},
      {"IntervalOutOfRange",
       Probes("  - {name: p, exec: {command: x}, when: during, interval: 50ms}\n"),
       {"x.yaml:7:59: probe \"p\": interval must be a duration of at least 100ms and at most 1h, "
        "got 50ms"}},
      {"FailuresZero",
       Probes("  - {name: p, exec: {command: x}, failures: 0}\n"),
       {"x.yaml:7:45: probe \"p\": failures must be an integer 1..10000 (consecutive failures), "
        "got 0"}},
      {"DuringKey",
       Probes("  - {name: p, exec: {command: x}, during: true}\n"),
       {"x.yaml:7:35: \"during\" is not a field of probe \"p\"; list it in when, e.g. when: "
        "[before, during, after]"}},
      {"AbortUnknownProbe",
       WithProbes("abort_when:\n  - {probe: nope}\n"),
       {"x.yaml:10:13: abort_when[0]: unknown probe \"nope\" (known: live, pre)"}},
      {"AbortProbeNotDuring",
       WithProbes("abort_when:\n  - {probe: pre}\n"),
       {"x.yaml:10:13: abort_when[0]: probe \"pre\" does not run during the method; add during to "
        "its when (when: [before, during, after])"}},
      {"AbortDuplicate",
       WithProbes("abort_when:\n  - {probe: live}\n  - {probe: live, failures: 2}\n"),
       {"x.yaml:11:13: abort_when[1] names probe \"live\" again (first at 10:13)"}},
      {"AbortFailuresZero",
       WithProbes("abort_when:\n  - {probe: live, failures: 0}\n"),
       {"x.yaml:10:29: abort_when[0].failures must be an integer 1..10000 (consecutive failures), "
        "got 0"}},
      {"AbortMissingProbeAndUnknownField",
       WithProbes("abort_when:\n  - {failures: 2, probes: live}\n"),
       {"x.yaml:10:5: missing required field \"probe\" in abort_when[0]",
        "x.yaml:10:19: unknown field \"probes\" in abort_when[0] (did you mean \"probe\"?)"}},
      {"AbortNotAList",
       WithProbes("abort_when: {probe: live}\n"),
       {"x.yaml:9:13: abort_when: expected a sequence, got a mapping"}},
      {"RollbackNotAMapping",
       WithProbes("rollback: [a]\n"),
       {"x.yaml:9:11: rollback: expected a mapping, got a sequence"}},
      {"RollbackBadPolicy",
       WithProbes("rollback: {policy: sometimes}\n"),
       {"x.yaml:9:20: rollback.policy must be always, on-deviation or never-for-kills, got "
        "\"sometimes\""}},
      {"RollbackActionWithoutKind",
       WithProbes("rollback: {actions: [{name: x}]}\n"),
       {"x.yaml:9:22: rollback action \"x\" needs one of exec or http"}},
      {"RollbackActionWithBothKinds",
       WithProbes("rollback: {actions: [{exec: {command: a}, http: {url: \"http://h/\"}}]}\n"),
       {"x.yaml:9:43: rollback.actions[0] has both exec and http; use one per action"}},
      {"RollbackActionBadFields",
       WithProbes("rollback: {actions: [{name: Bad, exec: {command: \"\"}, timeout: 11m}, {http: "
                  "{url: \"ftp://h\", method: PATCH, body: {a: 1}}}]}\n"),
       {"x.yaml:9:29: rollback.actions[0].name must be 1..63 lowercase letters, digits, '-' and "
        "'_', starting with a letter or digit, got \"Bad\"",
        "x.yaml:9:50: rollback.actions[0]: exec.command must not be empty",
        "x.yaml:9:64: rollback.actions[0]: timeout must be a duration greater than 0 and at most "
        "10m, got 11m",
        "x.yaml:9:83: rollback.actions[1]: http.url must start with http:// and name a host (https "
        "is not supported yet), got \"ftp://h\"",
        "x.yaml:9:102: rollback.actions[1]: http.method must be GET, POST, PUT or DELETE, got "
        "\"PATCH\"",
        "x.yaml:9:115: rollback.actions[1]: http.body must be a string, got a mapping"}},
      {"RollbackDuplicateNames",
       WithProbes(
           "rollback: {actions: [{name: a, exec: {command: x}}, {name: a, exec: {command: y}}]}\n"),
       {"x.yaml:9:60: duplicate rollback action name \"a\" (first at 9:29)"}},
      {"RollbackUnknownField",
       WithProbes("rollback: {policy: always, action: []}\n"),
       {"x.yaml:9:28: unknown field \"action\" in rollback (did you mean \"actions\"?)"}},
  };
}

class ProbeBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ProbeBadInputTest, ReportsExactDiagnostics) {
  const BadCase& c = GetParam();
  EXPECT_THAT(Problems(c.yaml), ::testing::ElementsAreArray(c.expected)) << c.yaml;
}

INSTANTIATE_TEST_SUITE_P(Probes, ProbeBadInputTest, ::testing::ValuesIn(BadCases()), CaseName);

TEST(ProbeSpecTest, EveryProbeFieldIsRead) {
  const Experiment e = MustParse(Probes(R"(  - name: api
    http:
      url: "http://127.0.0.1:8080/api"
      body_matches: "^\\{"
      json:
        - {field: "data.items[0].state", value: ready}
        - {field: count, op: ">=", value: 3}
        - {field: ratio, op: between, value: [0.5, 1]}
        - {field: flag, value: TRUE}
        - {field: gone, value: null}
        - field: missing
          value:
        - {field: "[0]", value: "5"}
      max_latency: 250ms
    timeout: 2s
    when: during
    interval: 100ms
    failures: 3
  - name: gauge
    prometheus: {server: "http://h:9090", query: "up", op: between, value: [1, 1]}
    when: [after]
  - name: script
    exec: {command: "./check", exit_code: 3}
    when: [during, before]
abort_when:
  - {probe: api}
  - {probe: script, failures: 2}
rollback:
  policy: never-for-kills
  actions:
    - {http: {url: "http://h/reset", method: get}, timeout: 10m}
)"));
  ASSERT_EQ(e.steady_state.size(), 3u);
  const Probe& api = e.steady_state[0];
  EXPECT_EQ(api.body_regex, "^\\{");
  ASSERT_EQ(api.json.size(), 7u);
  EXPECT_EQ(api.json[0].field, "data.items[0].state");
  EXPECT_EQ(api.json[0].text, "ready");
  EXPECT_EQ(api.json[0].op, Comparison::kEqual);
  EXPECT_TRUE(api.json[1].is_number);
  EXPECT_EQ(api.json[1].op, Comparison::kGreaterEqual);
  EXPECT_EQ(api.json[1].number, 3.0);
  EXPECT_TRUE(api.json[2].is_number);
  EXPECT_EQ(api.json[2].op, Comparison::kBetween);
  EXPECT_EQ(api.json[2].number, 0.5);
  EXPECT_EQ(api.json[2].number_high, 1.0);
  EXPECT_FALSE(api.json[3].is_number);
  EXPECT_EQ(api.json[3].text, "true");
  EXPECT_EQ(api.json[4].text, "null");
  EXPECT_EQ(api.json[5].text, "null");  // an empty value is YAML null
  EXPECT_FALSE(api.json[6].is_number);  // quoted: the string "5"
  EXPECT_EQ(api.json[6].text, "5");
  EXPECT_EQ(api.json[6].where.line, 19);
  EXPECT_EQ(api.max_latency, std::chrono::milliseconds(250));
  EXPECT_EQ(api.timeout, std::chrono::seconds(2));
  EXPECT_FALSE(api.before);
  EXPECT_TRUE(api.during);
  EXPECT_FALSE(api.after);
  EXPECT_EQ(api.interval, std::chrono::milliseconds(100));
  EXPECT_EQ(api.failures, 3);

  const Probe& gauge = e.steady_state[1];
  EXPECT_EQ(gauge.kind, ProbeKind::kPrometheus);
  EXPECT_EQ(gauge.op, Comparison::kBetween);
  EXPECT_STREQ(ComparisonName(gauge.op), "between");
  EXPECT_EQ(gauge.value, 1.0);
  EXPECT_EQ(gauge.value_high, 1.0);
  EXPECT_TRUE(!gauge.before && !gauge.during && gauge.after);
  EXPECT_EQ(gauge.interval, std::chrono::seconds(5));  // default, unused

  const Probe& script = e.steady_state[2];
  EXPECT_EQ(script.expect_exit, 3);
  EXPECT_TRUE(script.before && script.during && !script.after);

  ASSERT_EQ(e.abort_when.size(), 2u);
  EXPECT_EQ(e.abort_when[0].probe, "api");
  EXPECT_EQ(e.abort_when[0].failures, 3);  // the probe's own tolerance
  EXPECT_EQ(e.abort_when[1].failures, 2);
  EXPECT_EQ(e.abort_when[1].where.line, 33);

  EXPECT_EQ(e.rollback_policy, RollbackPolicy::kNeverForKills);
  ASSERT_EQ(e.rollback_actions.size(), 1u);
  const RollbackAction& reset = e.rollback_actions[0];
  EXPECT_EQ(reset.kind, RollbackAction::Kind::kHttp);
  EXPECT_EQ(reset.name, "rollback[0]");
  EXPECT_EQ(reset.url, "http://h/reset");
  EXPECT_EQ(reset.method, "GET");
  EXPECT_EQ(reset.timeout, std::chrono::minutes(10));
}

TEST(ProbeSpecTest, DefaultsForRollbackAndWhen) {
  const Experiment e = MustParse(absl::StrCat(
      kHead,
      "  - wait: 1s\nsteady_state: [{name: p, tcp: {address: \"h:1\"}}]\n"
      "rollback: {policy: on-deviation, actions: [{exec: {command: \"make reset\"}}]}\n"));
  EXPECT_TRUE(e.steady_state[0].before && !e.steady_state[0].during && e.steady_state[0].after);
  EXPECT_EQ(e.steady_state[0].failures, 1);
  EXPECT_EQ(e.rollback_policy, RollbackPolicy::kOnDeviation);
  ASSERT_EQ(e.rollback_actions.size(), 1u);
  EXPECT_EQ(e.rollback_actions[0].kind, RollbackAction::Kind::kExec);
  EXPECT_EQ(e.rollback_actions[0].command, "make reset");
  EXPECT_EQ(e.rollback_actions[0].timeout, std::chrono::seconds(30));
  EXPECT_TRUE(e.abort_when.empty());
}

TEST(ProbeSpecTest, AbortWhenWithoutProbesOrOnAnInvalidProbe) {
  EXPECT_THAT(Problems(absl::StrCat(kHead, "  - wait: 1s\nabort_when: [{probe: x}]\n")),
              ::testing::ElementsAre("x.yaml:6:22: abort_when[0]: unknown probe \"x\" (no probes "
                                     "are defined in steady_state)"));
  // The probe's own problem is reported once; abort_when does not add to it.
  EXPECT_THAT(
      Problems(absl::StrCat(kHead,
                            "  - wait: 1s\nsteady_state: [{name: x, exec: {command: \"\"}}]\n"
                            "abort_when: [{probe: x}]\n")),
      ::testing::ElementsAre("x.yaml:6:42: probe \"x\": exec.command must not be empty"));
}

}  // namespace
}  // namespace faultline::controller
