// The review and drill sections of an experiment file, YAML -> the
// Experiment fields of experiment.h, every problem appended at
// file:line:col. ExperimentReader (experiment.cc) calls these.
//
//   metadata.hypothesis: "..."                 # a string, both kinds
//   metadata.roles: {incident_commander: a}    # role [a-z0-9_-]+ -> a string
//   notify: {webhook: URL}                     # http:// or https:// with a host
//   alerts: {alertmanager: URL, poll: 1s}      # URL as for notify; poll [100ms, 1m],
//                                              # default 1s; alertmanager optional
//                                              # ("" = serve's Alertmanager webhook)
//   expect:                                    # a list of one-key mappings
//     - detect: {alert: NAME, within: 5m, labels: {k: v}}
//           # NAME: Prometheus alert name [a-zA-Z_:][a-zA-Z0-9_:]*; within (0, 24h];
//           # labels: Prometheus label names [a-zA-Z_][a-zA-Z0-9_]* -> strings
//     - recover: {probe: NAME, within: 2m, from: last-revert | first-fault}
//           # NAME: a steady_state probe; within (0, 24h]; from default last-revert
//   speed: 10x                                 # Drill only: "10x", "0.5x" or a
//                                              # number, (0, 1000], default 1
//   timeline:                                  # Drill only, required, non-empty
//     - {at: 2m30s, fault: ..., target: ..., params: ..., duration: ..., ramp|flap: ...}
//           # at: [0, 24h]; the rest exactly as a method fault step (step_reader.h)
//
// The same detect (alert and labels) or recover (probe) may be listed once.
// Internal to controller/spec. Pure functions.
#ifndef FAULTLINE_CONTROLLER_SPEC_DRILL_READER_H_
#define FAULTLINE_CONTROLLER_SPEC_DRILL_READER_H_

#include <map>
#include <string>
#include <vector>

#include "controller/spec/experiment.h"
#include "common/yaml/fields.h"
#include "controller/spec/probe_reader.h"
#include "controller/spec/step_reader.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::controller {

// metadata.roles (a mapping).
void ReadRoles(const YamlNode& node, Diagnostics* diagnostics,
               std::map<std::string, std::string>* out);

// notify (a mapping).
void ReadNotify(const YamlNode& node, Diagnostics* diagnostics, Experiment* out);

// alerts (a mapping).
void ReadAlerts(const YamlNode& node, Diagnostics* diagnostics, AlertSourceSpec* out);

// expect (a sequence), against the steady_state probes read before: valid
// entries go to out->expect_detect / out->expect_recover.
void ReadExpect(const YamlNode& node, const ProbeNames& probe_names, Diagnostics* diagnostics,
                Experiment* out);

// speed (a scalar).
void ReadSpeed(const YamlNode& node, Diagnostics* diagnostics, double* out);

// timeline (a non-empty sequence); valid entries are appended to `out`.
void ReadTimeline(const YamlNode& node, const DeclaredTargets& targets, Diagnostics* diagnostics,
                  std::vector<TimelineEntry>* out);

// BuildDrillMethod's work: replaces drill->method with the steps built from
// drill->timeline at drill->speed (see experiment.h), appending a problem per
// scaled duration below its minimum (at the timeline entry). On problems the
// method is left partly built; the caller discards the drill.
void BuildDrillSteps(Experiment* drill, Diagnostics* diagnostics);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_DRILL_READER_H_
