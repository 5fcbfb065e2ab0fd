// Drills and expectations, the parts of the spec API the runner and the CLI
// need besides ParseExperiment: the time compression of a drill (`speed`,
// also `faultline run --speed`), exact duration text for generated files,
// and the check that keeps a standalone run from waiting for alerts it has
// no way to see.
//
// YAML (both kinds unless said; parsed by ParseExperiment, see
// drill_reader.h for every rule):
//   metadata: {hypothesis: "...", roles: {incident_commander: alice}}
//   notify: {webhook: "https://chat.example/hook"}
//   alerts: {alertmanager: "http://127.0.0.1:9093", poll: 1s}
//   expect:
//     - detect: {alert: DatabaseLatencyHigh, within: 5m, labels: {severity: page}}
//     - recover: {probe: health, within: 2m, from: last-revert}
//   kind: Drill only:
//   speed: 10x
//   timeline: [{at: 2m30s, fault: process.kill, target: worker, params: {...}, duration: 1m}]
//
// BuildDrillMethod (declared in experiment.h) is implemented here.
// Pure functions, thread-safe.
#ifndef FAULTLINE_CONTROLLER_SPEC_DRILL_H_
#define FAULTLINE_CONTROLLER_SPEC_DRILL_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/spec/experiment.h"

namespace faultline::controller {

inline constexpr double kMaxSpeed = 1000;

// "10x", "0.5x", "10", "2.5" -> the factor, in (0, 1000]. InvalidArgument
// ("speed must be a number greater than 0 and at most 1000, optionally
// followed by x (10x, 0.5x), got \"fast\"") otherwise.
absl::StatusOr<double> ParseSpeed(absl::string_view text);

// 10 -> "10x", 0.5 -> "0.5x" (shortest form that ParseSpeed reads back).
std::string FormatSpeed(double speed);

// For a run outside `faultline serve`: detect expectations need somewhere to
// look for alerts. OK when the experiment has no detect expectation or names
// alerts.alertmanager; otherwise InvalidArgument "x.yaml:12:5: expect: detect
// of alert \"X\" needs alerts.alertmanager (an Alertmanager URL) when run with
// faultline run; only faultline serve receives alerts by webhook". Pure.
absl::Status CheckStandaloneAlertSource(const Experiment& experiment);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_DRILL_H_
