// faultline: the controller CLI. Subcommands map onto the stages:
//   validate  spec/  (YAML → typed experiment, every error with file:line:col)
//   run       spec/ → plan/ → run/ (agents over gRPC, probes, journal)
//   runs, show, report   store/ → report/
// Flags are parsed here and nothing else happens here.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/program_options.hpp"
#include "common/logging.h"
#include "common/status.h"
#include "common/units.h"
#include "common/version.h"
#include "controller/cli/plan_command.h"
#include "controller/cli/serve_commands.h"
#include "controller/probes/probe.h"
#include "controller/report/report.h"
#include "controller/run/embedded_agent.h"
#include "controller/run/runner.h"
#include "controller/spec/experiment.h"
#include "controller/store/sqlite_store.h"

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
  report RUN --format F     render a run as md, json or junit
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

struct Common {
  std::string journal;
  std::string journal_durability = "full";
  std::string log_level = "warn";
  std::string log_format = "text";
};

po::options_description CommonOptions(Common* c) {
  po::options_description d("common options");
  d.add_options()
      ("journal", po::value(&c->journal), "journal database (SQLite)")
      ("journal-durability", po::value(&c->journal_durability)->default_value("full"),
       "full (fsync every event) or normal (survives a controller crash, not power loss)")
      ("log-level", po::value(&c->log_level)->default_value("warn"), "trace|debug|info|warn|error")
      ("log-format", po::value(&c->log_format)->default_value("text"), "text|json")
      ("help,h", "show help");
  return d;
}

// Parses `args` against `options` (+ positionals). Returns false and prints
// the problem on a usage error.
bool Parse(const std::vector<std::string>& args, const po::options_description& options,
           const po::positional_options_description& positional, po::variables_map* vm) {
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), *vm);
    po::notify(*vm);
  } catch (const po::error& e) {
    std::cerr << "faultline: " << e.what() << "\n";
    return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<JournalStore>> OpenJournal(const Common& c) {
  FL_ASSIGN_OR_RETURN(JournalDurability durability, ParseJournalDurability(c.journal_durability));
  return OpenSqliteStore(c.journal.empty() ? DefaultJournalPath() : c.journal,
                         JournalOptions{durability});
}

bool InitLogs(const Common& c) {
  absl::Status s = InitLogging("faultline", c.log_level, c.log_format);
  if (!s.ok()) std::cerr << "faultline: " << s.message() << "\n";
  return s.ok();
}

int Validate(const std::vector<std::string>& args) {
  Common common;
  std::vector<std::string> files;
  po::options_description options = CommonOptions(&common);
  options.add_options()("file", po::value(&files), "experiment files");
  po::positional_options_description positional;
  positional.add("file", -1);
  po::variables_map vm;
  if (!Parse(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help") || files.empty()) {
    std::cout << "usage: faultline validate FILE...\n" << options;
    return files.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  int problems = 0;
  for (const std::string& file : files) {
    std::vector<Diagnostic> diagnostics;
    auto experiment = LoadExperiment(file, &diagnostics);
    if (experiment.ok()) {
      std::cout << file << ": ok (" << experiment->method.size() << " steps)\n";
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

std::string Clock(int64_t unix_ms) {
  time_t secs = unix_ms / 1000;
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03d", t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

// Blocks the stop signals in every thread (call before any thread starts) and
// routes them to `stop` from one sigwait thread.
void RouteStopSignals(StopSignal* stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, stop] {
    int count = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (++count == 1) {
        stop->Stop(absl::StrCat("interrupted by ", sig == SIGINT ? "SIGINT (Ctrl-C)" : strsignal(sig)));
        std::cerr << "\nfaultline: stopping — reverting every active fault (Ctrl-C again will not "
                     "skip the revert)\n";
      } else {
        std::cerr << "faultline: still reverting; faults are also bounded by their TTL and lease\n";
      }
    }
  }).detach();
}

int Run(const std::vector<std::string>& args) {
  Common common;
  std::string file, junit;
  bool json = false, dry_run = false;
  std::string lease_ttl_text = "10s";
  std::string inventory_flag;
  uint64_t seed_flag = 0;
  EmbeddedAgentOptions embedded;
  po::options_description options = CommonOptions(&common);
  options.add_options()
      ("file", po::value(&file), "experiment file")
      ("json", po::bool_switch(&json), "print events as JSON lines (for CI)")
      ("junit", po::value(&junit), "write a JUnit XML report to this file at the end")
      ("dry-run", po::bool_switch(&dry_run), "agents validate every fault; nothing is applied")
      ("inventory", po::value(&inventory_flag),
       "inventory file (wins over the experiment's inventory:)")
      ("seed", po::value(&seed_flag), "blast-radius seed (wins over the experiment's seed:)")
      ("lease-ttl", po::value(&lease_ttl_text)->default_value("10s"),
       "dead-man's switch: agents revert this run's faults if not renewed within this")
      ("agent-binary", po::value(&embedded.agent_binary), "faultline-agent for the embedded agent")
      ("embedded-dir", po::value(&embedded.base_dir)->default_value(embedded.base_dir),
       "state directory of embedded agents");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!Parse(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help") || file.empty()) {
    std::cout << "usage: faultline run FILE [--inventory FILE] [--seed N] [--journal DB] [--json] "
                 "[--junit FILE] [--dry-run]\n"
              << options;
    return file.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  auto lease_ttl = ParseDuration(lease_ttl_text);
  if (!lease_ttl.ok() || lease_ttl->count() < 1000) {
    std::cerr << "faultline: --lease-ttl must be a duration of at least 1s\n";
    return kExitInvalid;
  }
  std::vector<Diagnostic> diagnostics;
  auto experiment = LoadExperiment(file, &diagnostics);
  if (!experiment.ok()) {
    if (diagnostics.empty()) std::cerr << file << ": " << experiment.status().message() << "\n";
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
    return kExitInvalid;
  }
  auto prepared = PrepareRun(&*experiment, inventory_flag,
                             vm.count("seed") ? std::optional<uint64_t>(seed_flag) : std::nullopt,
                             &diagnostics);
  if (!prepared.ok()) {
    if (diagnostics.empty()) std::cerr << file << ": " << prepared.status().message() << "\n";
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
    return kExitInvalid;
  }
  auto store = OpenJournal(common);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    return kExitAborted;
  }

  StopSignal stop;
  RouteStopSignals(&stop);
  InitProbes();

  RunOptions run_options;
  run_options.dry_run = dry_run;
  run_options.lease_ttl = *lease_ttl;
  run_options.inventory = prepared->inventory ? &*prepared->inventory : nullptr;
  run_options.default_seed = prepared->default_seed;
  std::unique_ptr<EmbeddedAgent> agent;
  if (prepared->uses_embedded_agent) {
    auto started = EmbeddedAgent::Start(embedded);
    if (!started.ok()) {
      std::cerr << "faultline: " << started.status().message() << "\n";
      return kExitAborted;
    }
    agent = std::move(*started);
    run_options.embedded_address = agent->address();
  }

  auto print = [&](const Event& e) {
    if (json) {
      nlohmann::json line = {{"ts_unix_ms", e.unix_ms}, {"run_id", e.run_id}, {"type", e.type},
                             {"data", e.data}};
      std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
      return;
    }
    std::cout << Clock(e.unix_ms) << "  " << DescribeEvent(e) << std::endl;
  };
  Runner runner(*experiment, store->get(), &stop, run_options, print);
  auto outcome = runner.Run();
  agent.reset();  // stop the embedded agent (it reverts anything still active)
  if (!outcome.ok()) {
    std::cerr << "faultline: " << outcome.status().message() << "\n";
    return kExitAborted;
  }
  if (!junit.empty()) {
    auto run = (*store)->GetRun(outcome->run_id);
    auto events = (*store)->Events(outcome->run_id);
    if (run.ok() && events.ok()) {
      std::ofstream out(junit);
      out << RenderReport(ReportFormat::kJunit, *run, *events);
      if (!out) std::cerr << "faultline: cannot write " << junit << "\n";
    }
  }
  if (!json) {
    std::cout << "\nverdict: " << RunStatusName(outcome->status) << " — " << outcome->verdict
              << "\nrun id:  " << outcome->run_id << "   (faultline show " << outcome->run_id
              << ")\n";
  }
  return outcome->exit_code;
}

int Runs(const std::vector<std::string>& args) {
  Common common;
  std::string experiment;
  int limit = 50;
  po::options_description options = CommonOptions(&common);
  options.add_options()
      ("experiment", po::value(&experiment), "only runs of this experiment")
      ("limit", po::value(&limit)->default_value(50), "at most this many runs");
  po::variables_map vm;
  if (!Parse(args, options, {}, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help")) {
    std::cout << "usage: faultline runs [--experiment NAME] [--limit N]\n" << options;
    return 0;
  }
  auto store = OpenJournal(common);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    return kExitAborted;
  }
  (void)(*store)->MarkInterrupted();
  RunFilter filter;
  filter.experiment = experiment;
  filter.limit = limit;
  auto runs = (*store)->ListRuns(filter);
  if (!runs.ok()) {
    std::cerr << "faultline: " << runs.status().message() << "\n";
    return kExitAborted;
  }
  std::cout << RenderRunsTable(*runs);
  return 0;
}

// `show` and `report`: render one run.
int Render(const std::vector<std::string>& args, bool report) {
  Common common;
  std::string run_id, format = "md", out;
  po::options_description options = CommonOptions(&common);
  options.add_options()("run", po::value(&run_id), "run id or unique prefix");
  if (report) {
    options.add_options()
        ("format", po::value(&format)->default_value("md"), "md|json|junit")
        ("out,o", po::value(&out), "write to this file instead of stdout");
  }
  po::positional_options_description positional;
  positional.add("run", 1);
  po::variables_map vm;
  if (!Parse(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help") || run_id.empty()) {
    std::cout << (report ? "usage: faultline report RUN --format md|json|junit [--out FILE]\n"
                         : "usage: faultline show RUN\n")
              << options;
    return run_id.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  std::optional<ReportFormat> parsed;
  if (report) {
    auto f = ParseReportFormat(format);
    if (!f.ok()) {
      std::cerr << "faultline: " << f.status().message() << "\n";
      return kExitInvalid;
    }
    parsed = *f;
  }
  auto store = OpenJournal(common);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    return kExitAborted;
  }
  (void)(*store)->MarkInterrupted();
  auto run = (*store)->GetRun(run_id);
  if (!run.ok()) {
    std::cerr << "faultline: " << run.status().message() << "\n";
    return kExitInvalid;
  }
  auto events = (*store)->Events(run->run_id);
  if (!events.ok()) {
    std::cerr << "faultline: " << events.status().message() << "\n";
    return kExitAborted;
  }
  std::string text = report ? RenderReport(*parsed, *run, *events) : RenderTimeline(*run, *events);
  if (out.empty()) {
    std::cout << text;
  } else {
    std::ofstream file(out);
    file << text;
    if (!file) {
      std::cerr << "faultline: cannot write " << out << "\n";
      return kExitAborted;
    }
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
  if (command == "run") return Run(args);
  if (command == "runs") return Runs(args);
  if (command == "show") return Render(args, /*report=*/false);
  if (command == "report") return Render(args, /*report=*/true);
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
