// A fault step's `params` read together with its optional `ramp`: the step's
// v1::FaultSpec, summary and, for a ramp, one complete FaultSpec per slice.
//
//   ramp: {from: 50ms, to: 500ms, steps: 10, param: delay}
//
// `param` defaults to the kind's main parameter: cpu.pressure load,
// memory.pressure size (percent when params use percent), network.delay
// delay, network.loss / duplicate / corrupt percent, network.bandwidth rate.
// Also rampable: network.delay jitter. from/to follow the parameter's own
// unit rules (durations, percentages "10" or "10%", sizes, bit rates
// "1mbit"); steps is 2..100 and every slice (duration / steps) lasts at
// least 100ms. Slice i gets from + (to - from) * i / (steps - 1), rounded
// to the parameter's resolution (integers, microseconds, bytes, bits/s).
//
// The ramped parameter may be left out of params; when it is written there
// it must equal ramp.from (the ramp decides it). Each slice's spec is built
// by the same params reader as a plain step with the ramped value put in, so
// it is as valid as any step's spec; a slice that breaks another parameter's
// rule (jitter larger than a ramped delay) is reported with the slice named.
// The step's spec and summary are those of the first slice, the summary with
// the ramped part written "delay=50ms..500ms steps=10".
//
// process.kill cannot ramp; process.pause and network.partition have no
// magnitude to ramp (they can flap).
//
// Internal to controller/spec. Pure functions.
#ifndef FAULTLINE_CONTROLLER_SPEC_RAMP_H_
#define FAULTLINE_CONTROLLER_SPEC_RAMP_H_

#include <chrono>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "controller/spec/experiment.h"
#include "common/yaml/fields.h"
#include "common/yaml/yaml_tree.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::controller {

struct StepParams {
  v1::FaultSpec spec;
  std::string summary;
  std::optional<Ramp> ramp;
};

// Reads `params` (a mapping) of a step of `kind` (a supported kind) and, if
// `ramp` is not null, the ramp. `duration` is the step's duration (0 when it
// is invalid; slice checks are then skipped). Appends every problem; nullopt
// if there was any.
std::optional<StepParams> ReadStepParams(absl::string_view kind, const YamlNode& params,
                                         const YamlNode* ramp, std::chrono::milliseconds duration,
                                         Diagnostics* diagnostics);

// Why `kind` cannot ramp ("process.kill (a kill cannot be scaled or switched
// off)"), or "" if it can.
std::string RampUnavailable(absl::string_view kind);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_RAMP_H_
