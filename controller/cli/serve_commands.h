// The controller-daemon commands of the `faultline` CLI:
//
//   serve --config FILE      run the daemon (controller/serve/daemon.h)
//   submit FILE [--wait]     run an experiment in a running serve; --wait
//                            streams progress and exits with the run's code
//   status RUN               where a run is (status, verdict, open pause gate)
//   note RUN "text"          journal a note for the review
//   continue RUN             open the pause gate the run waits at
//   abort RUN                stop injecting, revert everything, exit 3
//   halt --inventory FILE    halt every agent in parallel (standalone), or
//   halt --server ADDR       through serve (also stops its runs and refuses
//                            new ones until `halt --release`)
//   schedules / fire NAME    serve's schedules; fire one now
//
// Where they talk: --server ADDR, else $FAULTLINE_SERVER. submit, schedules,
// fire and halt --release need a serve and default to 127.0.0.1:7430; status,
// note, continue and abort without a server work on the local journal (the
// Runner of a `faultline run` polls it for continue/abort). halt without a
// server (or when the server cannot be reached and --inventory is given)
// talks to the agents itself.
//
// Each function takes the arguments after the command name, prints to
// stdout/stderr and returns the process exit code: 0 success; 2 invalid input
// or usage, unknown run; 3 unreachable serve or agent, refused (halted), a
// host that failed to halt. `submit --wait` returns the run's exit code (0
// passed, 1 deviated, 2 invalid plan, 3 aborted/failed; 3 for interrupted).
#ifndef FAULTLINE_CONTROLLER_CLI_SERVE_COMMANDS_H_
#define FAULTLINE_CONTROLLER_CLI_SERVE_COMMANDS_H_

#include <string>
#include <vector>

namespace faultline::controller {

int ServeCommand(const std::vector<std::string>& args);
int SubmitCommand(const std::vector<std::string>& args);
int StatusCommand(const std::vector<std::string>& args);
int NoteCommand(const std::vector<std::string>& args);
int ContinueCommand(const std::vector<std::string>& args);
int AbortCommand(const std::vector<std::string>& args);
int HaltCommand(const std::vector<std::string>& args);
int SchedulesCommand(const std::vector<std::string>& args);
int FireCommand(const std::vector<std::string>& args);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_CLI_SERVE_COMMANDS_H_
