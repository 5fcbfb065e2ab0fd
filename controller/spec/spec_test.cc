// Tests for experiment parsing and validation: a full happy path, a table of
// bad inputs with the exact "file:line:col: message" each must produce, and
// the properties of the diagnostics list (all problems, position order).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/spec/experiment.h"
#include "controller/spec/fault_params.h"
#include "common/yaml/fields.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kFile[] = "x.yaml";

std::vector<std::string> Problems(const std::string& yaml) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> experiment = ParseExperiment(yaml, kFile, &diagnostics);
  std::vector<std::string> out;
  for (const Diagnostic& d : diagnostics) out.push_back(d.ToString());
  if (experiment.ok()) {
    EXPECT_TRUE(out.empty());
  } else {
    EXPECT_EQ(experiment.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(out.empty());
  }
  return out;
}

// --- happy path -------------------------------------------------------------

constexpr char kFull[] = R"yaml(apiVersion: faultline/v1
kind: Experiment
metadata:
  name: checkout-db
  owner: payments-sre
  runbook: docs/runbooks/db.md
  description: Everything at once.
targets:
  db: {agents: ["10.0.0.5:7431", "db-2.internal:7431"]}
  web:
    agents: ["unix:/run/faultline/agent.sock", "[::1]:7431"]
steady_state:
  - {name: checkout-ok, http: {url: "http://127.0.0.1:8080/health", status: 204}, timeout: 500ms}
  - name: db-port
    tcp: {address: "127.0.0.1:5432"}
  - name: disk-ok
    exec: {command: "test -w /tmp"}
    timeout: 60s
method:
  - {fault: cpu.pressure, target: db, params: {load: 80, workers: 0, cores: [2, 0]}, duration: 5m}
  - wait: 30s
  - fault: memory.pressure
    target: web
    params: {size: 512Mi, ramp: 10s}
    duration: 1m
  - fault: memory.pressure
    target: web
    params: {percent: 12.5}
    duration: 24h
  - fault: process.kill
    target: db
    params: {cmdline: "^postgres: (worker|checkpointer)", signal: SIGTERM, percent: 50, interval: 100ms}
    duration: 2m
  - fault: process.kill
    target: db
    params: {pid: 4242}
    duration: 1s
  - fault: process.pause
    target: web
    params: {name: nginx, count: 2}
    duration: 10s
)yaml";

TEST(ParseExperimentTest, FullExperimentFillsEveryField) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> parsed = ParseExperiment(kFull, "experiments/full.yaml", &diagnostics);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(diagnostics.empty());
  const Experiment& e = *parsed;
  EXPECT_EQ(e.path, "experiments/full.yaml");
  EXPECT_EQ(e.api_version, "faultline/v1");
  EXPECT_EQ(e.kind, "Experiment");
  EXPECT_EQ(e.name, "checkout-db");
  EXPECT_EQ(e.owner, "payments-sre");
  EXPECT_EQ(e.runbook, "docs/runbooks/db.md");
  EXPECT_EQ(e.description, "Everything at once.");
  EXPECT_EQ(e.source_text, kFull);

  ASSERT_EQ(e.targets.size(), 2u);
  const Target& db = e.targets.at("db");
  EXPECT_EQ(db.name, "db");
  EXPECT_THAT(db.agents, ElementsAre("10.0.0.5:7431", "db-2.internal:7431"));
  EXPECT_EQ(db.where.file, "experiments/full.yaml");
  EXPECT_EQ(db.where.line, 9);
  EXPECT_EQ(db.where.column, 3);
  EXPECT_THAT(e.targets.at("web").agents,
              ElementsAre("unix:/run/faultline/agent.sock", "[::1]:7431"));

  ASSERT_EQ(e.steady_state.size(), 3u);
  const Probe& http = e.steady_state[0];
  EXPECT_EQ(http.name, "checkout-ok");
  EXPECT_EQ(http.kind, ProbeKind::kHttp);
  EXPECT_EQ(http.url, "http://127.0.0.1:8080/health");
  EXPECT_EQ(http.expect_status, 204);
  EXPECT_EQ(http.timeout, milliseconds(500));
  EXPECT_EQ(http.where.line, 13);
  EXPECT_EQ(http.where.column, 5);
  const Probe& tcp = e.steady_state[1];
  EXPECT_EQ(tcp.name, "db-port");
  EXPECT_EQ(tcp.kind, ProbeKind::kTcp);
  EXPECT_EQ(tcp.address, "127.0.0.1:5432");
  EXPECT_EQ(tcp.timeout, seconds(1));  // default
  EXPECT_EQ(tcp.where.line, 14);
  const Probe& exec = e.steady_state[2];
  EXPECT_EQ(exec.name, "disk-ok");
  EXPECT_EQ(exec.kind, ProbeKind::kExec);
  EXPECT_EQ(exec.command, "test -w /tmp");
  EXPECT_EQ(exec.timeout, seconds(60));
  EXPECT_STREQ(ProbeKindName(exec.kind), "exec");

  ASSERT_EQ(e.method.size(), 7u);
  const Step& cpu = e.method[0];
  EXPECT_EQ(cpu.kind, StepKind::kFault);
  EXPECT_EQ(cpu.where.line, 20);
  EXPECT_EQ(cpu.where.column, 5);
  EXPECT_EQ(cpu.fault_kind, "cpu.pressure");
  EXPECT_EQ(cpu.target, "db");
  EXPECT_EQ(cpu.label, "cpu.pressure on db");
  EXPECT_EQ(cpu.duration, std::chrono::minutes(5));
  EXPECT_EQ(cpu.params_summary, "load=80 workers=0 cores=2,0");
  ASSERT_TRUE(cpu.spec.has_cpu_pressure());
  EXPECT_EQ(cpu.spec.cpu_pressure().load_pct(), 80u);
  EXPECT_EQ(cpu.spec.cpu_pressure().workers(), 0u);
  EXPECT_THAT(cpu.spec.cpu_pressure().cores(), ElementsAre(2u, 0u));

  const Step& wait = e.method[1];
  EXPECT_EQ(wait.kind, StepKind::kWait);
  EXPECT_EQ(wait.label, "wait 30s");
  EXPECT_EQ(wait.duration, seconds(30));
  EXPECT_EQ(wait.where.line, 21);
  EXPECT_EQ(wait.spec.kind_case(), v1::FaultSpec::KIND_NOT_SET);

  const Step& mem = e.method[2];
  EXPECT_EQ(mem.label, "memory.pressure on web");
  EXPECT_EQ(mem.duration, seconds(60));
  EXPECT_EQ(mem.params_summary, "size=512Mi ramp=10s");
  ASSERT_TRUE(mem.spec.has_memory_pressure());
  EXPECT_EQ(mem.spec.memory_pressure().size_bytes(), 512ull << 20);
  EXPECT_EQ(mem.spec.memory_pressure().percent(), 0.0);
  EXPECT_EQ(mem.spec.memory_pressure().ramp_ms(), 10000u);

  const Step& mem_pct = e.method[3];
  EXPECT_EQ(mem_pct.duration, std::chrono::hours(24));
  EXPECT_EQ(mem_pct.params_summary, "percent=12.5");
  EXPECT_EQ(mem_pct.spec.memory_pressure().size_bytes(), 0u);
  EXPECT_EQ(mem_pct.spec.memory_pressure().percent(), 12.5);
  EXPECT_EQ(mem_pct.spec.memory_pressure().ramp_ms(), 0u);

  const Step& kill = e.method[4];
  EXPECT_EQ(kill.fault_kind, "process.kill");
  EXPECT_EQ(kill.params_summary,
            "cmdline=\"^postgres: (worker|checkpointer)\" signal=TERM percent=50 interval=100ms");
  ASSERT_TRUE(kill.spec.has_process_kill());
  const v1::ProcessKill& k = kill.spec.process_kill();
  EXPECT_EQ(k.target().cmdline(), "^postgres: (worker|checkpointer)");
  EXPECT_EQ(k.signal(), 15);
  EXPECT_EQ(k.count(), 0u);
  EXPECT_EQ(k.percent(), 50.0);
  EXPECT_EQ(k.interval_ms(), 100u);

  const Step& kill_pid = e.method[5];
  EXPECT_EQ(kill_pid.params_summary, "pid=4242 signal=KILL");
  EXPECT_EQ(kill_pid.spec.process_kill().target().pid(), 4242);
  EXPECT_EQ(kill_pid.spec.process_kill().signal(), 9);  // default KILL
  EXPECT_EQ(kill_pid.spec.process_kill().interval_ms(), 0u);
  EXPECT_EQ(kill_pid.duration, seconds(1));

  const Step& pause = e.method[6];
  EXPECT_EQ(pause.label, "process.pause on web");
  EXPECT_EQ(pause.params_summary, "name=nginx count=2");
  ASSERT_TRUE(pause.spec.has_process_pause());
  EXPECT_EQ(pause.spec.process_pause().target().name(), "nginx");
  EXPECT_EQ(pause.spec.process_pause().count(), 2u);
  EXPECT_EQ(pause.spec.process_pause().percent(), 0.0);
}

TEST(ParseExperimentTest, MinimalExperimentUsesDefaultsAndTheLocalAgent) {
  absl::StatusOr<Experiment> e = ParseExperiment(R"(apiVersion: faultline/v1
kind: Experiment
metadata: {name: minimal}
method:
  - {fault: cpu.pressure, params: {load: 1}, duration: 1s}
)",
                                                 kFile, nullptr);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->targets.empty());
  EXPECT_TRUE(e->steady_state.empty());
  EXPECT_TRUE(e->owner.empty());
  ASSERT_EQ(e->method.size(), 1u);
  EXPECT_EQ(e->method[0].target, "");
  EXPECT_EQ(e->method[0].label, "cpu.pressure");
  EXPECT_EQ(e->method[0].spec.cpu_pressure().workers(), 1u);  // default
  EXPECT_EQ(e->method[0].params_summary, "load=1 workers=1");
}

TEST(ParseExperimentTest, SignalsByNameAndNumber) {
  EXPECT_EQ(ParseSignal("KILL"), 9);
  EXPECT_EQ(ParseSignal("SIGKILL"), 9);
  EXPECT_EQ(ParseSignal("term"), 15);
  EXPECT_EQ(ParseSignal("STOP"), 19);
  EXPECT_EQ(ParseSignal("CONT"), 18);
  EXPECT_EQ(ParseSignal("HUP"), 1);
  EXPECT_EQ(ParseSignal("34"), 34);
  EXPECT_EQ(ParseSignal("64"), 64);
  EXPECT_EQ(ParseSignal("0"), std::nullopt);
  EXPECT_EQ(ParseSignal("65"), std::nullopt);
  EXPECT_EQ(ParseSignal("SIG"), std::nullopt);
  EXPECT_EQ(ParseSignal("FOO"), std::nullopt);
  EXPECT_EQ(SignalName(9), "KILL");
  EXPECT_EQ(SignalName(40), "40");
}

TEST(ParseExperimentTest, SuggestionsOnlyForCloseWords) {
  const std::vector<std::string> known = {"load", "workers", "cores"};
  EXPECT_EQ(Suggest("laod", known), "load");     // swap
  EXPECT_EQ(Suggest("Load", known), "load");     // case
  EXPECT_EQ(Suggest("worker", known), "workers");
  EXPECT_EQ(Suggest("wrokerz", known), "workers");
  EXPECT_EQ(Suggest("cpus", known), "");
  EXPECT_EQ(Suggest("x", known), "");
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
  EXPECT_EQ(EditDistance("ab", "ba"), 1);
}

// --- bad inputs ---------------------------------------------------------------

// Four lines; the method list starts on line 5, every step at column 5.
constexpr char kHead[] = R"(apiVersion: faultline/v1
kind: Experiment
metadata: {name: t}
method:
)";

std::string WithStep(const std::string& step) { return absl::StrCat(kHead, "  - ", step, "\n"); }

struct BadCase {
  const char* name;
  std::string yaml;
  std::vector<std::string> expected;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

std::vector<BadCase> BadCases() {
  return {
      // --- document -----------------------------------------------------------
      {"SyntaxError", "apiVersion: faultline/v1\nkind: [Experiment\nmethod: []\n",
       {"x.yaml:3:7: yaml syntax error: end of sequence flow not found"}},
      {"EmptyFile", "", {"x.yaml:1:1: experiment file is empty"}},
      {"OnlyComments", "# nothing here\n", {"x.yaml:1:1: experiment file is empty"}},
      {"TwoDocuments", absl::StrCat(kHead, "  - wait: 1s\n---\nfoo: 1\n"),
       {"x.yaml:7:1: expected one yaml document, got 2 (remove the \"---\" separators)"}},
      {"TopLevelNotAMapping", "- a\n- b\n",
       {"x.yaml:1:1: expected a mapping at the top level of the experiment, got a sequence"}},
      {"SelfReferencingAnchor", "a: &x [*x]\n",
       {"x.yaml:1:4: yaml nesting is deeper than 64 levels (is an anchor used inside itself?)"}},
      // --- top level ------------------------------------------------------------
      {"MissingRequiredTopLevelFields", "# comment\nowner: me\n",
       {"x.yaml:2:1: missing required field \"apiVersion\" in experiment",
        "x.yaml:2:1: missing required field \"kind\" in experiment",
        "x.yaml:2:1: missing required field \"metadata\" in experiment",
        "x.yaml:2:1: missing required field \"method\" in experiment",
        "x.yaml:2:1: unknown field \"owner\" in experiment"}},
      {"WrongApiVersion",
       "apiVersion: faultline/v2\nkind: Experiment\nmetadata: {name: t}\nmethod: [{wait: 1s}]\n",
       {"x.yaml:1:13: apiVersion must be \"faultline/v1\", got \"faultline/v2\""}},
      {"WrongKind",
       "apiVersion: faultline/v1\nkind: Experiement\nmetadata: {name: t}\nmethod: [{wait: 1s}]\n",
       {"x.yaml:2:7: kind must be \"Experiment\" or \"Drill\", got \"Experiement\""}},
      {"DrillWithMethod",
       "apiVersion: faultline/v1\nkind: Drill\nmetadata: {name: t}\nmethod: [{wait: 1s}]\n",
       {"x.yaml:1:1: missing required field \"timeline\" in drill (its faults at their offsets: "
        "timeline: [{at: 0s, fault: ...}])",
        "x.yaml:4:1: a drill's steps are its timeline: write the faults under timeline (each "
        "with at:) instead of method"}},
      {"UnknownTopLevelFieldWithSuggestion", absl::StrCat(kHead, "  - wait: 1s\nstedy_state: []\n"),
       {"x.yaml:6:1: unknown field \"stedy_state\" in experiment (did you mean "
        "\"steady_state\"?)"}},
      {"LaterAndMisplacedTopLevelFields",
       absl::StrCat(kHead, "  - wait: 1s\nschedule: {cron: x}\ntimeline: []\nexpect: {}\n"),
       {"x.yaml:6:1: \"schedule\" is not supported in an experiment: schedules belong in the "
        "faultline serve config (faultline serve --config FILE)",
        "x.yaml:7:1: timeline is only for kind: Drill (faults at offsets from the drill's start); "
        "an experiment lists its steps in method",
        "x.yaml:8:9: expect: expected a sequence, got a mapping"}},
      {"DuplicateTopLevelField", absl::StrCat(kHead, "  - wait: 1s\nkind: Experiment\n"),
       {"x.yaml:6:1: duplicate field \"kind\" in experiment (first at 2:1)"}},
      // --- metadata -------------------------------------------------------------
      {"MetadataNotAMapping",
       "apiVersion: faultline/v1\nkind: Experiment\nmetadata: [t]\nmethod: [{wait: 1s}]\n",
       {"x.yaml:3:11: metadata: expected a mapping, got a sequence"}},
      {"MetadataNameMissing",
       "apiVersion: faultline/v1\nkind: Experiment\nmetadata:\n  owner: me\nmethod: [{wait: "
       "1s}]\n",
       {"x.yaml:4:3: missing required field \"name\" in metadata"}},
      {"MetadataNameInvalid",
       "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: Quick Start}\nmethod: "
       "[{wait: 1s}]\n",
       {"x.yaml:3:18: metadata.name must be 1..63 lowercase letters, digits and '-', starting "
        "with a letter or digit, got \"Quick Start\""}},
      {"MetadataUnknownField",
       "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: t, onwer: me}\nmethod: "
       "[{wait: 1s}]\n",
       {"x.yaml:3:21: unknown field \"onwer\" in metadata (did you mean \"owner\"?)"}},
      // --- targets --------------------------------------------------------------
      {"UnknownTarget",
       absl::StrCat(kHead, "  - {fault: cpu.pressure, target: dbb, params: {load: 5}, duration: "
                           "1s}\ntargets:\n  db: {agents: [\"h:1\"]}\n  web: {agents: [\"h:2\"]}\n"),
       {"x.yaml:5:35: unknown target \"dbb\" (known: db, web)"}},
      {"TargetRequiredWhenTargetsDefined",
       absl::StrCat(kHead, "  - {fault: cpu.pressure, params: {load: 5}, duration: 1s}\n"
                           "targets: {db: {agents: [\"h:1\"]}}\n"),
       {"x.yaml:5:5: missing required field \"target\" in cpu.pressure step (known: db)"}},
      {"TargetWithoutTargets",
       WithStep("{fault: cpu.pressure, target: db, params: {load: 5}, duration: 1s}"),
       {"x.yaml:5:35: unknown target \"db\" (no targets are defined; remove target to use the "
        "embedded local agent)"}},
      {"BadAgentAddresses",
       absl::StrCat(kHead, "  - wait: 1s\ntargets:\n  db:\n    agents: [db1, \"h:70000\", "
                           "\"unix:run/a.sock\", \"h:1\", \"h:1\"]\n"),
       {"x.yaml:8:14: target \"db\": agents[0] must be host:port with port 1..65535 or "
        "unix:/path, got \"db1\"",
        "x.yaml:8:19: target \"db\": agents[1] must be host:port with port 1..65535 or "
        "unix:/path, got \"h:70000\"",
        "x.yaml:8:30: target \"db\": agents[2] must be host:port with port 1..65535 or "
        "unix:/path, got \"unix:run/a.sock\"",
        "x.yaml:8:56: target \"db\": agents[4] lists agent \"h:1\" more than once"}},
      {"TargetNeedsAgentsOrSelect",
       absl::StrCat(kHead, "  - wait: 1s\ntargets:\n  db: {count: 1}\n  Web: {agents: []}\n"),
       {"x.yaml:7:7: target \"db\" needs agents (addresses) or select (inventory labels; "
        "select: {} selects every agent)",
        "x.yaml:8:3: target name \"Web\" must be 1..63 lowercase letters, digits, '-' and '_', "
        "starting with a letter or digit"}},
      // --- steady_state ---------------------------------------------------------
      {"ProbeWithTwoKinds",
       absl::StrCat(kHead, "  - wait: 1s\nsteady_state:\n  - name: p\n    http: {url: "
                           "\"http://h/\"}\n    tcp: {address: \"h:80\"}\n"),
       {"x.yaml:9:5: probe \"p\" has both http and tcp; use one probe kind per entry"}},
      {"ProbeWithoutKind",
       absl::StrCat(kHead, "  - wait: 1s\nsteady_state:\n  - {name: p, timeout: 1s}\n"),
       {"x.yaml:7:5: probe \"p\" needs one of http, tcp, exec or prometheus"}},
      {"DuplicateProbeNames",
       absl::StrCat(kHead, "  - wait: 1s\nsteady_state:\n  - {name: p, exec: {command: \"true\"}}\n"
                           "  - {name: p, tcp: {address: \"h:1\"}}\n"),
       {"x.yaml:8:12: duplicate probe name \"p\" (first at 7:12)"}},
      {"ProbeTimeoutTooLong",
       absl::StrCat(kHead, "  - wait: 1s\nsteady_state:\n  - {name: p, exec: {command: \"true\"}, "
                           "timeout: 2m}\n"),
       {"x.yaml:7:49: probe \"p\": timeout must be a duration greater than 0 and at most 1m, "
        "got 2m"}},
      {"ProbeHttpsAndBadStatus",
       absl::StrCat(kHead, "  - wait: 1s\nsteady_state:\n  - name: p\n    http: {url: "
                           "\"https://h/\", stauts: 200, status: 700}\n"),
       {"x.yaml:8:17: probe \"p\": http.url must start with http:// and name a host (https is "
        "not supported yet), got \"https://h/\"",
        "x.yaml:8:31: unknown field \"stauts\" in http probe \"p\" (did you mean \"status\"?)",
        "x.yaml:8:52: probe \"p\": http.status must be an http status code 100..599, got 700"}},
      {"ProbeBadTcpAndEmptyExec",
       absl::StrCat(kHead, "  - wait: 1s\nsteady_state:\n  - {name: a, tcp: {address: "
                           "localhost}}\n  - {name: b, exec: {command: \"  \"}}\n"),
       {"x.yaml:7:30: probe \"a\": tcp.address must be host:port with port 1..65535, got "
        "\"localhost\"",
        "x.yaml:8:31: probe \"b\": exec.command must not be empty"}},
      {"SteadyStateNotASequence",
       absl::StrCat(kHead, "  - wait: 1s\nsteady_state: {name: p}\n"),
       {"x.yaml:6:15: steady_state: expected a sequence, got a mapping"}},
      // --- method ---------------------------------------------------------------
      {"EmptyMethod",
       "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: t}\nmethod: []\n",
       {"x.yaml:4:9: method must have at least one step"}},
      {"EmptyBlocksAndPause",
       absl::StrCat(kHead, "  - parallel: []\n  - serial: []\n  - pause: {}\n"),
       {"x.yaml:5:15: parallel must list at least 2 steps, got 0 (a single step needs no "
        "parallel)",
        "x.yaml:6:13: serial must list at least one step",
        "x.yaml:7:12: missing required field \"timeout\" in pause"}},
      {"StepWithoutKind", WithStep("{falut: cpu.pressure, duration: 1s}"),
       {"x.yaml:5:5: method step needs one of fault, wait, parallel, serial or pause",
        "x.yaml:5:6: unknown field \"falut\" in method step (did you mean \"fault\"?)"}},
      {"StepWithTwoKinds", WithStep("{fault: cpu.pressure, wait: 1s}"),
       {"x.yaml:5:27: method step has both \"fault\" and \"wait\"; use one per step"}},
      {"WaitZeroAndUnknownField", WithStep("{wait: 0s, duration: 1s}"),
       {"x.yaml:5:12: wait must be a duration greater than 0 and at most 24h, got 0s",
        "x.yaml:5:16: unknown field \"duration\" in wait step"}},
      {"WaitWithoutUnit", WithStep("wait: 30"),
       {"x.yaml:5:11: wait must be a duration such as 500ms, 30s or 5m, got 30"}},
      {"FaultMissingDurationAndParams", WithStep("fault: cpu.pressure"),
       {"x.yaml:5:5: missing required field \"duration\" in cpu.pressure step",
        "x.yaml:5:5: missing required field \"params\" in cpu.pressure step"}},
      {"FaultDurationTooLong", WithStep("{fault: cpu.pressure, params: {load: 5}, duration: 25h}"),
       {"x.yaml:5:56: cpu.pressure: duration must be a duration greater than 0 and at most 24h, "
        "got 25h"}},
      {"UnknownFaultKind", WithStep("{fault: cpu.presure, params: {load: 5}, duration: 1s}"),
       {"x.yaml:5:13: unknown fault kind \"cpu.presure\" (known: network.delay, network.loss, "
        "network.duplicate, network.corrupt, network.bandwidth, network.partition, cpu.pressure, "
        "memory.pressure, process.kill, process.pause)"}},
      {"NetworkFaultParamsAreChecked",
       WithStep("{fault: network.delay, params: {delay: 1s}, duration: 1s}"),
       {"x.yaml:5:36: network.delay params need interface or destinations (without interface, "
        "the interface of the route to the first destination is used)"}},
      {"ParamsNotAMapping", WithStep("{fault: cpu.pressure, params: [50], duration: 1s}"),
       {"x.yaml:5:35: cpu.pressure params: expected a mapping, got a sequence"}},
      // --- cpu.pressure ---------------------------------------------------------
      {"CpuLoadOutOfRange", WithStep("{fault: cpu.pressure, params: {load: 150}, duration: 1s}"),
       {"x.yaml:5:42: cpu.pressure: load must be an integer 1..100, got 150"}},
      {"CpuLoadNotANumber", WithStep("{fault: cpu.pressure, params: {load: 50%}, duration: 1s}"),
       {"x.yaml:5:42: cpu.pressure: load must be an integer 1..100, got \"50%\""}},
      {"CpuLoadMisspelled",
       WithStep("{fault: cpu.pressure, params: {laod: 50}, duration: 1s}"),
       {"x.yaml:5:35: missing required field \"load\" in cpu.pressure params",
        "x.yaml:5:36: unknown field \"laod\" in cpu.pressure params (did you mean \"load\"?)"}},
      {"CpuWorkersAndCores",
       WithStep("{fault: cpu.pressure, params: {load: 5, workers: -1, cores: [1, x, 1], ramp: "
                "1s}, duration: 1s}"),
       {"x.yaml:5:54: cpu.pressure: workers must be an integer 0..1024 (0 = one per online cpu), "
        "got -1",
        "x.yaml:5:69: cpu.pressure: cores[1] must be a cpu number 0..4095, got \"x\"",
        "x.yaml:5:72: cpu.pressure: cores lists cpu 1 more than once",
        "x.yaml:5:76: \"ramp\" is not supported yet by this version of faultline"}},
      {"CpuDuplicateParam",
       WithStep("{fault: cpu.pressure, params: {load: 5, load: 6}, duration: 1s}"),
       {"x.yaml:5:45: duplicate field \"load\" in cpu.pressure params (first at 5:36)"}},
      // --- memory.pressure ------------------------------------------------------
      {"MemorySizeAndPercent",
       WithStep("{fault: memory.pressure, params: {size: 1Gi, percent: 10}, duration: 1s}"),
       {"x.yaml:5:50: size and percent cannot be used together in memory.pressure params; use "
        "one"}},
      {"MemoryNeitherSizeNorPercent",
       WithStep("{fault: memory.pressure, params: {ramp: 1s}, duration: 1s}"),
       {"x.yaml:5:38: memory.pressure params need one of size or percent"}},
      {"MemoryBadSize", WithStep("{fault: memory.pressure, params: {size: lots}, duration: 1s}"),
       {"x.yaml:5:45: memory.pressure: size must be a size greater than 0 such as 512Mi or 2Gi, "
        "got \"lots\""}},
      {"MemoryZeroPercent",
       WithStep("{fault: memory.pressure, params: {percent: 0}, duration: 1s}"),
       {"x.yaml:5:48: memory.pressure: percent must be a number greater than 0 and at most 100 "
        "(percent of MemTotal), got 0"}},
      {"MemoryRampTooLong",
       WithStep("{fault: memory.pressure, params: {size: 1Mi, ramp: 2h}, duration: 3h}"),
       {"x.yaml:5:56: memory.pressure: ramp must be a duration of at most 1h, got 2h"}},
      {"MemoryRampLongerThanStep",
       WithStep("{fault: memory.pressure, params: {size: 1Mi, ramp: 10s}, duration: 5s}"),
       {"x.yaml:5:56: memory.pressure: ramp must not be longer than the step duration (5s), got "
        "10s"}},
      // --- process.kill / process.pause -----------------------------------------
      {"KillNoSelector", WithStep("{fault: process.kill, params: {signal: KILL}, duration: 1s}"),
       {"x.yaml:5:35: process.kill params need one of pid, name or cmdline to choose the "
        "processes"}},
      {"KillTwoSelectors",
       WithStep("{fault: process.kill, params: {pid: 100, name: x}, duration: 1s}"),
       {"x.yaml:5:46: pid and name cannot be used together in process.kill params; use one"}},
      {"KillPidOne", WithStep("{fault: process.kill, params: {pid: 1}, duration: 1s}"),
       {"x.yaml:5:41: process.kill: pid must be an integer 2..4194304 (pid 1 is never "
        "signalled), got 1"}},
      {"KillNameTooLong",
       WithStep("{fault: process.kill, params: {name: averyveryverylongname}, duration: 1s}"),
       {"x.yaml:5:42: process.kill: name must be at most 15 characters because the kernel "
        "truncates process names (comm) to 15, got \"averyveryverylongname\" (21 characters); "
        "use cmdline to match longer names"}},
      {"KillBadRegex",
       WithStep("{fault: process.kill, params: {cmdline: \"worker(\"}, duration: 1s}"),
       {"x.yaml:5:45: process.kill: cmdline must be an RE2 regex, got \"worker(\": missing ): "
        "worker("}},
      {"KillLookahead",
       WithStep("{fault: process.kill, params: {cmdline: \"worker(?=x)\"}, duration: 1s}"),
       {"x.yaml:5:45: process.kill: cmdline must be an RE2 regex, got \"worker(?=x)\": invalid "
        "perl operator: (?=; RE2 has no lookahead or lookbehind"}},
      {"PauseBackreference",
       WithStep("{fault: process.pause, params: {cmdline: '(a)\\1'}, duration: 1s}"),
       {"x.yaml:5:46: process.pause: cmdline must be an RE2 regex, got \"(a)\\\\1\": invalid "
        "escape sequence: \\1; RE2 has no backreferences"}},
      {"KillBadSignals",
       absl::StrCat(kHead,
                    "  - {fault: process.kill, params: {pid: 2, signal: FOO}, duration: 1s}\n"
                    "  - {fault: process.kill, params: {pid: 2, signal: 65}, duration: 1s}\n"),
       {"x.yaml:5:52: process.kill: signal must be a signal name such as KILL, TERM or STOP, or "
        "a number 1..64, got \"FOO\"",
        "x.yaml:6:52: process.kill: signal must be a signal name such as KILL, TERM or STOP, or "
        "a number 1..64, got 65"}},
      {"KillCountAndPercentAndShortInterval",
       WithStep("{fault: process.kill, params: {pid: 2, count: 0, percent: 10, interval: 10ms}, "
                "duration: 1s}"),
       {"x.yaml:5:51: process.kill: count must be an integer of at least 1, got 0",
        "x.yaml:5:54: count and percent cannot be used together in process.kill params; use one",
        "x.yaml:5:77: process.kill: interval must be a duration of at least 100ms and at most "
        "24h, got 10ms"}},
      {"PauseRejectsKillParams",
       WithStep("{fault: process.pause, params: {name: x, signal: STOP, percent: 101}, "
                "duration: 1s}"),
       {"x.yaml:5:46: unknown field \"signal\" in process.pause params",
        "x.yaml:5:69: process.pause: percent must be a number greater than 0 and at most 100, "
        "got 101"}},
  };
}

class BadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInputTest, ReportsExactDiagnostics) {
  const BadCase& c = GetParam();
  EXPECT_THAT(Problems(c.yaml), ::testing::ElementsAreArray(c.expected)) << c.yaml;
}

INSTANTIATE_TEST_SUITE_P(Spec, BadInputTest, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.name);
                         });

// --- diagnostics as a whole ---------------------------------------------------

TEST(ParseExperimentTest, ReportsEveryProblemInPositionOrder) {
  // Problems are found section by section (method is read after targets and
  // steady_state) but must come out in file order.
  const std::string yaml = R"(apiVersion: faultline/v1
kind: Experiment
method:
  - {fault: cpu.pressure, target: x, params: {load: 0}, duration: 1s}
  - wait: -1s
metadata: {name: ok}
steady_state:
  - {name: p, http: {url: "ftp://h"}}
targets:
  x: {agents: ["nope"]}
)";
  EXPECT_THAT(
      Problems(yaml),
      ElementsAre(
          "x.yaml:4:53: cpu.pressure: load must be an integer 1..100, got 0",
          "x.yaml:5:11: wait must be a duration such as 500ms, 30s or 5m, got \"-1s\"",
          "x.yaml:8:27: probe \"p\": http.url must start with http:// and name a host (https is "
          "not supported yet), got \"ftp://h\"",
          "x.yaml:10:16: target \"x\": agents[0] must be host:port with port 1..65535 or "
          "unix:/path, got \"nope\""));
}

TEST(ParseExperimentTest, StatusNamesTheFirstProblemAndCountsTheRest) {
  std::vector<Diagnostic> diagnostics = {{{"earlier.yaml", 1, 1}, "kept"}};
  absl::StatusOr<Experiment> e = ParseExperiment("- a\n", kFile, &diagnostics);
  ASSERT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(),
            "x.yaml:1:1: expected a mapping at the top level of the experiment, got a sequence");
  ASSERT_EQ(diagnostics.size(), 2u);  // appended, not replaced
  EXPECT_EQ(diagnostics[0].message, "kept");

  e = ParseExperiment("foo: 1\n", kFile, nullptr);
  ASSERT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(),
            "x.yaml:1:1: missing required field \"apiVersion\" in experiment (and 4 more "
            "problems)");
}

// Lookaround is refused at validation time with file:line:col, so the run
// never reaches an agent that would refuse it too.
TEST(ParseExperimentTest, LookaheadIsInvalidArgumentAtItsPosition) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> e = ParseExperiment(
      WithStep("{fault: process.pause, params: {cmdline: \"(?=x)y\"}, duration: 1s}"), kFile,
      &diagnostics);
  ASSERT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(),
            "x.yaml:5:46: process.pause: cmdline must be an RE2 regex, got \"(?=x)y\": invalid "
            "perl operator: (?=; RE2 has no lookahead or lookbehind");
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].where.line, 5);
  EXPECT_EQ(diagnostics[0].where.column, 46);
}

TEST(RegexErrorTest, AcceptsWhatTheAgentAccepts) {
  // Patterns std::regex choked on (stack depth, backtracking) are plain RE2.
  for (const char* ok : {".*x", "(.*)*x", "^postgres: (worker|checkpointer)", "--id=\\d+\\b",
                         "(?i)java .*Main$", "[[:alpha:]]+"}) {
    EXPECT_EQ(RegexError(ok), std::nullopt) << ok;
  }
  EXPECT_EQ(RegexError("(?!x)"), "invalid perl operator: (?!; RE2 has no lookahead or lookbehind");
  EXPECT_EQ(RegexError("(?<=x)"), "invalid perl operator: (?<; RE2 has no lookahead or lookbehind");
  EXPECT_EQ(RegexError("a[b"), "missing ]: [b");
  EXPECT_EQ(RegexError("x{1001}"), "invalid repetition size: {1001}");
  // Same memory budget as the agent: what does not compile there fails here.
  std::string big;
  for (int i = 0; i < 10; ++i) big += "(?:abcdefgh|bcdefghi|cdefghij|defghijk){1000}";
  EXPECT_THAT(RegexError(big).value_or(""), HasSubstr("pattern too large"));
}

TEST(ParseExperimentTest, SyntaxErrorLocationIsOneBased) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> e =
      ParseExperiment("apiVersion: faultline/v1\nmetadata:\n  name: a\n   bad: [\n", kFile,
                      &diagnostics);
  ASSERT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].where.file, kFile);
  EXPECT_EQ(diagnostics[0].where.line, 4);
  EXPECT_EQ(diagnostics[0].where.column, 7);
  EXPECT_THAT(diagnostics[0].message, HasSubstr("yaml syntax error: "));
}

TEST(ParseExperimentTest, DiagnosticToString) {
  EXPECT_EQ((Diagnostic{{"a.yaml", 12, 7}, "boom"}).ToString(), "a.yaml:12:7: boom");
  EXPECT_EQ((Diagnostic{{"a.yaml", 0, 0}, "boom"}).ToString(), "a.yaml: boom");
}

// --- LoadExperiment -------------------------------------------------------------

TEST(LoadExperimentTest, MissingFileIsNotFound) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> e =
      LoadExperiment("/nonexistent/faultline/experiment.yaml", &diagnostics);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(e.status().message(), HasSubstr("/nonexistent/faultline/experiment.yaml"));
  EXPECT_TRUE(diagnostics.empty());
}

TEST(LoadExperimentTest, DirectoryIsInvalidArgument) {
  absl::StatusOr<Experiment> e = LoadExperiment("/", nullptr);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LoadExperimentTest, ReadsAndParsesAFile) {
  char path[] = "/tmp/faultline-spec-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = absl::StrCat(kHead, "  - wait: 2s\n");
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> e = LoadExperiment(path, &diagnostics);
  std::remove(path);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->path, path);
  EXPECT_EQ(e->source_text, text);
  ASSERT_EQ(e->method.size(), 1u);
  EXPECT_EQ(e->method[0].duration, seconds(2));
}

TEST(LoadExperimentTest, LargerThanOneMebibyteIsRefusedBeforeParsing) {
  char path[] = "/tmp/faultline-spec-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  // Valid YAML of 1 MiB + 1 byte: the refusal is about size, not content.
  const std::string text = absl::StrCat(kHead, "  - wait: 2s\n#", std::string(1 << 20, 'x'));
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> e = LoadExperiment(path, &diagnostics);
  std::remove(path);
  ASSERT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].ToString(), absl::StrCat(path, ": experiment file is larger than 1 MiB"));
}

// --- hostile input (the experiment fuzzer's contract, fuzz/) --------------------

// Hostile YAML fails like any other bad experiment: InvalidArgument, one
// diagnostic at a 1-based line and column of the file.
TEST(ParseExperimentTest, HostileYamlIsOneLocatedDiagnostic) {
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    absl::StrAppend(&bomb, "a", i, ": &a", i, " [");
    for (int j = 0; j < 10; ++j) absl::StrAppend(&bomb, j ? ", " : "", "*a", i - 1);
    absl::StrAppend(&bomb, "]\n");
  }
  const std::pair<std::string, std::string> cases[] = {
      {std::string(10000, '['), "x.yaml:1:"},
      {absl::StrCat(kHead, "  - wait: ", std::string(100, '['), std::string(100, ']'), "\n"),
       "x.yaml:5:73: yaml nesting is deeper than 64 levels"},
      {absl::StrCat(kHead, "  - wait: 1s\n", bomb), "nodes (are aliases expanding too much?)"},
      {absl::StrCat(kHead, "  - {wait: 1s\n"), "x.yaml:6:1: yaml syntax error: "},
      {" ,arams: {si", "x.yaml:1:2: yaml syntax error: unexpected \",\""},  // hung yaml-cpp
      {std::string("apiVersion: \"\\q\"\n"), "x.yaml:1:16: yaml syntax error: unknown escape"},
  };
  for (const auto& [yaml, expected] : cases) {
    std::vector<Diagnostic> diagnostics;
    absl::StatusOr<Experiment> e = ParseExperiment(yaml, kFile, &diagnostics);
    ASSERT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << expected;
    ASSERT_EQ(diagnostics.size(), 1u) << expected;
    EXPECT_GE(diagnostics[0].where.line, 1);
    EXPECT_GE(diagnostics[0].where.column, 1);
    EXPECT_THAT(diagnostics[0].ToString(), HasSubstr(expected));
  }
}

}  // namespace
}  // namespace faultline::controller
