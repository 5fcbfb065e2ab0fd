// The review commands of the `faultline` CLI, reading the local journal
// (controller/store) and rendering with controller/report:
//
//   runs                 recorded runs, newest first, filtered
//   show RUN             a run's timeline in the terminal
//   report RUN --format  md | json | junit (| html) [--out FILE]
//
// Each function takes the arguments after the command name and returns the
// exit code: 0 success, 2 usage error or unknown run, 3 journal unreadable or
// output not writable.
#ifndef FAULTLINE_CONTROLLER_CLI_REVIEW_COMMANDS_H_
#define FAULTLINE_CONTROLLER_CLI_REVIEW_COMMANDS_H_

#include <string>
#include <vector>

namespace faultline::controller {

int RunsCommand(const std::vector<std::string>& args);
int ShowCommand(const std::vector<std::string>& args);
int ReportCommand(const std::vector<std::string>& args);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_CLI_REVIEW_COMMANDS_H_
