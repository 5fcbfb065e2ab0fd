// The drill commands of the `faultline` CLI:
//
//   drill-from RUN [--out FILE] [--journal DB]
//       writes a Drill (YAML) that replays the recorded run RUN exactly: the
//       same hosts, fault offsets, parameters and seed (controller/drill/
//       drill_from.h says what is copied from where). To stdout unless
//       --out names a file.
//
// Each function takes the arguments after the command name and returns the
// exit code: 0 written; 2 usage error, unknown or ambiguous run, or a run
// that applied no fault; 3 journal unreadable (or its run does not match the
// experiment it recorded) or the output file not writable.
#ifndef FAULTLINE_CONTROLLER_CLI_DRILL_COMMANDS_H_
#define FAULTLINE_CONTROLLER_CLI_DRILL_COMMANDS_H_

#include <string>
#include <vector>

namespace faultline::controller {

int DrillFromCommand(const std::vector<std::string>& args);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_CLI_DRILL_COMMANDS_H_
