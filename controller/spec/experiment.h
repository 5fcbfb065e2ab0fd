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
// The format is DESIGN.md's "Experiment format"; keys that
// belong to later versions (inventory, abort_when, schedule, rollback,
// timeline, expect, parallel/serial/pause steps, kind Drill) are recognised
// and rejected with "... is not supported yet by this version of faultline".
//
// All types are plain values, copyable, not thread-safe for concurrent
// mutation; the functions are pure apart from LoadExperiment's file read.
#ifndef FAULTLINE_CONTROLLER_SPEC_EXPERIMENT_H_
#define FAULTLINE_CONTROLLER_SPEC_EXPERIMENT_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::controller {

// A position in an experiment file. line and column are 1-based; 0 means
// unknown.
struct SourceLocation {
  std::string file{};
  int line = 0;
  int column = 0;
};

// One validation problem.
//
// Every member of these structs has a default member initializer, so
// designated initializers (Probe{.name = "x", .kind = ProbeKind::kTcp}) stay
// clean under -Wextra.
struct Diagnostic {
  SourceLocation where{};
  std::string message{};  // lowercase, names the field and what is allowed

  // "file:line:col: message".
  std::string ToString() const;
};

enum class ProbeKind { kHttp, kTcp, kExec };

// "http", "tcp" or "exec".
const char* ProbeKindName(ProbeKind kind);

// A steady-state check, run before and after the method.
struct Probe {
  std::string name{};  // unique within the experiment
  ProbeKind kind = ProbeKind::kHttp;
  SourceLocation where{};
  std::chrono::milliseconds timeout{std::chrono::seconds(1)};  // (0, 60s]
  std::string url{};        // http: "http://..."
  int expect_status = 200;  // http: 100..599
  std::string address{};    // tcp: "host:port"
  std::string command{};    // exec: run with /bin/sh -c, must exit 0
};

// A named set of agents. Experiments without targets use the embedded local
// agent.
struct Target {
  std::string name{};
  std::vector<std::string> agents{};  // "host:port", "[v6]:port" or "unix:/path"
  SourceLocation where{};
};

enum class StepKind { kFault, kWait };

// One entry of `method`, executed in order.
struct Step {
  StepKind kind = StepKind::kWait;
  SourceLocation where{};
  std::string label{};  // "cpu.pressure on db", "cpu.pressure" (local), "wait 30s"
  // kFault only:
  std::string fault_kind{};      // catalogue name, "cpu.pressure"
  std::string target{};          // key into Experiment::targets; "" = embedded local agent
  v1::FaultSpec spec{};          // exactly one kind set, matching fault_kind
  std::string params_summary{};  // effective parameters, "load=50 workers=1"
  // kFault and kWait: how long the fault is held / how long to wait; > 0, <= 24h.
  std::chrono::milliseconds duration{0};
};

struct Experiment {
  std::string path{};         // file name given to ParseExperiment
  std::string api_version{};  // "faultline/v1"
  std::string kind{};         // "Experiment"
  // metadata
  std::string name{};  // [a-z0-9][a-z0-9-]*, at most 63 characters
  std::string owner{};
  std::string runbook{};
  std::string description{};
  std::map<std::string, Target> targets{};  // empty = embedded local agent
  std::vector<Probe> steady_state{};
  std::vector<Step> method{};  // never empty
  std::string source_text{};   // the YAML as read (journaled with the run)
};

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
