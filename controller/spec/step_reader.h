// The `method` of an experiment: YAML steps -> the Step tree (experiment.h).
//
//   - {fault: KIND, target: web | [web, db], params: {...}, duration: 30s,
//      ramp: {...} (ramp.h) | flap: {on: 10s, off: 20s}}
//   - {wait: 30s}
//   - parallel: [step, step, ...]     # at least 2, run together; no pause inside
//   - serial: [step, ...]             # at least 1, one after the other
//   - pause: {message: "check dashboards", timeout: 10m, on_timeout: abort | continue}
//
// parallel and serial nest. A fault step's `target` names one target or lists
// several distinct ones (Step::targets; Step::target is the first). flap
// needs on and off of at least 100ms with on + off within the duration; it
// cannot be combined with ramp and is not available for process.kill.
// Labels: "cpu.pressure on web, db", "cpu.pressure" (local), "wait 30s",
// "parallel (2 steps)", "serial (1 step)", "pause (timeout 10m)".
//
// Internal to controller/spec. Pure functions.
#ifndef FAULTLINE_CONTROLLER_SPEC_STEP_READER_H_
#define FAULTLINE_CONTROLLER_SPEC_STEP_READER_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/spec/experiment.h"
#include "common/yaml/fields.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::controller {

// What the `targets` section declared, for checking step targets.
struct DeclaredTargets {
  bool declared = false;          // a `targets` key exists
  std::set<std::string> names{};  // every key of `targets`, even invalid ones
};

// Reads `method` (a non-empty sequence). Valid steps are appended to `out`.
void ReadMethod(const YamlNode& node, const DeclaredTargets& targets, Diagnostics* diagnostics,
                std::vector<Step>* out);

// Reads one fault step (a mapping whose only step-kind key is `fault`) with
// exactly the rules of a method entry; a drill's timeline entry is read this
// way once its `at` has been taken out. `position` names it when it is not a
// mapping ("timeline[2]"). nullopt after appending every problem.
std::optional<Step> ReadFaultStep(const YamlNode& node, const std::string& position,
                                  const DeclaredTargets& targets, Diagnostics* diagnostics);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_STEP_READER_H_
