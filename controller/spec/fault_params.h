// Fault parameters of a method step: the YAML `params` mapping of one fault
// kind -> the v1::FaultSpec sent to the agent, plus a one-line summary for
// terminals and journals. Names follow the catalogue (DESIGN.md): YAML
// `load` -> CpuPressure.load_pct, `size` -> MemoryPressure.size_bytes, ...
//
// Internal to controller/spec. Pure functions.
#ifndef FAULTLINE_CONTROLLER_SPEC_FAULT_PARAMS_H_
#define FAULTLINE_CONTROLLER_SPEC_FAULT_PARAMS_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/yaml/fields.h"
#include "common/yaml/yaml_tree.h"
#include "faultline/v1/faults.pb.h"

namespace faultline::controller {

// Bounds of process.kill's `interval` (drills keep a scaled interval at or
// above the minimum too).
inline constexpr std::chrono::milliseconds kMinKillInterval{100};
inline constexpr std::chrono::milliseconds kMaxKillInterval = std::chrono::hours(24);

// Fault kinds this version accepts, in catalogue order.
const std::vector<std::string>& SupportedFaultKinds();

// True for catalogue kinds a later version will accept (none today).
bool IsLaterFaultKind(absl::string_view kind);

struct FaultParams {
  v1::FaultSpec spec;
  std::string summary;  // "load=50 workers=1"
};

// Validates `params` (a mapping) for `kind` (one of SupportedFaultKinds()).
// `step_duration` is the step's duration when known (0 otherwise), used for
// cross-checks such as ramp <= duration. Appends every problem; returns
// nullopt if there was any.
std::optional<FaultParams> ReadFaultParams(absl::string_view kind, const YamlNode& params,
                                           std::chrono::milliseconds step_duration,
                                           Diagnostics* diagnostics);

// Linux signal number for "KILL", "SIGKILL", "kill", "9" (1..64); nullopt
// otherwise.
std::optional<int> ParseSignal(absl::string_view text);

// "KILL" for 9, "64" for numbers without a name.
std::string SignalName(int signal);

// nullopt if `pattern` compiles as an RE2 regex with the agent's options
// (byte-wise, same memory budget), else RE2's lowercase reason ("missing ):
// worker(", "invalid perl operator: (?=; RE2 has no lookahead or
// lookbehind").
std::optional<std::string> RegexError(const std::string& pattern);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SPEC_FAULT_PARAMS_H_
