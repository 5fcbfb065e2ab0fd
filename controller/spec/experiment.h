// The typed experiment: what `experiments/*.yaml` means once it has been read
// and validated. First stage of the controller's data flow
// (YAML -> Experiment -> plan -> run); nothing downstream sees YAML.
//
// ParseExperiment checks everything that can be checked without touching a
// host (types, ranges, references between sections, fault parameters) and
// reports every problem at once as "file:line:col: message", 1-based. A
// returned Experiment is fully valid: each fault step carries the
// v1::FaultSpec that is sent to the agent unchanged (the agent re-validates).
//
// The format is DESIGN.md's "Experiment format" plus the fleet and method
// extensions of the README (inventory, blast radius, parallel/serial/pause
// steps, ramps, flaps, rollback, during-probes, abort_when) and the review
// and drill sections (metadata.hypothesis/roles, notify, alerts, expect, and
// for kind: Drill a timeline and speed instead of method). `schedule` is
// refused with a pointer to the serve config, where schedules live. The
// readers' headers spell out each section's rules: probe_reader.h
// (steady_state, abort_when, rollback), step_reader.h (method), ramp.h,
// drill_reader.h (hypothesis, roles, notify, alerts, expect, timeline,
// speed); drill.h holds ParseSpeed and the standalone alert-source check.
//
// All types are plain values, copyable, not thread-safe for concurrent
// mutation; the functions are pure apart from LoadExperiment's file read.
#ifndef FAULTLINE_CONTROLLER_SPEC_EXPERIMENT_H_
#define FAULTLINE_CONTROLLER_SPEC_EXPERIMENT_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/yaml/diagnostic.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::controller {

// SourceLocation and Diagnostic live in common/yaml (every YAML reader
// shares them); the controller names them as before.
using ::faultline::Diagnostic;
using ::faultline::SourceLocation;

enum class ProbeKind { kHttp, kTcp, kExec, kPrometheus };

// "http", "tcp", "exec" or "prometheus".
const char* ProbeKindName(ProbeKind kind);

// A comparison of a measured number (PromQL result, JSON field) against the
// expected value(s). YAML: "<", "<=", ">", ">=", "==", "between".
enum class Comparison { kLess, kLessEqual, kGreater, kGreaterEqual, kEqual, kBetween };

// "<", "<=", ">", ">=", "==", "between".
const char* ComparisonName(Comparison op);

// One check of a JSON response body: the value at `field` (dotted path with
// [index] for arrays, "data.items[0].state") compared with `value`.
// Strings support only ==; numbers any comparison.
struct JsonCheck {
  std::string field{};
  Comparison op = Comparison::kEqual;
  bool is_number = false;
  double number = 0;        // when is_number (and lower bound of between)
  double number_high = 0;   // upper bound of between
  std::string text{};       // when !is_number; also booleans/null as "true"/"false"/"null"
  SourceLocation where{};
};

// A check of the system under test. Steady-state probes run before and after
// the method; `during` probes run every `interval` while the method runs.
struct Probe {
  std::string name{};  // unique within the experiment
  ProbeKind kind = ProbeKind::kHttp;
  SourceLocation where{};
  std::chrono::milliseconds timeout{std::chrono::seconds(1)};  // (0, 60s]
  // http
  std::string url{};        // "http://..."
  int expect_status = 200;  // 100..599
  std::string body_regex{};  // RE2, searched in the body; "" = no check
  std::vector<JsonCheck> json{};  // all must hold; body must be JSON when set
  std::chrono::milliseconds max_latency{0};  // 0 = no latency limit
  // tcp
  std::string address{};  // "host:port"
  // exec (run with /bin/sh -c)
  std::string command{};
  int expect_exit = 0;
  std::string output_regex{};  // RE2, searched in stdout+stderr; "" = no check
  // prometheus: instant query against `server`, the single result compared
  std::string server{};  // "http://127.0.0.1:9090"
  std::string query{};   // PromQL; must return exactly one sample (scalar or 1-elem vector)
  Comparison op = Comparison::kLess;
  double value = 0;       // (lower bound for between)
  double value_high = 0;  // upper bound for between
  // when
  bool before = true;   // steady state before the method
  bool after = true;    // steady state after the method
  bool during = false;  // continuously while the method runs
  std::chrono::milliseconds interval{std::chrono::seconds(5)};  // during: [100ms, 1h]
  // A deviation is this many consecutive failures (1 = the first failure).
  int failures = 1;
};

// abort_when entry: stop injecting, revert everything and exit 3 when the
// during-probe `probe` has failed `failures` times in a row. (External
// signals - `faultline abort RUN`, `faultline halt`, SIGINT/SIGTERM - always
// abort and need no entry.)
struct AbortCondition {
  std::string probe{};  // names a Probe with during: true
  int failures = 1;     // consecutive, >= 1; YAML default: the probe's failures
  SourceLocation where{};
};

// A named group of agents: explicit addresses, or agents of the inventory
// selected by labels and narrowed by a blast radius.
enum class BlastRadius { kAll, kCount, kPercent };

struct Target {
  std::string name{};
  std::vector<std::string> agents{};  // explicit: "host:port", "[v6]:port" or "unix:/path"
  // from the inventory: every key must match (label == value); empty with no
  // `agents` = every inventory agent
  std::map<std::string, std::string> select{};
  BlastRadius radius = BlastRadius::kAll;
  int count = 0;       // kCount: >= 1
  double percent = 0;  // kPercent: (0, 100], rounded up to at least one host
  SourceLocation where{};
};

// Rollback: what runs after the method, besides the (always) revert of every
// fault. The policy decides when the user-declared actions run:
//   kAlways        after every run (default)
//   kOnDeviation   only when the steady state deviated or the run aborted
//   kNeverForKills like kAlways, but skipped when the run killed processes
//                  (process.kill is not undone; let the supervisor recover)
enum class RollbackPolicy { kAlways, kOnDeviation, kNeverForKills };

// "always", "on-deviation" or "never-for-kills" (the YAML values).
const char* RollbackPolicyName(RollbackPolicy policy);

struct RollbackAction {
  enum class Kind { kExec, kHttp };
  Kind kind = Kind::kExec;
  std::string name{};     // for the journal; defaults to "rollback[i]"
  std::string command{};  // exec: /bin/sh -c, success = exit 0
  std::string url{};      // http: "http://..."
  std::string method = "POST";  // http: GET|POST|PUT|DELETE
  std::string body{};     // http
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  SourceLocation where{};
};

// A fault step whose magnitude changes over its duration: `steps` equal
// slices, the fault re-applied with specs[i] in slice i (specs[0] = from,
// specs.back() = to, linear in between).
struct Ramp {
  std::string param{};  // the ramped parameter, e.g. "delay", "load", "percent"
  std::vector<v1::FaultSpec> specs{};
  std::vector<std::string> summaries{};  // one per spec
};

// A fault step that is switched on for `on`, off for `off`, repeatedly, until
// the step's duration has passed (starting "on").
struct Flap {
  std::chrono::milliseconds on{0};
  std::chrono::milliseconds off{0};
};

enum class StepKind { kFault, kWait, kParallel, kSerial, kPause };

// "fault", "wait", "parallel", "serial" or "pause" (the YAML keys).
const char* StepKindName(StepKind kind);

// What a pause gate does when nobody continues the run within its timeout.
enum class PauseTimeout { kAbort, kContinue };

// One entry of `method` (or of a parallel/serial block).
struct Step {
  StepKind kind = StepKind::kWait;
  SourceLocation where{};
  // "cpu.pressure on db", "cpu.pressure on web, db", "cpu.pressure" (local),
  // "wait 30s", "parallel (2 steps)", "serial (1 step)", "pause (timeout 10m)"
  std::string label{};
  // kFault:
  std::string fault_kind{};      // catalogue name, "cpu.pressure"
  std::string target{};          // first of `targets` ("" = embedded local agent)
  std::vector<std::string> targets{};  // keys into Experiment::targets; empty = embedded agent
  v1::FaultSpec spec{};          // exactly one kind set, matching fault_kind
  std::string params_summary{};  // effective parameters, "load=50 workers=1"
  std::optional<Ramp> ramp{};    // at most one of ramp / flap
  std::optional<Flap> flap{};
  // kFault, kWait: how long the fault is held / the wait; kPause: the gate's
  // timeout. > 0, <= 24h. kParallel / kSerial: 0 (derived from children).
  std::chrono::milliseconds duration{0};
  // kParallel / kSerial: the nested steps (no pause inside parallel).
  std::vector<Step> steps{};
  // kPause:
  std::string message{};  // shown to people at the gate
  PauseTimeout on_timeout = PauseTimeout::kAbort;
};

// `notify:` -- where status updates of a run go (controller/notify).
struct NotifySpec {
  std::string webhook{};  // "http://..." or "https://...": Slack-compatible JSON POSTs
  SourceLocation where{};
};

// A drill's `timeline:` entry: one fault (a kFault step, as a method entry
// would say it) started `at` after the drill starts. Values are as written;
// Experiment::speed compresses them when the method is built.
struct TimelineEntry {
  std::chrono::milliseconds at{0};  // [0, 24h]
  Step step{};                      // kFault; duration as written
  SourceLocation where{};
};

// `expect: - detect: {alert: NAME, within: 5m, labels: {...}}`: the named
// alert must be firing (in Alertmanager, or as received by serve's webhook)
// within `within` of the first fault being applied. Time to detect = first
// seen firing - first fault applied.
struct DetectExpectation {
  std::string alert{};                          // alertname label
  std::map<std::string, std::string> labels{};  // more labels the alert must carry
  std::chrono::milliseconds within{0};          // (0, 24h], wall clock (not compressed by speed)
  SourceLocation where{};
};

// Where time to recover is measured from.
enum class RecoverFrom { kLastRevert, kFirstFault };

// "last-revert" or "first-fault" (the YAML values).
const char* RecoverFromName(RecoverFrom from);

// `expect: - recover: {probe: NAME, within: 2m, from: last-revert}`: the
// steady-state probe NAME must pass again within `within` of the reference
// point. Time to recover = first pass at or after the reference - reference.
struct RecoverExpectation {
  std::string probe{};  // names a steady_state probe
  std::chrono::milliseconds within{0};  // (0, 24h], wall clock
  RecoverFrom from = RecoverFrom::kLastRevert;
  SourceLocation where{};
};

// `alerts:` -- where detect expectations look for firing alerts.
struct AlertSourceSpec {
  // Alertmanager base URL ("http://127.0.0.1:9093"), polled at
  // /api/v2/alerts; "" = alerts received by `faultline serve`'s Alertmanager
  // webhook (only when the run is in serve).
  std::string alertmanager{};
  std::chrono::milliseconds poll{1000};  // [100ms, 1m]
  SourceLocation where{};
};

struct Experiment {
  std::string path{};         // file name given to ParseExperiment
  std::string api_version{};  // "faultline/v1"
  std::string kind{};         // "Experiment" or "Drill"
  // metadata
  std::string name{};  // [a-z0-9][a-z0-9-]*, at most 63 characters
  std::string owner{};
  std::string runbook{};
  std::string description{};
  std::map<std::string, std::string> labels{};  // metadata.labels (tags)
  // metadata.hypothesis: what the team expects to happen, in words.
  std::string hypothesis{};
  // metadata.roles: game-day roles, role -> person
  // ({incident_commander: alice, scribe: bob, observers: "carol, dan"}).
  std::map<std::string, std::string> roles{};
  std::optional<NotifySpec> notify{};
  // Drill only (kind: Drill): the faults at their offsets, and the time
  // compression (`speed: 10x` = 10; (0, 1000]) applied to `at` and durations
  // when `method` is built from the timeline (BuildDrillMethod).
  std::vector<TimelineEntry> timeline{};
  double speed = 1;
  // Both kinds: measured expectations (controller/drill).
  std::vector<DetectExpectation> expect_detect{};
  std::vector<RecoverExpectation> expect_recover{};
  AlertSourceSpec alerts{};
  // `inventory:` resolved against the experiment file's directory; "" = none
  // (targets then list agents explicitly, or --inventory is given).
  std::string inventory_path{};
  std::optional<uint64_t> seed{};  // blast-radius choice; none = random, recorded
  int max_targets = 0;             // 0 = no experiment limit
  std::map<std::string, Target> targets{};  // empty = embedded local agent
  std::vector<Probe> steady_state{};
  std::vector<AbortCondition> abort_when{};
  RollbackPolicy rollback_policy = RollbackPolicy::kAlways;
  std::vector<RollbackAction> rollback_actions{};
  // never empty; for a drill, built from `timeline` (BuildDrillMethod)
  std::vector<Step> method{};
  std::string source_text{};   // the YAML as read (journaled with the run)
};

// The fleet: every agent a controller may talk to, by name.
struct InventoryAgent {
  // unique, shown in plan/run/halt output: 1..253 of [a-z0-9._-], starting
  // with a letter or digit (host names fit); "embedded" is reserved
  std::string name{};
  std::string address{};  // "host:port", "[v6]:port" or "unix:/path"
  std::map<std::string, std::string> labels{};
  // The name this agent's TLS certificate is checked against instead of the
  // address's host ("" = the inventory's tls.server_name, else the host).
  std::string server_name{};
  SourceLocation where{};
};

// The inventory's `tls:` section: mutual TLS for every TCP agent (unix-socket
// agents stay plaintext). Paths are resolved against the inventory file's
// directory when parsed; the files themselves are checked (CheckTlsFiles in
// common/tls.h) when a run or serve uses the inventory, not by the parser.
struct InventoryTls {
  std::string ca{};           // CA bundle agents' certificates must chain to
  std::string cert{};         // the controller's client certificate
  std::string key{};          // its private key
  std::string server_name{};  // "" = each agent's own server_name, else its host
  SourceLocation where{};     // of the `tls` key, for errors about the files

  bool enabled() const { return !ca.empty(); }  // all three are set, or none
};

struct Inventory {
  std::string path{};
  std::vector<InventoryAgent> agents{};  // in file order
  int max_targets = 0;  // 0 = no limit; plans touching more hosts are refused
  InventoryTls tls{};   // `tls: {}` or no `tls:` = plaintext
};

// For kind Drill: (re)builds `method` from `timeline` at `speed` -- one
// parallel step holding, per timeline entry, a serial step of
// [wait at/speed (left out when 0), the fault with duration/speed (ramp and
// flap timings scaled alike)]. ParseExperiment calls it; `faultline run
// --speed` calls it again after changing `speed`. InvalidArgument when a
// scaled duration falls below 1 ms or speed is outside (0, 1000].
absl::Status BuildDrillMethod(Experiment* drill);

// Parses an inventory file's text (`agents: [{name, address, labels,
// server_name}]`, optional `max_targets` and `tls: {ca, cert, key,
// server_name}`), every problem as file:line:col as for experiments. Relative
// tls paths are resolved against the directory of `file_name`. Pure (the tls
// files are not read here).
absl::StatusOr<Inventory> ParseInventory(const std::string& yaml_text,
                                         const std::string& file_name,
                                         std::vector<Diagnostic>* diagnostics);

// Reads and parses an inventory file (same errors as LoadExperiment).
absl::StatusOr<Inventory> LoadInventory(const std::string& path,
                                        std::vector<Diagnostic>* diagnostics);

// Parses and validates `yaml_text`; `file_name` is used in locations and as
// Experiment::path. On failure returns InvalidArgument (message: the first
// problem and how many more) and APPENDS every problem found to
// `diagnostics` (may be null), sorted by position. On success nothing is
// appended. Pure.
absl::StatusOr<Experiment> ParseExperiment(const std::string& yaml_text,
                                           const std::string& file_name,
                                           std::vector<Diagnostic>* diagnostics);

// Reads `path` and calls ParseExperiment. NotFound if the file does not
// exist, PermissionDenied if it cannot be read, InvalidArgument if it is a
// directory, larger than 1 MiB, or not a valid experiment (see above).
absl::StatusOr<Experiment> LoadExperiment(const std::string& path,
                                          std::vector<Diagnostic>* diagnostics);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_EXPERIMENT_H_
