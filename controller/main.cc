// faultline: the controller CLI. Subcommands map onto the stages:
//   validate  spec/  (YAML → typed experiment, every error with file:line:col)
//   run       spec/ → plan/ → run/ (agents over gRPC, probes, journal)
//   runs, show, report   store/ → report/
// Each command lives in controller/cli/ (run_command.h, review_commands.h,
// plan_command.h, serve_commands.h); this file only dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "boost/program_options.hpp"
#include "common/version.h"
#include "controller/cli/cli_common.h"
#include "controller/cli/drill_commands.h"
#include "controller/cli/plan_command.h"
#include "controller/cli/review_commands.h"
#include "controller/cli/run_command.h"
#include "controller/cli/serve_commands.h"
#include "controller/run/runner.h"
#include "controller/spec/experiment.h"

namespace po = boost::program_options;

namespace faultline::controller {
namespace {

constexpr char kUsage[] = R"(usage: faultline COMMAND [options]

commands:
  validate FILE...          check experiments; every problem as FILE:LINE:COL: message
  plan FILE                 which fault goes to which host, when, with which engine (asks the agents)
  run FILE                  run an experiment (embedded local agent unless it names agents)
  runs                      list recorded runs, newest first
  show RUN                  a run's timeline
  report RUN --format F     render a run as md, html, json or junit (--postmortem: a draft)
  compare RUN_A RUN_B       two runs side by side: verdicts, time to detect/recover, deviations
  drill-from RUN [--out F]  write a Drill that replays a recorded run (same hosts, offsets, seed)
  serve --config FILE       the controller daemon: API on 127.0.0.1:7430, schedules, halt
  submit FILE [--wait]      run an experiment in serve; --wait exits with the run's code
  status RUN                a run's status, verdict and open pause gate
  note RUN "text"           journal a note for the review
  continue RUN              open the pause gate the run waits at
  abort RUN [--reason R]    stop the run: revert everything, exit 3
  halt --inventory FILE     revert every fault on every agent now (or --server: through serve)
  halt --release            let serve start runs again
  schedules / fire NAME     serve's schedules; fire one now

common options: --journal DB (default $FAULTLINE_JOURNAL or /var/lib/faultline/journal.db)
                --journal-durability full|normal (default full: every event fsynced)
                --log-level LEVEL, --log-format text|json, --help, --version
exit codes: 0 passed, 1 steady state deviated, 2 invalid input or usage,
            3 aborted / fault not applied / agent unreachable
)";

int Validate(const std::vector<std::string>& args) {
  CommonFlags common;
  std::vector<std::string> files;
  po::options_description options = CommonOptions(&common);
  options.add_options()("file", po::value(&files), "experiment files");
  po::positional_options_description positional;
  positional.add("file", -1);
  po::variables_map vm;
  if (!ParseArgs(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help") || files.empty()) {
    std::cout << "usage: faultline validate FILE...\n" << options;
    return files.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  int problems = 0;
  for (const std::string& file : files) {
    std::vector<Diagnostic> diagnostics;
    auto experiment = LoadExperiment(file, &diagnostics);
    if (experiment.ok()) {
      if (experiment->kind == "Drill") {
        size_t n = experiment->timeline.size();
        std::cout << file << ": ok (drill: " << n << (n == 1 ? " timeline fault" : " timeline faults")
                  << ")\n";
      } else {
        size_t n = experiment->method.size();
        std::cout << file << ": ok (" << n << (n == 1 ? " step)\n" : " steps)\n");
      }
      continue;
    }
    if (diagnostics.empty()) {
      std::cerr << file << ": " << experiment.status().message() << "\n";
      ++problems;
    }
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
    problems += static_cast<int>(diagnostics.size());
  }
  if (problems > 0) {
    std::cerr << problems << (problems == 1 ? " problem" : " problems") << " found\n";
    return kExitInvalid;
  }
  return 0;
}

int Main(int argc, char** argv) {
  // Debian's Abseil leaves absl::Mutex deadlock detection on; gRPC locks
  // constantly and the cycle bookkeeping was ~10% of the CPU of a
  // 200-agent `faultline halt`.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitInvalid;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "validate") return Validate(args);
  if (command == "plan") return PlanCommand(args);
  if (command == "serve") return ServeCommand(args);
  if (command == "submit") return SubmitCommand(args);
  if (command == "status") return StatusCommand(args);
  if (command == "note") return NoteCommand(args);
  if (command == "continue") return ContinueCommand(args);
  if (command == "abort") return AbortCommand(args);
  if (command == "halt") return HaltCommand(args);
  if (command == "schedules") return SchedulesCommand(args);
  if (command == "fire") return FireCommand(args);
  if (command == "run") return RunCommand(args);
  if (command == "runs") return RunsCommand(args);
  if (command == "show") return ShowCommand(args);
  if (command == "report") return ReportCommand(args);
  if (command == "drill-from") return DrillFromCommand(args);
  if (command == "compare") return CompareCommand(args);
  if (command == "--version" || command == "version") {
    std::cout << "faultline " << kVersion << "\n";
    return 0;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "faultline: unknown command \"" << command << "\"\n" << kUsage;
  return kExitInvalid;
}

}  // namespace
}  // namespace faultline::controller

int main(int argc, char** argv) { return faultline::controller::Main(argc, argv); }
