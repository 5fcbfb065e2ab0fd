// `faultline run FILE`: validate, prepare (inventory, seed), start the
// embedded agent when the experiment targets the local host, then hand the
// experiment to the Runner (controller/run/runner.h), which journals and
// executes it. Prints each event as it is journaled (a clock and one line, or
// JSON lines with --json), writes --junit at the end, and returns the run's
// exit code (0 passed, 1 deviated, 2 invalid input, 3 aborted).
//
// SIGINT/SIGTERM/SIGHUP stop the run: every active fault is reverted before
// the process exits (a second Ctrl-C does not skip the revert).
#ifndef FAULTLINE_CONTROLLER_CLI_RUN_COMMAND_H_
#define FAULTLINE_CONTROLLER_CLI_RUN_COMMAND_H_

#include <string>
#include <vector>

namespace faultline::controller {

// `args` are the arguments after "run".
int RunCommand(const std::vector<std::string>& args);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_CLI_RUN_COMMAND_H_
