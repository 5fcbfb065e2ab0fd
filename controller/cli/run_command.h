// `faultline run FILE`: validate, prepare (inventory, seed), start the
// embedded agent when the experiment targets the local host, then hand the
// experiment to the Runner (controller/run/runner.h), which journals and
// executes it. Writes --junit at the end and returns the run's exit code (0
// passed, 1 deviated, 2 invalid input, 3 aborted).
//
// Output. --json: one JSON object per journaled event per line, nothing
// else on stdout (CI). Otherwise each event is a clock and one line; when
// stdout is a terminal (not --plain, TERM not "dumb") a live view
// (controller/cli/live_view.h) is redrawn in place under those lines every
// 250 ms and on each event: current step and time left, faults active per
// host, latest probe values, and how to stop. The terminal is left as found
// (modes restored, the final frame left on screen above the verdict).
//
// Notes. When stdin is a terminal this process has in the foreground, every
// non-empty line typed during the run is journaled as "note" {author: $USER
// (CurrentUser), text, source: "terminal"} and acknowledged ("note added").
// With the live view the terminal's echo is off and the line being typed is
// shown under the frame. Reading never delays the exit (poll, 200 ms).
//
// Chat. An experiment with `notify: {webhook: URL}` sends status updates
// (controller/notify/notifier.h) from a background thread; at the end they
// get at most 5 s to be delivered. An invalid webhook is invalid input (2).
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
