#include "controller/cli/serve_commands.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "boost/program_options.hpp"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/units.h"
#include "controller/cli/cli_common.h"
#include "controller/report/report.h"
#include "controller/run/control_events.h"
#include "controller/run/runner.h"
#include "controller/serve/config.h"
#include "controller/serve/daemon.h"
#include "controller/serve/fleet.h"
#include "controller/serve/run_info.h"
#include "controller/spec/experiment.h"
#include "controller/store/sqlite_store.h"
#include "faultline/v1/controller.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace po = boost::program_options;

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

// Options every command here takes.
struct Options {
  std::string journal;
  std::string server;
  std::string log_level = "warn";
  std::string log_format = "text";
  // --tls-* (serve clients: defaults from $FAULTLINE_TLS_*); Parse turns them
  // into `credentials` (null = plaintext).
  TlsFiles tls;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  bool with_server = false;
};

po::options_description CommonOptions(Options* o, bool with_server, bool with_journal,
                                      const char* journal_help =
                                          "journal database when no server is used (default "
                                          "$FAULTLINE_JOURNAL or /var/lib/faultline/journal.db)") {
  po::options_description d("options");
  if (with_server) {
    d.add_options()("server", po::value(&o->server),
                    "faultline serve address (default $FAULTLINE_SERVER)");
    d.add(TlsOptions(&o->tls));
    o->with_server = true;
  }
  if (with_journal) {
    d.add_options()("journal", po::value(&o->journal), journal_help);
  }
  d.add_options()
      ("log-level", po::value(&o->log_level)->default_value(o->log_level),
       "trace|debug|info|warn|error")
      ("log-format", po::value(&o->log_format)->default_value("text"), "text|json")
      ("help,h", "show help");
  return d;
}

// Parses, starts logging and (for commands with --server) checks the TLS
// files; false after printing the problem.
bool Parse(const std::vector<std::string>& args, const po::options_description& options,
           const po::positional_options_description& positional, po::variables_map* vm,
           Options& o) {
  if (!ParseArgs(args, options, positional, vm)) return false;
  absl::Status logs = InitLogging("faultline", o.log_level, o.log_format);
  if (!logs.ok()) {
    std::cerr << "faultline: " << logs.message() << "\n";
    return false;
  }
  if (o.with_server && !vm->count("help")) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        ServeClientCredentials(WithTlsEnvironment(o.tls));
    if (!credentials.ok()) {
      std::cerr << "faultline: " << credentials.status().message() << "\n";
      return false;
    }
    o.credentials = std::move(*credentials);
  }
  return true;
}

// --server, else $FAULTLINE_SERVER, else `fallback` ("" = none).
std::string ServerAddress(const Options& o, const std::string& fallback) {
  if (!o.server.empty()) return o.server;
  const char* env = std::getenv("FAULTLINE_SERVER");
  if (env != nullptr && env[0] != '\0') return env;
  return fallback;
}

std::string Absolute(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int ExitFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return kExitInvalid;
    default:
      return kExitAborted;
  }
}

std::string Utc(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

// A client of one faultline serve.
class Server {
 public:
  // `o.credentials` from Parse (null = plaintext), `o.tls.server_name`.
  Server(std::string address, const Options& o)
      : address_(std::move(address)),
        tls_(o.credentials != nullptr && !o.tls.empty()),
        stub_(v1::ControllerService::NewStub(grpc::CreateCustomChannel(
            address_, o.credentials ? o.credentials : grpc::InsecureChannelCredentials(),
            ChannelArgumentsFor(o.tls)))) {}

  const std::string& address() const { return address_; }
  v1::ControllerService::Stub& stub() { return *stub_; }

  // A context with `deadline` from now.
  static std::unique_ptr<grpc::ClientContext> Context(milliseconds deadline) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + deadline);
    return context;
  }

  // The message for a failed call: unreachable servers say so plainly, and
  // a TLS mismatch is named as the likely cause.
  std::string Error(const grpc::Status& status) const {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      std::string hint;
      const std::string m = absl::AsciiStrToLower(status.error_message());
      const bool dropped = absl::StrContains(m, "socket closed") ||
                           absl::StrContains(m, "connection reset") ||
                           absl::StrContains(m, "end of tcp stream");
      if (!tls_ && dropped) {
        hint = " (the connection was dropped: serve probably requires TLS; pass --tls-ca, "
               "--tls-cert and --tls-key or set $FAULTLINE_TLS_CA/_CERT/_KEY)";
      } else if (tls_ && (dropped || absl::StrContains(m, "ssl") ||
                          absl::StrContains(m, "handshake"))) {
        hint = " (the TLS handshake failed: serve may not use TLS, or its certificate does not "
               "chain to --tls-ca or name the address's host; see --tls-server-name)";
      }
      return absl::StrCat("cannot reach faultline serve at ", address_, ": ",
                          status.error_message(), hint);
    }
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      return absl::StrCat("faultline serve at ", address_, " refused this client: ",
                          status.error_message(),
                          tls_ ? "" : " (pass --tls-ca, --tls-cert and --tls-key)");
    }
    return status.error_message();
  }

 private:
  std::string address_;
  bool tls_ = false;
  std::unique_ptr<v1::ControllerService::Stub> stub_;
};

int FailCall(const Server& server, const grpc::Status& status) {
  std::cerr << "faultline: " << server.Error(status) << "\n";
  return ExitFor(FromGrpcStatus(status));
}

Event ToEvent(const v1::JournalEvent& e) {
  Event event;
  event.seq = e.seq();
  event.run_id = e.run_id();
  event.unix_ms = e.unix_ms();
  event.type = e.type();
  event.data = nlohmann::json::parse(e.data_json(), nullptr, /*allow_exceptions=*/false);
  if (event.data.is_discarded()) event.data = nlohmann::json::object();
  return event;
}

// A run's exit code as the CLI returns it: interrupted and skipped runs have
// none (-1) and count as aborted.
int RunExitCode(int exit_code) { return exit_code >= 0 ? exit_code : kExitAborted; }

// Prints why a file could not be loaded: every diagnostic (file:line:col),
// or "<what>: <message>" when there is none. Returns kExitInvalid.
int ReportLoadFailure(absl::string_view what, const absl::Status& status,
                      const std::vector<Diagnostic>& diagnostics) {
  if (diagnostics.empty()) std::cerr << what << ": " << status.message() << "\n";
  for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
  return kExitInvalid;
}

// A run in the local journal (--journal, else the default), for commands
// used without a faultline serve.
struct LocalRun {
  std::unique_ptr<JournalStore> store;
  RunRecord run;
};

// Opens the local journal, marks the runs of dead controllers interrupted
// (so a crashed run shows as such) and finds `run_id` in it. On failure
// prints the problem, sets *exit_code (kExitAborted when the journal cannot
// be opened; kExitInvalid for an unknown run) and returns nullopt.
std::optional<LocalRun> OpenLocalRun(const Options& o, const std::string& run_id,
                                     int* exit_code) {
  auto store = OpenSqliteStore(o.journal.empty() ? DefaultJournalPath() : o.journal);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    *exit_code = kExitAborted;
    return std::nullopt;
  }
  (void)(*store)->MarkInterrupted();
  absl::StatusOr<RunRecord> run = (*store)->GetRun(run_id);
  if (!run.ok()) {
    std::cerr << "faultline: " << run.status().message() << "\n";
    *exit_code = ExitFor(run.status());
    return std::nullopt;
  }
  return LocalRun{std::move(*store), std::move(*run)};
}

// ---------------------------------------------------------------- serve

int ServeMain(const std::vector<std::string>& args) {
  Options o;
  o.log_level = "info";
  std::string config_path, listen, ready_file;
  bool check = false, insecure = false;
  po::options_description options = CommonOptions(
      &o, false, true, "journal database (wins over the config's journal:; default "
                       "$FAULTLINE_JOURNAL or /var/lib/faultline/journal.db)");
  options.add_options()
      ("config", po::value(&config_path), "serve config (YAML)")
      ("listen", po::value(&listen), "override the config's listen address (HOST:PORT, port 0 = any)")
      ("ready-file", po::value(&ready_file), "once serving, write the bound address here")
      ("insecure", po::bool_switch(&insecure),
       "allow a plaintext listener on an address other hosts can reach (no config tls)")
      ("check", po::bool_switch(&check),
       "validate the config, its inventory and every scheduled experiment, then exit");
  po::variables_map vm;
  if (!Parse(args, options, {}, &vm, o)) return kExitInvalid;
  if (vm.count("help") || config_path.empty()) {
    std::cout << "usage: faultline serve --config FILE [--listen ADDR] [--journal DB] [--check]\n"
              << options;
    return config_path.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<ServeConfig> config = LoadServeConfig(config_path, &diagnostics);
  if (!config.ok()) return ReportLoadFailure("faultline", config.status(), diagnostics);
  if (!listen.empty()) config->listen = listen;
  if (!o.journal.empty()) config->journal = o.journal;
  if (check) {
    int problems = 0;
    if (!config->inventory_path.empty()) {
      absl::StatusOr<Inventory> inventory = LoadInventory(config->inventory_path, &diagnostics);
      if (!inventory.ok() && diagnostics.empty()) {
        std::cerr << config->inventory_path << ": " << inventory.status().message() << "\n";
        ++problems;
      }
      if (inventory.ok()) {
        if (absl::StatusOr<AgentTls> tls = AgentTls::Create(&*inventory, TlsFiles()); !tls.ok()) {
          std::cerr << tls.status().message() << "\n";
          ++problems;
        }
      }
    }
    if (!config->tls.empty()) {
      if (absl::Status tls = CheckTlsFiles(config->tls); !tls.ok()) {
        std::cerr << config_path << ": tls: " << tls.message() << "\n";
        ++problems;
      }
    }
    if (config->tls.empty() && !IsLocalOnlyAddress(config->listen) && !insecure) {
      std::cerr << config_path << ": listen " << config->listen
                << " is reachable from other hosts: set tls (or --insecure)\n";
      ++problems;
    }
    for (const ScheduleConfig& s : config->schedules) {
      absl::StatusOr<Experiment> e = LoadExperiment(s.experiment_path, &diagnostics);
      if (!e.ok() && diagnostics.empty()) {
        std::cerr << s.experiment_path << ": " << e.status().message() << "\n";
        ++problems;
      }
    }
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
    problems += static_cast<int>(diagnostics.size());
    if (problems > 0) return kExitInvalid;
    std::cout << config_path << ": ok (" << config->schedules.size() << " schedules)\n";
    return 0;
  }

  // Signals go to one sigwait below; every thread started from here on
  // inherits the blocked mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  DaemonOptions daemon_options;
  daemon_options.ready_file = ready_file;
  daemon_options.insecure = insecure;
  absl::StatusOr<std::unique_ptr<ServeDaemon>> daemon =
      ServeDaemon::Create(*config, daemon_options, &diagnostics);
  if (!daemon.ok()) {
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
    std::cerr << "faultline serve: " << daemon.status().message() << "\n";
    return daemon.status().code() == absl::StatusCode::kInvalidArgument ? kExitInvalid
                                                                        : kExitAborted;
  }
  absl::StatusOr<std::string> address = (*daemon)->Start();
  if (!address.ok()) {
    std::cerr << "faultline serve: " << address.status().message() << "\n";
    return kExitAborted;
  }
  std::cerr << "faultline serve: listening on " << *address << " (" << config->schedules.size()
            << " schedules)\n";
  int sig = 0;
  while (true) {
    if (sigwait(&set, &sig) != 0) continue;
    // With tls, SIGHUP re-reads the certificate files (runs and open
    // connections are untouched); without, it stops serve as before.
    if (sig != SIGHUP || config->tls.empty()) break;
    absl::Status reloaded = (*daemon)->ReloadTls();
    if (reloaded.ok()) {
      std::cerr << "faultline serve: SIGHUP: reloaded tls files\n";
    } else {
      std::cerr << "faultline serve: SIGHUP: tls files not reloaded (the old ones stay in "
                   "force): "
                << reloaded.message() << "\n";
    }
  }
  std::cerr << "faultline serve: " << strsignal(sig)
            << ": stopping active runs (each reverts its faults)\n";
  (*daemon)->Shutdown(strsignal(sig));
  return 0;
}

// ---------------------------------------------------------------- submit

int Watch(Server& server, const std::string& run_id, bool json) {
  v1::WatchRunRequest request;
  request.set_run_id(run_id);
  grpc::ClientContext context;  // no deadline: runs last as long as they last
  std::unique_ptr<grpc::ClientReader<v1::WatchRunResponse>> reader =
      server.stub().WatchRun(&context, request);
  v1::WatchRunResponse message;
  std::optional<v1::RunSummary> final_run;
  while (reader->Read(&message)) {
    if (message.finished()) {
      final_run = message.run();
      continue;
    }
    Event e = ToEvent(message.event());
    if (json) {
      nlohmann::json line = {{"ts_unix_ms", e.unix_ms}, {"run_id", e.run_id}, {"type", e.type},
                             {"data", e.data}};
      std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                << std::endl;
    } else if (!IsAuditEvent(e)) {
      std::cout << Clock(e.unix_ms) << "  " << DescribeEvent(e) << std::endl;
    }
  }
  grpc::Status status = reader->Finish();
  if (!final_run.has_value()) {
    std::cerr << "faultline: lost the run's progress: "
              << (status.ok() ? "stream ended early" : server.Error(status)) << "\n"
              << "faultline: the run continues in faultline serve; see faultline status "
              << run_id << "\n";
    return kExitAborted;
  }
  if (!json) {
    std::cout << "\nverdict: " << final_run->status();
    if (!final_run->verdict().empty()) std::cout << " — " << final_run->verdict();
    std::cout << "\nrun id:  " << final_run->run_id() << "   (faultline show "
              << final_run->run_id() << ")\n";
  }
  return RunExitCode(final_run->exit_code());
}

int SubmitMain(const std::vector<std::string>& args) {
  Options o;
  std::string file, inventory_flag, by = CurrentUser();
  uint64_t seed = 0;
  bool wait = false, dry_run = false, json = false;
  po::options_description options = CommonOptions(&o, true, false);
  options.add_options()
      ("file", po::value(&file), "experiment file")
      ("wait", po::bool_switch(&wait), "stream progress; exit with the run's exit code")
      ("json", po::bool_switch(&json), "with --wait: events as JSON lines")
      ("inventory", po::value(&inventory_flag),
       "inventory file (wins over the experiment's inventory: and serve's)")
      ("seed", po::value(&seed), "blast-radius seed (wins over the experiment's seed:)")
      ("dry-run", po::bool_switch(&dry_run), "agents validate every fault; nothing is applied")
      ("by", po::value(&by)->default_value(by), "who submits (journaled)");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!Parse(args, options, positional, &vm, o)) return kExitInvalid;
  if (vm.count("help") || file.empty()) {
    std::cout << "usage: faultline submit FILE [--server ADDR] [--wait] [--inventory FILE] "
                 "[--seed N] [--dry-run]\n"
              << options;
    return file.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  // Validated here too, so mistakes show up with file:line:col before any
  // round trip; the daemon validates again.
  std::vector<Diagnostic> diagnostics;
  const std::string path = Absolute(file);
  absl::StatusOr<Experiment> experiment = LoadExperiment(path, &diagnostics);
  if (!experiment.ok()) return ReportLoadFailure(file, experiment.status(), diagnostics);
  v1::SubmitRunRequest request;
  request.set_experiment_text(experiment->source_text);
  request.set_experiment_path(path);
  std::string inventory_path =
      !inventory_flag.empty() ? Absolute(inventory_flag) : experiment->inventory_path;
  if (!inventory_path.empty()) {
    absl::StatusOr<Inventory> inventory = LoadInventory(inventory_path, &diagnostics);
    if (!inventory.ok()) {
      return ReportLoadFailure(inventory_path, inventory.status(), diagnostics);
    }
    absl::StatusOr<std::string> text = ReadText(inventory_path);
    if (!text.ok()) {
      std::cerr << "faultline: " << text.status().message() << "\n";
      return kExitInvalid;
    }
    request.set_inventory_path(inventory_path);
    request.set_inventory_text(*text);
  }
  if (vm.count("seed")) request.set_seed(seed);
  request.set_dry_run(dry_run);
  request.set_submitted_by(by);

  Server server(ServerAddress(o, kDefaultServeAddress), o);
  v1::SubmitRunResponse response;
  grpc::Status status =
      server.stub().SubmitRun(Server::Context(std::chrono::seconds(60)).get(), request, &response);
  if (!status.ok()) return FailCall(server, status);
  if (!wait) {
    std::cout << response.run_id() << "\n";
    return 0;
  }
  if (!json) {
    std::cout << "run " << response.run_id() << " submitted to faultline serve at "
              << server.address() << "\n";
  }
  return Watch(server, response.run_id(), json);
}

// ---------------------------------------------------------------- status

void PrintStatus(const v1::RunSummary& run, const std::string& waiting_gate,
                 const std::string& waiting_message, const std::vector<Event>& events) {
  std::cout << "run:        " << run.run_id() << "\n"
            << "experiment: " << run.experiment()
            << (run.experiment_path().empty() ? "" : absl::StrCat(" (", run.experiment_path(), ")"))
            << "\n"
            << "status:     " << run.status()
            << (run.exit_code() >= 0 ? absl::StrCat(" (exit ", run.exit_code(), ")") : "")
            << (run.active_here() ? "  [running in faultline serve]" : "")
            << (run.dry_run() ? "  [dry run]" : "") << "\n"
            << "started:    " << Utc(run.started_unix_ms()) << " on " << run.host() << "\n";
  if (run.ended_unix_ms() > 0) {
    std::cout << "ended:      " << Utc(run.ended_unix_ms()) << " (took "
              << FormatDuration(milliseconds(run.ended_unix_ms() - run.started_unix_ms()))
              << ")\n";
  }
  if (!run.verdict().empty()) std::cout << "verdict:    " << run.verdict() << "\n";
  if (!waiting_gate.empty()) {
    std::cout << "waiting:    at pause gate " << waiting_gate
              << (waiting_message.empty() ? "" : absl::StrCat(": ", waiting_message))
              << "\n            faultline continue " << run.run_id() << "\n";
  }
  if (!events.empty()) {
    const Event& last = events.back();
    std::cout << "last event: " << Clock(last.unix_ms) << "  " << DescribeEvent(last) << "\n";
  }
}

int StatusMain(const std::vector<std::string>& args) {
  Options o;
  std::string run_id;
  po::options_description options = CommonOptions(&o, true, true);
  options.add_options()("run", po::value(&run_id), "run id or unique prefix/suffix");
  po::positional_options_description positional;
  positional.add("run", 1);
  po::variables_map vm;
  if (!Parse(args, options, positional, &vm, o)) return kExitInvalid;
  if (vm.count("help") || run_id.empty()) {
    std::cout << "usage: faultline status RUN [--server ADDR | --journal DB]\n" << options;
    return run_id.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  const std::string address = ServerAddress(o, "");
  if (!address.empty()) {
    Server server(address, o);
    v1::GetRunRequest request;
    request.set_run_id(run_id);
    v1::GetRunResponse response;
    grpc::Status status =
        server.stub().GetRun(Server::Context(std::chrono::seconds(30)).get(), request, &response);
    if (!status.ok()) return FailCall(server, status);
    std::vector<Event> events;
    if (response.events_size() > 0) events.push_back(ToEvent(*response.events().rbegin()));
    PrintStatus(response.run(), response.waiting_gate(), response.waiting_message(), events);
    return 0;
  }
  int exit_code = 0;
  std::optional<LocalRun> local = OpenLocalRun(o, run_id, &exit_code);
  if (!local.has_value()) return exit_code;
  const RunRecord& run = local->run;
  absl::StatusOr<std::vector<Event>> events = local->store->Events(run.run_id);
  if (!events.ok()) {
    std::cerr << "faultline: " << events.status().message() << "\n";
    return kExitAborted;
  }
  RunInfo info = SummarizeRun(run, *events);
  v1::RunSummary summary;
  summary.set_run_id(run.run_id);
  summary.set_experiment(run.experiment);
  summary.set_experiment_path(run.experiment_path);
  summary.set_status(RunStatusName(run.status));
  summary.set_exit_code(run.exit_code);
  summary.set_started_unix_ms(run.started_unix_ms);
  summary.set_ended_unix_ms(run.ended_unix_ms);
  summary.set_host(run.host);
  summary.set_dry_run(run.dry_run);
  summary.set_verdict(info.verdict);
  std::vector<Event> last;
  if (!events->empty()) last.push_back(events->back());
  PrintStatus(summary, info.waiting_gate, info.waiting_message, last);
  return 0;
}

// ---------------------------------------------------------------- note / continue / abort

enum class Control { kNote, kContinue, kAbort };

int ControlMain(const std::vector<std::string>& args, Control kind) {
  Options o;
  std::string run_id, text, gate, reason, by = CurrentUser();
  po::options_description options = CommonOptions(&o, true, true);
  options.add_options()("run", po::value(&run_id), "run id or unique prefix/suffix");
  po::positional_options_description positional;
  positional.add("run", 1);
  const char* usage = "";
  switch (kind) {
    case Control::kNote:
      options.add_options()("text", po::value(&text), "the note")
          ("author", po::value(&by)->default_value(by), "who writes it");
      positional.add("text", 1);
      usage = "usage: faultline note RUN \"text\" [--author NAME] [--server ADDR | --journal DB]\n";
      break;
    case Control::kContinue:
      options.add_options()("gate", po::value(&gate), "step path of the gate (default: the open one)")
          ("by", po::value(&by)->default_value(by), "who opens it");
      usage = "usage: faultline continue RUN [--gate PATH] [--server ADDR | --journal DB]\n";
      break;
    case Control::kAbort:
      options.add_options()("reason", po::value(&reason), "why (journaled)")
          ("by", po::value(&by)->default_value(by), "who aborts");
      usage = "usage: faultline abort RUN [--reason TEXT] [--server ADDR | --journal DB]\n";
      break;
  }
  po::variables_map vm;
  if (!Parse(args, options, positional, &vm, o)) return kExitInvalid;
  bool missing = run_id.empty() || (kind == Control::kNote && text.empty());
  if (vm.count("help") || missing) {
    std::cout << usage << options;
    return missing && !vm.count("help") ? kExitInvalid : 0;
  }
  if (kind == Control::kAbort && reason.empty()) reason = absl::StrCat("aborted by ", by);
  auto done = [&](const std::string& id, const std::string& status) {
    switch (kind) {
      case Control::kNote:
        std::cout << "note added to run " << id << " (" << status << ")\n";
        break;
      case Control::kContinue:
        std::cout << "continue sent to run " << id << "; it opens its pause gate within a second\n";
        break;
      case Control::kAbort:
        std::cout << "abort requested for run " << id
                  << "; it stops injecting, reverts every fault and exits 3\n";
        break;
    }
    return 0;
  };

  const std::string address = ServerAddress(o, "");
  if (!address.empty()) {
    Server server(address, o);
    v1::ControlResponse response;
    grpc::Status status;
    auto context = Server::Context(std::chrono::seconds(30));
    if (kind == Control::kNote) {
      v1::AddNoteRequest request;
      request.set_run_id(run_id);
      request.set_text(text);
      request.set_author(by);
      status = server.stub().AddNote(context.get(), request, &response);
    } else if (kind == Control::kContinue) {
      v1::ContinueRunRequest request;
      request.set_run_id(run_id);
      request.set_gate(gate);
      request.set_by(by);
      status = server.stub().ContinueRun(context.get(), request, &response);
    } else {
      v1::AbortRunRequest request;
      request.set_run_id(run_id);
      request.set_reason(reason);
      request.set_by(by);
      status = server.stub().AbortRun(context.get(), request, &response);
    }
    if (!status.ok()) return FailCall(server, status);
    return done(response.run_id(), response.run_status());
  }

  int exit_code = 0;
  std::optional<LocalRun> local = OpenLocalRun(o, run_id, &exit_code);
  if (!local.has_value()) return exit_code;
  const RunRecord& run = local->run;
  JournalStore* store = local->store.get();
  if (kind != Control::kNote && IsFinal(run.status)) {
    std::cerr << "faultline: run " << run.run_id << " already ended ("
              << RunStatusName(run.status) << ")\n";
    return kExitInvalid;
  }
  absl::Status appended;
  if (kind == Control::kNote) {
    appended = store->Append(run.run_id, kEventNote, {{"text", text}, {"author", by}});
  } else if (kind == Control::kContinue) {
    appended = store->Append(run.run_id, kEventContinue, {{"by", by}, {"gate", gate}});
  } else {
    appended = store->Append(run.run_id, kEventAbortRequested, {{"by", by}, {"reason", reason}});
  }
  if (!appended.ok()) {
    std::cerr << "faultline: " << appended.message() << "\n";
    return kExitAborted;
  }
  return done(run.run_id, RunStatusName(run.status));
}

// ---------------------------------------------------------------- halt

// One line per host, then a summary. Returns the number of failed hosts.
int PrintHalt(const std::vector<HostResult>& hosts) {
  size_t width = 0;
  for (const HostResult& h : hosts) width = std::max(width, h.host.size());
  int failed = 0;
  for (const HostResult& h : hosts) {
    std::string line = absl::StrFormat("%-*s  %s  ", static_cast<int>(width), h.host, h.address);
    if (!h.ok && h.reverted.empty()) {
      absl::StrAppend(&line, "FAILED: ", h.error);
    } else {
      if (h.reverted.empty()) {
        absl::StrAppend(&line, "ok, nothing was active");
      } else {
        absl::StrAppend(&line, "ok, reverted ", h.reverted.size(), " fault",
                        h.reverted.size() == 1 ? "" : "s", ":");
        for (const v1::FaultStatus& f : h.reverted) {
          absl::StrAppend(&line, " ", f.fault_id(), " (", f.kind(),
                          f.run_id().empty() ? "" : ", run " + f.run_id(), ")");
        }
      }
      if (!h.ok) absl::StrAppend(&line, "; FAILED: ", h.error);
    }
    for (const std::string& e : h.agent_errors) absl::StrAppend(&line, "\n    ", e);
    absl::StrAppend(&line, "   [", h.elapsed.count(), "ms]");
    std::cout << line << "\n";
    failed += h.ok ? 0 : 1;
  }
  std::cout << "halt: " << hosts.size() - static_cast<size_t>(failed) << " of " << hosts.size()
            << " hosts ok";
  if (failed > 0) {
    std::cout << ", " << failed << " failed (their faults still end by TTL and lease expiry)";
  }
  std::cout << "\n";
  return failed;
}

int HaltMain(const std::vector<std::string>& args) {
  Options o;
  std::string inventory_path, deadline_text = "2s", reason, by = CurrentUser();
  bool release = false;
  po::options_description options = CommonOptions(&o, true, false);
  options.add_options()
      ("inventory", po::value(&inventory_path), "halt every agent of this inventory")
      ("deadline", po::value(&deadline_text)->default_value(deadline_text),
       "per agent; a host that does not answer in time is reported and skipped")
      ("reason", po::value(&reason), "why (journaled, shown while halted)")
      ("by", po::value(&by)->default_value(by), "who halts")
      ("release", po::bool_switch(&release), "let faultline serve start runs again");
  po::variables_map vm;
  if (!Parse(args, options, {}, &vm, o)) return kExitInvalid;
  const std::string address =
      ServerAddress(o, release && inventory_path.empty() ? kDefaultServeAddress : "");
  if (vm.count("help") || (address.empty() && inventory_path.empty())) {
    std::cout << "usage: faultline halt --inventory FILE [--deadline 2s] [--reason TEXT]\n"
                 "       faultline halt --server ADDR [--deadline 2s] [--reason TEXT]\n"
                 "       faultline halt --release [--server ADDR]\n"
              << options;
    return vm.count("help") ? 0 : kExitInvalid;
  }
  absl::StatusOr<milliseconds> deadline = ParseDuration(deadline_text);
  if (!deadline.ok() || deadline->count() < 1) {
    std::cerr << "faultline: --deadline must be a duration such as 2s or 500ms\n";
    return kExitInvalid;
  }
  if (reason.empty()) reason = "faultline halt";

  if (release) {
    if (address.empty()) {
      std::cerr << "faultline: --release needs a faultline serve (--server or $FAULTLINE_SERVER)\n";
      return kExitInvalid;
    }
    Server server(address, o);
    v1::ReleaseRequest request;
    request.set_by(by);
    v1::ReleaseResponse response;
    grpc::Status status =
        server.stub().Release(Server::Context(std::chrono::seconds(30)).get(), request, &response);
    if (!status.ok()) return FailCall(server, status);
    if (response.was_halted()) {
      std::cout << "released: faultline serve at " << server.address()
                << " starts runs again (it was halted by " << response.halted_by() << " at "
                << Utc(response.halted_unix_ms()) << ": " << response.reason() << ")\n";
    } else {
      std::cout << "faultline serve at " << server.address() << " was not halted\n";
    }
    return 0;
  }

  if (!address.empty()) {
    Server server(address, o);
    v1::HaltFleetRequest request;
    request.set_reason(reason);
    request.set_by(by);
    request.set_deadline_ms(static_cast<uint64_t>(deadline->count()));
    v1::HaltFleetResponse response;
    // Serve needs the per-agent deadline plus its own bookkeeping.
    grpc::Status status = server.stub().Halt(
        Server::Context(*deadline + std::chrono::seconds(5)).get(), request, &response);
    if (status.ok()) {
      std::vector<HostResult> hosts;
      for (const v1::HostHalt& h : response.hosts()) {
        HostResult r;
        r.host = h.host();
        r.address = h.address();
        r.ok = h.ok();
        r.error = h.error();
        r.reverted.assign(h.reverted().begin(), h.reverted().end());
        r.agent_errors.assign(h.agent_errors().begin(), h.agent_errors().end());
        r.elapsed = milliseconds(h.elapsed_ms());
        hosts.push_back(std::move(r));
      }
      std::cout << "faultline serve at " << server.address() << " halted by "
                << response.halted_by() << ": " << response.reason() << "\n";
      if (response.stopped_runs_size() > 0) {
        std::cout << "stopped runs:";
        for (const std::string& id : response.stopped_runs()) std::cout << " " << id;
        std::cout << "\n";
      }
      int failed = PrintHalt(hosts);
      std::cout << "serve refuses new runs until: faultline halt --release --server "
                << server.address() << "\n";
      return failed > 0 ? kExitAborted : 0;
    }
    std::cerr << "faultline: " << server.Error(status) << "\n";
    bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                       status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (!unreachable || inventory_path.empty()) return ExitFor(FromGrpcStatus(status));
    std::cerr << "faultline: halting the agents of " << inventory_path << " directly\n";
  }

  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Inventory> inventory = LoadInventory(inventory_path, &diagnostics);
  if (!inventory.ok()) return ReportLoadFailure(inventory_path, inventory.status(), diagnostics);
  // --tls-* were meant for serve when --server was given; else they
  // override the inventory's tls for its agents.
  absl::StatusOr<AgentTls> agent_tls =
      AgentTls::Create(&*inventory, address.empty() ? o.tls : TlsFiles());
  if (!agent_tls.ok()) {
    std::cerr << "faultline: " << agent_tls.status().message() << "\n";
    return kExitInvalid;
  }
  std::vector<HostResult> hosts = HaltFleet(FleetOf(*inventory, *agent_tls), *deadline,
                                            absl::StrCat("halted by ", by, ": ", reason));
  return PrintHalt(hosts) > 0 ? kExitAborted : 0;
}

// ---------------------------------------------------------------- schedules / fire

int SchedulesMain(const std::vector<std::string>& args) {
  Options o;
  po::options_description options = CommonOptions(&o, true, false);
  po::variables_map vm;
  if (!Parse(args, options, {}, &vm, o)) return kExitInvalid;
  if (vm.count("help")) {
    std::cout << "usage: faultline schedules [--server ADDR]\n" << options;
    return 0;
  }
  Server server(ServerAddress(o, kDefaultServeAddress), o);
  v1::ListSchedulesResponse response;
  grpc::Status status = server.stub().ListSchedules(
      Server::Context(std::chrono::seconds(30)).get(), v1::ListSchedulesRequest(), &response);
  if (!status.ok()) return FailCall(server, status);
  if (response.halted()) std::cout << "HALTED: " << response.halted_reason() << "\n";
  if (response.schedules_size() == 0) {
    std::cout << "No schedules configured.\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-20s %-16s %-14s %-7s %-24s %s\n", "NAME", "CRON", "TIMEZONE",
                               "CONC", "NEXT", "LAST");
  for (const v1::ScheduleStatus& s : response.schedules()) {
    std::string last = s.last_fire_unix_ms() > 0
                           ? absl::StrCat(Utc(s.last_fire_unix_ms()), " ", s.last_outcome(),
                                          s.last_run_id().empty() ? "" : " " + s.last_run_id())
                           : (s.last_outcome().empty() ? "-" : s.last_outcome());
    std::cout << absl::StrFormat("%-20s %-16s %-14s %-7s %-24s %s\n", s.name(), s.cron(),
                                 s.timezone(), s.concurrency(), Utc(s.next_fire_unix_ms()), last);
  }
  return 0;
}

int FireMain(const std::vector<std::string>& args) {
  Options o;
  std::string name, by = CurrentUser();
  po::options_description options = CommonOptions(&o, true, false);
  options.add_options()("schedule", po::value(&name), "schedule name")
      ("by", po::value(&by)->default_value(by), "who fires it (journaled)");
  po::positional_options_description positional;
  positional.add("schedule", 1);
  po::variables_map vm;
  if (!Parse(args, options, positional, &vm, o)) return kExitInvalid;
  if (vm.count("help") || name.empty()) {
    std::cout << "usage: faultline fire SCHEDULE [--server ADDR]\n" << options;
    return name.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  Server server(ServerAddress(o, kDefaultServeAddress), o);
  v1::FireScheduleRequest request;
  request.set_name(name);
  request.set_by(by);
  v1::FireScheduleResponse response;
  grpc::Status status = server.stub().FireSchedule(
      Server::Context(std::chrono::seconds(60)).get(), request, &response);
  if (!status.ok()) return FailCall(server, status);
  if (response.started()) {
    std::cout << "started run " << response.run_id() << "\n";
    return 0;
  }
  std::cout << "skipped: " << response.skipped_reason()
            << (response.run_id().empty() ? "" : absl::StrCat(" (journaled as run ",
                                                               response.run_id(), ")"))
            << "\n";
  return kExitAborted;
}

}  // namespace

int ServeCommand(const std::vector<std::string>& args) { return ServeMain(args); }
int SubmitCommand(const std::vector<std::string>& args) { return SubmitMain(args); }
int StatusCommand(const std::vector<std::string>& args) { return StatusMain(args); }
int NoteCommand(const std::vector<std::string>& args) { return ControlMain(args, Control::kNote); }
int ContinueCommand(const std::vector<std::string>& args) {
  return ControlMain(args, Control::kContinue);
}
int AbortCommand(const std::vector<std::string>& args) { return ControlMain(args, Control::kAbort); }
int HaltCommand(const std::vector<std::string>& args) { return HaltMain(args); }
int SchedulesCommand(const std::vector<std::string>& args) { return SchedulesMain(args); }
int FireCommand(const std::vector<std::string>& args) { return FireMain(args); }

}  // namespace faultline::controller
