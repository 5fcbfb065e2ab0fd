// Experiment method steps: parallel / serial blocks, pause gates, fault steps
// on several targets, ramps (one full FaultSpec per slice) and flaps.
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

// Steps from line 5, each at column 5.
std::string Method(const std::string& steps) { return absl::StrCat(kHead, steps); }

std::vector<BadCase> BadCases() {
  return {
      {"ParallelOneStep",
       Method("  - parallel: [{wait: 1s}]\n"),
       {"x.yaml:5:15: parallel must list at least 2 steps, got 1 (a single step needs no "
        "parallel)"}},
      {"PauseInsideParallel",
       Method("  - parallel: [{wait: 1s}, {pause: {timeout: 1m}}]\n"),
       {"x.yaml:5:29: pause cannot be used inside parallel: a gate holds the whole run, so put it "
        "before or after the parallel block"}},
      {"PauseInsideSerialInsideParallel",
       Method(
           "  - parallel:\n    - {wait: 1s}\n    - serial: [{wait: 1s}, {pause: {timeout: 1m}}]\n"),
       {"x.yaml:7:29: pause cannot be used inside parallel: a gate holds the whole run, so put it "
        "before or after the parallel block"}},
      {"PauseBadFields",
       Method("  - pause: {message: [a], timeout: 25h, on_timeout: retry, mesage: x}\n"),
       {"x.yaml:5:22: pause: message must be a string, got a sequence",
        "x.yaml:5:36: pause: timeout must be a duration greater than 0 and at most 24h, got 25h",
        "x.yaml:5:53: pause: on_timeout must be abort or continue, got \"retry\"",
        "x.yaml:5:60: unknown field \"mesage\" in pause (did you mean \"message\"?)"}},
      {"PauseNotAMapping",
       Method("  - pause: 10m\n"),
       {"x.yaml:5:12: pause: expected a mapping, got \"10m\""}},
      {"PauseWithStepKeys",
       Method("  - {pause: {timeout: 1m}, duration: 1m}\n"),
       {"x.yaml:5:28: unknown field \"duration\" in pause step"}},
      {"BlockWithExtraKey",
       Method("  - {serial: [{wait: 1s}], duration: 5s}\n"),
       {"x.yaml:5:28: unknown field \"duration\" in serial step"}},
      {"SerialNotASequence",
       Method("  - serial: {wait: 1s}\n"),
       {"x.yaml:5:13: serial: expected a sequence, got a mapping"}},
      {"NestedProblemsAreReported",
       Method("  - parallel: [{wait: 0s}, 5, {serial: [{fault: cpu.pressure, params: {load: 0}, "
              "duration: 1s}]}]\n"),
       {"x.yaml:5:23: wait must be a duration greater than 0 and at most 24h, got 0s",
        "x.yaml:5:28: parallel[1]: expected a mapping, got 5",
        "x.yaml:5:78: cpu.pressure: load must be an integer 1..100, got 0"}},
      {"TargetListProblems",
       Method("  - {fault: cpu.pressure, target: [db, db, nope, [x]], params: {load: 5}, duration: "
              "1s}\n  - {fault: cpu.pressure, target: [], params: {load: 5}, duration: 1s}\n  - "
              "{fault: cpu.pressure, target: {db: 1}, params: {load: 5}, duration: 1s}\ntargets: "
              "{db: {agents: [\"h:1\"]}, web: {agents: [\"h:2\"]}}\n"),
       {"x.yaml:5:40: target lists \"db\" more than once",
        "x.yaml:5:44: unknown target \"nope\" (known: db, web)",
        "x.yaml:5:50: target[3] must be a string, got a sequence",
        "x.yaml:6:35: target must list at least one target (known: db, web)",
        "x.yaml:7:35: target must be a target name or a list of target names, got a mapping"}},
      {"TargetListWithoutTargets",
       Method("  - {fault: cpu.pressure, target: [db], params: {load: 5}, duration: 1s}\n"),
       {"x.yaml:5:36: unknown target \"db\" (no targets are defined; remove target to use the "
        "embedded local agent)"}},
      {"RampAndFlap",
       Method("  - {fault: cpu.pressure, params: {load: 5}, duration: 10s, ramp: {from: 1, to: 5, "
              "steps: 2}, flap: {on: 1s, off: 1s}}\n"),
       {"x.yaml:5:95: ramp and flap cannot be used together in cpu.pressure step; use one"}},
      {"RampAndFlapOnKill",
       Method("  - {fault: process.kill, params: {pid: 2}, duration: 10s, ramp: {from: 1, to: 5, "
              "steps: 2}}\n  - {fault: process.kill, params: {pid: 2}, duration: 10s, flap: {on: "
              "1s, off: 1s}}\n"),
       {"x.yaml:5:66: ramp is not available for process.kill (a kill cannot be scaled or switched "
        "off)",
        "x.yaml:6:66: flap is not available for process.kill (a kill cannot be scaled or switched "
        "off)"}},
      {"RampWithoutMagnitude",
       Method("  - {fault: process.pause, params: {pid: 2}, duration: 10s, ramp: {from: 1, to: 5, "
              "steps: 2}}\n  - {fault: network.partition, params: {peers: [198.18.0.2]}, duration: "
              "10s, ramp: {from: 1, to: 5, steps: 2}}\n"),
       {"x.yaml:5:67: ramp is not available for process.pause (it has no magnitude to ramp; flap "
        "switches it on and off)",
        "x.yaml:6:84: ramp is not available for network.partition (it has no magnitude to ramp; "
        "flap switches it on and off)"}},
      {"RampNotAMapping",
       Method("  - {fault: cpu.pressure, params: {load: 5}, duration: 10s, ramp: 5}\n"),
       {"x.yaml:5:67: cpu.pressure: ramp: expected a mapping, got 5"}},
      {"RampBadParam",
       Method("  - {fault: cpu.pressure, params: {load: 5}, duration: 10s, ramp: {param: workers, "
              "from: 1, to: 5, steps: 2}}\n  - {fault: network.delay, params: {interface: eth0, "
              "delay: 5ms}, duration: 10s, ramp: {param: rate, from: 1, to: 5, steps: 2}}\n"),
       {"x.yaml:5:75: cpu.pressure: ramp.param must be load, got \"workers\"",
        "x.yaml:6:96: network.delay: ramp.param must be delay or jitter, got \"rate\""}},
      {"RampMissingFields",
       Method("  - {fault: cpu.pressure, params: {load: 5}, duration: 10s, ramp: {form: 1}}\n"),
       {"x.yaml:5:67: missing required field \"steps\" in cpu.pressure ramp",
        "x.yaml:5:67: missing required field \"from\" in cpu.pressure ramp",
        "x.yaml:5:67: missing required field \"to\" in cpu.pressure ramp",
        "x.yaml:5:68: unknown field \"form\" in cpu.pressure ramp (did you mean \"from\"?)"}},
      {"RampStepsOutOfRange",
       Method("  - {fault: cpu.pressure, params: {load: 5}, duration: 10s, ramp: {from: 1, to: 5, "
              "steps: 1}}\n  - {fault: cpu.pressure, params: {load: 5}, duration: 10s, ramp: "
              "{from: 1, to: 5, steps: 101}}\n"),
       {"x.yaml:5:91: cpu.pressure: ramp.steps must be an integer 2..100, got 1",
        "x.yaml:6:91: cpu.pressure: ramp.steps must be an integer 2..100, got 101"}},
      {"RampSlicesTooShort",
       Method("  - {fault: cpu.pressure, params: {load: 5}, duration: 1s, ramp: {from: 5, to: 50, "
              "steps: 20}}\n"),
       {"x.yaml:5:91: cpu.pressure: ramp.steps 20 would make each slice 50ms long; a slice must "
        "last at least 100ms (the step lasts 1s)"}},
      {"RampBadEndpoints",
       Method("  - {fault: network.delay, params: {interface: eth0}, duration: 10s, ramp: {from: "
              "fast, to: 90s, steps: 2}}\n  - {fault: network.bandwidth, params: {interface: "
              "eth0}, duration: 10s, ramp: {from: 1kbit, to: 1mbit, steps: 2}}\n  - {fault: "
              "cpu.pressure, params: {}, duration: 10s, ramp: {from: 0, to: 50%, steps: 2}}\n"),
       {"x.yaml:5:83: network.delay: ramp.from must be a valid delay: a duration of at least 1us "
        "and at most 60s such as 50ms, got \"fast\"",
        "x.yaml:5:93: network.delay: ramp.to must be a valid delay: a duration of at least 1us and "
        "at most 60s such as 50ms, got \"90s\"",
        "x.yaml:6:87: network.bandwidth: ramp.from must be a valid rate: a rate of at least 8kbit "
        "and at most 100gbit such as 500kbit, 10mbit or 1gbit, got \"1kbit\"",
        "x.yaml:7:67: cpu.pressure: ramp.from must be a valid load: an integer 1..100, got 0",
        "x.yaml:7:74: cpu.pressure: ramp.to must be a valid load: an integer 1..100, got \"50%\""}},
      {"RampEqualEndpoints",
       Method("  - {fault: network.loss, params: {interface: eth0}, duration: 10s, ramp: {from: "
              "10, to: \"10%\", steps: 2}}\n"),
       {"x.yaml:5:90: network.loss: ramp.to must differ from ramp.from (10%); for a constant "
        "percent leave ramp out"}},
      {"RampDiffersFromParams",
       Method("  - {fault: network.delay, params: {interface: eth0, delay: 50ms}, duration: 10s, "
              "ramp: {from: 100ms, to: 500ms, steps: 2}}\n"),
       {"x.yaml:5:61: network.delay: delay in params (50ms) differs from ramp.from (100ms); the "
        "ramp sets delay, so leave it out of params or make them equal"}},
      {"RampFromBreaksJitter",
       Method("  - {fault: network.delay, params: {interface: eth0, jitter: 5ms}, duration: 10s, "
              "ramp: {from: 1ms, to: 100ms, steps: 2}}\n"),
       {"x.yaml:5:62: network.delay: jitter must not exceed delay (1ms), got 5ms (in ramp slice 1 "
        "of 2, delay=1ms)"}},
      {"RampSliceBreaksJitter",
       Method("  - {fault: network.delay, params: {interface: eth0, jitter: 5ms}, duration: 10s, "
              "ramp: {from: 100ms, to: 1ms, steps: 4}}\n"),
       {"x.yaml:5:62: network.delay: jitter must not exceed delay (1ms), got 5ms (in ramp slice 4 "
        "of 4, delay=1ms)"}},
      {"RampAndParamsBothWrong",
       Method("  - {fault: network.delay, params: {interface: \"a/b\"}, duration: 10s, ramp: "
              "{from: 1ms, to: 2ms, steps: 0}}\n"),
       {"x.yaml:5:48: network.delay: interface must be an interface name of 1..15 characters "
        "without \"/\", \":\" or spaces, got \"a/b\"",
        "x.yaml:5:105: network.delay: ramp.steps must be an integer 2..100, got 0"}},
      {"RampMemoryParamConflict",
       Method("  - {fault: memory.pressure, params: {percent: 10}, duration: 10s, ramp: {param: "
              "size, from: 1Gi, to: 2Gi, steps: 2}}\n"),
       {"x.yaml:5:94: size and percent cannot be used together in memory.pressure params; use "
        "one"}},
      {"FlapProblems",
       Method("  - {fault: cpu.pressure, params: {load: 5}, duration: 10s, flap: {on: 50ms, of: "
              "1s}}\n  - {fault: cpu.pressure, params: {load: 5}, duration: 10s, flap: {on: 6s, "
              "off: 5s}}\n  - {fault: cpu.pressure, params: {load: 5}, duration: 10s, flap: 5s}\n"),
       {"x.yaml:5:67: missing required field \"off\" in cpu.pressure flap",
        "x.yaml:5:72: cpu.pressure: flap.on must be a duration of at least 100ms and at most 24h, "
        "got 50ms",
        "x.yaml:5:78: unknown field \"of\" in cpu.pressure flap (did you mean \"on\"?)",
        "x.yaml:6:67: cpu.pressure: flap.on (6s) + flap.off (5s) must not be longer than the step "
        "duration (10s)",
        "x.yaml:7:67: cpu.pressure: flap: expected a mapping, got \"5s\""}},
  };
}

class StepBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(StepBadInputTest, ReportsExactDiagnostics) {
  const BadCase& c = GetParam();
  EXPECT_THAT(Problems(c.yaml), ::testing::ElementsAreArray(c.expected)) << c.yaml;
}

INSTANTIATE_TEST_SUITE_P(Steps, StepBadInputTest, ::testing::ValuesIn(BadCases()), CaseName);

TEST(StepSpecTest, BlocksNestAndKeepTheirChildrenInOrder) {
  const Experiment e = MustParse(Method(R"(  - parallel:
      - serial:
          - {wait: 5s}
          - {fault: cpu.pressure, target: [web, db], params: {load: 20}, duration: 10s}
      - {fault: memory.pressure, target: db, params: {size: 1Mi}, duration: 15s}
  - serial: [{wait: 1s}]
  - pause: {message: "check dashboards", timeout: 10m, on_timeout: continue}
  - pause: {timeout: 30s}
targets: {web: {select: {role: web}}, db: {agents: ["h:1"]}}
)"));
  ASSERT_EQ(e.method.size(), 4u);
  const Step& parallel = e.method[0];
  EXPECT_EQ(parallel.kind, StepKind::kParallel);
  EXPECT_EQ(parallel.label, "parallel (2 steps)");
  EXPECT_EQ(parallel.duration, milliseconds(0));
  EXPECT_EQ(parallel.where.line, 5);
  ASSERT_EQ(parallel.steps.size(), 2u);
  const Step& serial = parallel.steps[0];
  EXPECT_EQ(serial.kind, StepKind::kSerial);
  EXPECT_EQ(serial.label, "serial (2 steps)");
  ASSERT_EQ(serial.steps.size(), 2u);
  EXPECT_EQ(serial.steps[0].label, "wait 5s");
  const Step& cpu = serial.steps[1];
  EXPECT_EQ(cpu.label, "cpu.pressure on web, db");
  EXPECT_THAT(cpu.targets, ElementsAre("web", "db"));
  EXPECT_EQ(cpu.target, "web");
  EXPECT_EQ(cpu.where.line, 8);
  EXPECT_EQ(parallel.steps[1].label, "memory.pressure on db");
  EXPECT_THAT(parallel.steps[1].targets, ElementsAre("db"));
  EXPECT_EQ(e.method[1].label, "serial (1 step)");

  const Step& gate = e.method[2];
  EXPECT_EQ(gate.kind, StepKind::kPause);
  EXPECT_EQ(gate.message, "check dashboards");
  EXPECT_EQ(gate.duration, std::chrono::minutes(10));
  EXPECT_EQ(gate.on_timeout, PauseTimeout::kContinue);
  EXPECT_EQ(gate.label, "pause (timeout 10m)");
  EXPECT_EQ(e.method[3].on_timeout, PauseTimeout::kAbort);  // default
  EXPECT_EQ(e.method[3].message, "");
}

TEST(StepSpecTest, DelayRampGivesOneFullSpecPerSlice) {
  const Experiment e = MustParse(Method(
      "  - {fault: network.delay, params: {interface: eth0, delay: 50ms, jitter: 10ms, ports: "
      "[443]}, duration: 60s, ramp: {from: 50ms, to: 500ms, steps: 10}}\n"));
  const Step& step = e.method[0];
  ASSERT_TRUE(step.ramp.has_value());
  EXPECT_FALSE(step.flap.has_value());
  EXPECT_EQ(step.ramp->param, "delay");
  ASSERT_EQ(step.ramp->specs.size(), 10u);
  ASSERT_EQ(step.ramp->summaries.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    const v1::NetworkDelay& d = step.ramp->specs[i].network_delay();
    EXPECT_EQ(d.delay_us(), 50'000u * (i + 1)) << i;  // 50ms, 100ms, ... 500ms
    EXPECT_EQ(d.jitter_us(), 10'000u) << i;           // the other params stay
    EXPECT_EQ(d.target().interface(), "eth0") << i;
    EXPECT_THAT(d.target().ports(), ElementsAre(443u)) << i;
  }
  EXPECT_EQ(step.ramp->summaries[1], "delay=100ms jitter=10ms interface=eth0 ports=443");
  EXPECT_EQ(step.spec.network_delay().delay_us(), 50'000u);  // the first slice
  EXPECT_EQ(step.params_summary, "delay=50ms..500ms steps=10 jitter=10ms interface=eth0 ports=443");
}

TEST(StepSpecTest, RampsOfEveryRampableKind) {
  const Experiment e = MustParse(Method(R"(  - {fault: cpu.pressure, params: {workers: 2},
     duration: 4s, ramp: {from: 1, to: 100, steps: 4}}
  - {fault: memory.pressure, params: {}, duration: 4s, ramp: {from: 1Mi, to: 3Mi, steps: 3}}
  - {fault: memory.pressure, params: {percent: 10}, duration: 4s,
     ramp: {from: 10, to: 5, steps: 3}}
  - {fault: network.loss, params: {interface: eth0}, duration: 5s,
     ramp: {from: "10%", to: 50, steps: 5}}
  - {fault: network.duplicate, params: {interface: eth0, percent: 1}, duration: 5s,
     ramp: {from: 1, to: 2, steps: 3}}
  - {fault: network.corrupt, params: {interface: eth0}, duration: 5s,
     ramp: {from: 0.5, to: 1, steps: 2}}
  - {fault: network.bandwidth, params: {interface: eth0}, duration: 10s,
     ramp: {from: 10mbit, to: 1mbit, steps: 10}}
  - {fault: network.delay, params: {interface: eth0, delay: 100ms}, duration: 2s,
     ramp: {param: jitter, from: 0s, to: 20ms, steps: 3}}
)"));
  ASSERT_EQ(e.method.size(), 8u);
  std::vector<uint32_t> load;
  for (const auto& spec : e.method[0].ramp->specs) load.push_back(spec.cpu_pressure().load_pct());
  EXPECT_THAT(load, ElementsAre(1u, 34u, 67u, 100u));
  EXPECT_EQ(e.method[0].ramp->specs[2].cpu_pressure().workers(), 2u);
  EXPECT_EQ(e.method[0].params_summary, "load=1..100 steps=4 workers=2");

  EXPECT_EQ(e.method[1].ramp->param, "size");
  std::vector<uint64_t> size;
  for (const auto& spec : e.method[1].ramp->specs)
    size.push_back(spec.memory_pressure().size_bytes());
  EXPECT_THAT(size, ElementsAre(1u << 20, 2u << 20, 3u << 20));

  EXPECT_EQ(e.method[2].ramp->param, "percent");  // what the params use
  std::vector<double> percent;
  for (const auto& spec : e.method[2].ramp->specs)
    percent.push_back(spec.memory_pressure().percent());
  EXPECT_THAT(percent, ElementsAre(10.0, 7.5, 5.0));

  std::vector<double> loss;
  for (const auto& spec : e.method[3].ramp->specs) loss.push_back(spec.network_loss().percent());
  EXPECT_THAT(loss, ElementsAre(10.0, 20.0, 30.0, 40.0, 50.0));
  EXPECT_EQ(e.method[3].params_summary, "percent=10%..50% steps=5 interface=eth0");

  std::vector<double> duplicate;
  for (const auto& spec : e.method[4].ramp->specs)
    duplicate.push_back(spec.network_duplicate().percent());
  EXPECT_THAT(duplicate, ElementsAre(1.0, 1.5, 2.0));
  EXPECT_EQ(e.method[5].ramp->specs[1].network_corrupt().percent(), 1.0);

  std::vector<uint64_t> rate;
  for (const auto& spec : e.method[6].ramp->specs)
    rate.push_back(spec.network_bandwidth().rate_bps());
  EXPECT_EQ(rate.front(), 10'000'000u);
  EXPECT_EQ(rate[1], 9'000'000u);
  EXPECT_EQ(rate.back(), 1'000'000u);
  EXPECT_EQ(e.method[6].params_summary, "rate=10mbit..1mbit steps=10 interface=eth0");

  const Step& jitter = e.method[7];
  EXPECT_EQ(jitter.ramp->param, "jitter");
  EXPECT_EQ(jitter.ramp->specs[0].network_delay().jitter_us(), 0u);
  EXPECT_EQ(jitter.ramp->specs[1].network_delay().jitter_us(), 10'000u);
  EXPECT_EQ(jitter.ramp->specs[2].network_delay().jitter_us(), 20'000u);
  EXPECT_EQ(jitter.ramp->specs[2].network_delay().delay_us(), 100'000u);
  // A zero jitter is left out of the summary, so the ramped part is added.
  EXPECT_EQ(jitter.params_summary, "delay=100ms interface=eth0 ramp=jitter steps=3");
}

TEST(StepSpecTest, FlapsOnEveryKindButKill) {
  const Experiment e = MustParse(Method(
      R"(  - {fault: cpu.pressure, params: {load: 50}, duration: 30s, flap: {on: 10s, off: 20s}}
  - {fault: process.pause, params: {name: worker}, duration: 1m, flap: {on: 100ms, off: 500ms}}
  - {fault: network.partition, params: {peers: [198.18.0.2]}, duration: 1m, flap: {on: 5s, off: 5s}}
)"));
  ASSERT_EQ(e.method.size(), 3u);
  ASSERT_TRUE(e.method[0].flap.has_value());
  EXPECT_FALSE(e.method[0].ramp.has_value());
  EXPECT_EQ(e.method[0].flap->on, seconds(10));
  EXPECT_EQ(e.method[0].flap->off, seconds(20));
  EXPECT_EQ(e.method[1].flap->on, milliseconds(100));
  EXPECT_EQ(e.method[1].flap->off, milliseconds(500));
  EXPECT_TRUE(e.method[2].flap.has_value());
  EXPECT_TRUE(e.method[2].spec.has_network_partition());
}

}  // namespace
}  // namespace faultline::controller
