// The sections of an experiment that check the system rather than break it:
// `steady_state` (probes), `abort_when` (conditions on during-probes) and
// `rollback` (policy and extra actions). YAML -> Probe / AbortCondition /
// RollbackAction (experiment.h), every problem appended at file:line:col.
//
// YAML (all keys but name and the kind are optional):
//   - name: health                   # unique, [a-z0-9][a-z0-9_-]*
//     http: {url: "http://h/x", status: 200, body_matches: "ok",
//            json: [{field: data.items[0].state, op: "==", value: ok}],
//            max_latency: 200ms}
//     tcp: {address: "h:80"}
//     exec: {command: "./check.sh", exit_code: 0, output_matches: "OK"}
//     prometheus: {server: "http://h:9090", query: "up", op: ">=", value: 1}
//                                    # op between: value: [low, high]
//     timeout: 1s                    # (0, 60s]
//     when: [before, during, after]  # default [before, after]; one word is fine
//     interval: 5s                   # during only, [100ms, 1h]
//     failures: 2                    # consecutive failures that are a deviation
// abort_when: [{probe: health, failures: 3}]   # failures default: the probe's
// rollback: {policy: always | on-deviation | never-for-kills,
//            actions: [{name, exec: {command} | http: {url, method, body}, timeout}]}
//
// json values: an unquoted number is a number; true/false/null (unquoted,
// any case, or an empty value) are kept as the text "true"/"false"/"null";
// everything else is a string. Strings, booleans and null compare only with
// ==. Regexes are checked with the same RE2 rules as process.kill cmdline.
//
// Internal to controller/spec. Pure functions.
#ifndef FAULTLINE_CONTROLLER_SPEC_PROBE_READER_H_
#define FAULTLINE_CONTROLLER_SPEC_PROBE_READER_H_

#include <map>
#include <string>
#include <vector>

#include "controller/spec/experiment.h"
#include "common/yaml/fields.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::controller {

// Every probe name written in steady_state, valid probe or not, with the
// position of the name (so abort_when does not repeat a probe's own error).
using ProbeNames = std::map<std::string, SourceLocation>;

// Reads `steady_state` (a sequence). Valid probes are appended to `out`.
void ReadSteadyState(const YamlNode& node, Diagnostics* diagnostics, std::vector<Probe>* out,
                     ProbeNames* names);

// Reads `abort_when` (a sequence) against the probes read before.
void ReadAbortWhen(const YamlNode& node, const std::vector<Probe>& probes, const ProbeNames& names,
                   Diagnostics* diagnostics, std::vector<AbortCondition>* out);

// Reads `rollback` (a mapping).
void ReadRollback(const YamlNode& node, Diagnostics* diagnostics, RollbackPolicy* policy,
                  std::vector<RollbackAction>* actions);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_PROBE_READER_H_
