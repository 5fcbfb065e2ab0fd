#include "controller/serve/daemon.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/units.h"
#include "controller/notify/notifier.h"
#include "controller/plan/plan.h"
#include "controller/run/control_events.h"
#include "controller/run/runner.h"
#include "controller/serve/alert_webhook.h"
#include "controller/serve/controller_service.h"
#include "controller/serve/run_info.h"
#include "controller/store/sqlite_store.h"
#include "grpcpp/security/server_credentials.h"
#include "spdlog/spdlog.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

// How often a watcher re-reads the journal when nothing in this daemon
// signalled a new event (runs of other processes share the journal).
constexpr milliseconds kWatchPoll{250};
// How long a halt waits for the agents' answers before it stops the runs.
constexpr milliseconds kHaltHeadStart{200};
// Interrupted runs older than this are left to their leases at start-up.
constexpr absl::Duration kRecoverWindow = absl::Hours(24);

int64_t UnixMs(absl::Time t) { return absl::ToUnixMillis(t); }

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string LocalHostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Run ids in the journal's own format: "<UTC start>-<experiment>-<4 hex>".
std::string NewRunId(const std::string& experiment, absl::Time now) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::string slug;
  for (char c : experiment) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (keep) slug.push_back(c);
    if (slug.size() >= 40) break;
  }
  if (slug.empty()) slug = "run";
  return absl::StrFormat("%s-%s-%04x", absl::FormatTime("%Y%m%d-%H%M%S", now, absl::UTCTimeZone()),
                         slug, std::uniform_int_distribution<unsigned>(0, 0xffff)(rng));
}

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Explicit agents (addresses) the experiment's targets name.
std::vector<FleetAgent> ExplicitAgents(const Experiment& experiment, const AgentTls& tls) {
  std::vector<FleetAgent> agents;
  for (const auto& [name, target] : experiment.targets) {
    for (const std::string& address : target.agents) {
      agents.push_back({address, address, tls.For("", address)});
    }
  }
  return agents;
}

// Makes the plan once, as the Runner will, so a plan that cannot work
// (unknown target, nothing selected, max_targets) is refused before anything
// starts. Returns whether it needs the embedded local agent.
absl::StatusOr<bool> CheckPlan(const Experiment& experiment, const Inventory* inventory) {
  PlanOptions options;
  options.inventory = inventory;
  options.default_seed = 1;
  options.dry_run = true;
  absl::StatusOr<Plan> plan = MakePlan(experiment, "check", options);
  if (!plan.ok()) {
    // Invalid input, whatever MakePlan's code (FailedPrecondition here would
    // read like "halted").
    return absl::InvalidArgumentError(
        absl::StrCat(experiment.path, ": plan refused: ", plan.status().message()));
  }
  return plan->uses_embedded_agent;
}

}  // namespace

struct ServeDaemon::ActiveRun {
  std::string run_id;
  std::string experiment;  // metadata.name
  std::string schedule;    // "" for submitted runs
  std::shared_ptr<Experiment> spec;
  std::shared_ptr<const Inventory> inventory;
  std::vector<FleetAgent> agents;  // what a halt must reach besides the config inventory
  StopSignal stop;
  std::thread thread;
  bool started = false;  // the run is in the journal (or Run() returned)
  bool done = false;
  absl::Status error;    // Run() failed before the run was journaled
};

ServeDaemon::ServeDaemon(ServeConfig config, DaemonOptions options)
    : config_(std::move(config)), options_(std::move(options)) {}

ServeDaemon::~ServeDaemon() { Shutdown("daemon destroyed"); }

absl::StatusOr<std::unique_ptr<ServeDaemon>> ServeDaemon::Create(
    ServeConfig config, DaemonOptions options, std::vector<Diagnostic>* diagnostics) {
  std::unique_ptr<ServeDaemon> d(new ServeDaemon(std::move(config), std::move(options)));
  std::string journal = d->options_.journal_path;
  if (journal.empty()) journal = d->config_.journal.empty() ? DefaultJournalPath() : d->config_.journal;
  FL_ASSIGN_OR_RETURN(d->store_, OpenSqliteStore(journal));
  FL_ASSIGN_OR_RETURN(d->state_, ServeState::Open(journal));

  std::vector<Diagnostic> found;
  if (!d->config_.inventory_path.empty()) {
    absl::StatusOr<Inventory> inventory = LoadInventory(d->config_.inventory_path, &found);
    if (!inventory.ok()) {
      if (diagnostics != nullptr) diagnostics->insert(diagnostics->end(), found.begin(), found.end());
      return Annotate(inventory.status(), "serve inventory");
    }
    d->inventory_ = std::move(*inventory);
    absl::StatusOr<AgentTls> agent_tls = AgentTls::Create(&*d->inventory_, TlsFiles());
    if (!agent_tls.ok()) return Annotate(agent_tls.status(), "serve inventory");
    d->agent_tls_ = std::move(*agent_tls);
  }
  if (!d->config_.tls.empty()) {
    std::string snapshot = d->options_.tls_snapshot_dir;
    if (snapshot.empty()) {
      const std::filesystem::path dir = std::filesystem::path(journal).parent_path();
      snapshot = (dir.empty() ? std::filesystem::path("serve-tls") : dir / "serve-tls").string();
    }
    absl::StatusOr<std::unique_ptr<ServerTls>> tls = ServerTls::Create(d->config_.tls, snapshot);
    if (!tls.ok()) {
      const SourceLocation& at = d->config_.tls_where;
      return Annotate(tls.status(), at.line > 0 ? absl::StrCat(at.file, ":", at.line, ":",
                                                               at.column, ": serve tls")
                                                : "serve tls");
    }
    d->tls_ = std::move(*tls);
  } else if (!IsLocalOnlyAddress(d->config_.listen) && !d->options_.insecure) {
    return absl::InvalidArgumentError(absl::StrCat(
        "serve refuses to listen on ", d->config_.listen,
        " without tls: anyone who can reach it could start and halt runs; set tls: {ca, cert, "
        "key} in the serve config, listen on 127.0.0.1, or pass --insecure"));
  }
  int invalid = 0;
  for (const ScheduleConfig& s : d->config_.schedules) {
    std::vector<Diagnostic> problems;
    absl::StatusOr<Experiment> experiment = LoadExperiment(s.experiment_path, &problems);
    if (experiment.ok()) continue;
    ++invalid;
    if (problems.empty()) {
      problems.push_back(Diagnostic{s.where, absl::StrCat("schedule \"", s.name, "\": ",
                                                          experiment.status().message())});
      problems.back().where.file = d->config_.path;
    }
    if (diagnostics != nullptr) {
      diagnostics->insert(diagnostics->end(), problems.begin(), problems.end());
    }
  }
  if (invalid > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(invalid, " scheduled experiment", invalid == 1 ? " is" : "s are", " invalid"));
  }
  FL_ASSIGN_OR_RETURN(d->halt_, d->state_->LoadHalt());
  if (d->halt_.halted) {
    spdlog::warn("serve starts halted by={} reason={}; new runs are refused until "
                 "`faultline halt --release`",
                 d->halt_.by, d->halt_.reason);
  }
  d->RecoverInterrupted();
  return d;
}

void ServeDaemon::RecoverInterrupted() {
  std::vector<RunRecord> runs;
  absl::StatusOr<std::vector<RunRecord>> marked = store_->MarkInterrupted();
  if (!marked.ok()) {
    spdlog::error("mark interrupted runs failed error={}", marked.status().ToString());
  } else {
    runs = *marked;
  }
  // Runs marked by someone else (`faultline runs` marks too) since the last
  // daemon died, and never recovered: the journal says whether they were.
  RunFilter filter;
  filter.status = RunStatus::kInterrupted;
  filter.limit = 20;
  const std::string host = LocalHostname();
  const int64_t since = UnixMs(options_.now() - kRecoverWindow);
  if (absl::StatusOr<std::vector<RunRecord>> recent = store_->ListRuns(filter); recent.ok()) {
    for (const RunRecord& r : *recent) {
      if (r.host != host || r.ended_unix_ms < since) continue;
      bool known = false;
      for (const RunRecord& m : runs) known = known || m.run_id == r.run_id;
      if (known) continue;
      absl::StatusOr<std::vector<Event>> events = store_->Events(r.run_id);
      if (!events.ok()) continue;
      bool recovered = false;
      for (const Event& e : *events) recovered = recovered || e.type == "run.recovered";
      if (!recovered) runs.push_back(r);
    }
  }
  for (const RunRecord& run : runs) {
    std::vector<FleetAgent> agents = InventoryAgents();
    absl::StatusOr<std::vector<Event>> events = store_->Events(run.run_id);
    if (events.ok()) {
      for (const Event& e : *events) {
        if (e.type != "plan" || !e.data.is_object() || !e.data.contains("hosts")) continue;
        for (const nlohmann::json& h : e.data["hosts"]) {
          if (!h.is_object() || !h.contains("address") || !h["address"].is_string()) continue;
          std::string address = h["address"].get<std::string>();
          std::string name = h.contains("name") && h["name"].is_string()
                                 ? h["name"].get<std::string>()
                                 : address;
          if (!address.empty()) {
            AddAgents(&agents, {{name, address, agent_tls_.For(name, address)}});
          }
        }
      }
    }
    std::vector<HostResult> results = RevertRunOnFleet(agents, run.run_id, config_.halt_deadline);
    nlohmann::json hosts = nlohmann::json::array();
    int reverted = 0, failed = 0;
    for (const HostResult& r : results) {
      nlohmann::json faults = nlohmann::json::array();
      for (const v1::FaultStatus& f : r.reverted) {
        faults.push_back({{"fault_id", f.fault_id()}, {"kind", f.kind()}});
      }
      reverted += static_cast<int>(r.reverted.size());
      failed += r.ok ? 0 : 1;
      hosts.push_back({{"host", r.host}, {"address", r.address}, {"ok", r.ok},
                       {"error", r.error}, {"reverted", faults}});
    }
    absl::Status appended = store_->Append(
        run.run_id, "run.recovered",
        {{"by", absl::StrCat("faultline serve pid ", getpid())},
         {"hosts", hosts},
         {"reverted", reverted},
         {"unreachable", failed},
         {"note", "faults still active on reachable agents were reverted at start-up; "
                  "unreachable agents revert them when the run's lease expires"}});
    if (!appended.ok()) spdlog::error("journal run.recovered failed run={} error={}", run.run_id,
                                      appended.ToString());
    spdlog::warn("recovered interrupted run run_id={} reverted={} hosts_failed={}", run.run_id,
                 reverted, failed);
  }
  // Embedded agents of a dead daemon halted with it; their state directories
  // are recovered by the next embedded agent start, done now if any is left.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_.embedded_dir, ec)) {
    pid_t owner = 0;
    if (!entry.is_directory() || !absl::SimpleAtoi(entry.path().filename().string(), &owner)) {
      continue;
    }
    if (owner == getpid() || kill(owner, 0) == 0 || errno != ESRCH) continue;
    if (absl::StatusOr<std::string> address = EmbeddedAddress(); !address.ok()) {
      spdlog::error("embedded agent recovery failed error={}", address.status().ToString());
    }
    break;
  }
}

std::vector<FleetAgent> ServeDaemon::InventoryAgents() const {
  return inventory_.has_value() ? FleetOf(*inventory_) : std::vector<FleetAgent>{};
}

absl::StatusOr<std::string> ServeDaemon::EmbeddedAddress() {
  std::lock_guard lock(embedded_mu_);
  if (!embedded_) {
    EmbeddedAgentOptions options;
    options.agent_binary = config_.agent_binary;
    options.base_dir = config_.embedded_dir;
    FL_ASSIGN_OR_RETURN(embedded_, EmbeddedAgent::Start(options));
    spdlog::info("embedded agent started address={} pid={}", embedded_->address(),
                 embedded_->pid());
  }
  return embedded_->address();
}

absl::StatusOr<std::string> ServeDaemon::Start() {
  const absl::Time now = options_.now();
  std::map<std::string, absl::Time> covered;
  {
    absl::StatusOr<std::map<std::string, ScheduleState>> states = state_->LoadSchedules();
    if (!states.ok()) return states.status();
    for (const auto& [name, s] : *states) covered[name] = absl::FromUnixMillis(s.covered_unix_ms);
  }
  std::vector<MissedFires> missed;
  {
    std::lock_guard lock(mu_);
    scheduler_.emplace(config_.schedules);
    missed = scheduler_->Start(now, covered);
  }

  if (!config_.alertmanager_webhook_listen.empty() && !alert_webhook_) {
    // Before the gRPC server, so no run starts without the board it expects.
    alert_board_ = std::make_unique<WebhookBoard>();
    FL_ASSIGN_OR_RETURN(alert_webhook_,
                        AlertWebhookServer::Start(config_.alertmanager_webhook_listen,
                                                  alert_board_.get()));
  }
  service_ = MakeControllerService(this);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config_.listen,
                           tls_ ? tls_->credentials() : grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || (config_.listen.rfind("unix:", 0) != 0 && port == 0)) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("serve: cannot listen on ", config_.listen));
  }
  std::string address = config_.listen;
  if (address.rfind("unix:", 0) != 0) {
    address = absl::StrCat(address.substr(0, address.rfind(':')), ":", port);
  }

  HandleMissed(missed, now);
  if (options_.run_scheduler) scheduler_thread_ = std::thread([this] { SchedulerLoop(); });

  if (!options_.ready_file.empty()) {
    std::string tmp = options_.ready_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << address << "\n";
    }
    std::error_code ec;
    std::filesystem::rename(tmp, options_.ready_file, ec);
  }
  spdlog::info("serve listening address={} schedules={} halted={}", address,
               config_.schedules.size(), halt_.halted);
  if (tls_) {
    spdlog::info("serve uses mutual TLS ca={} cert={}", config_.tls.ca, config_.tls.cert);
  } else if (!IsLocalOnlyAddress(address)) {
    spdlog::warn("INSECURE: serve listens on {} in plaintext without authentication "
                 "(--insecure); anyone who can reach it can start and halt runs",
                 address);
  }
  return address;
}

absl::StatusOr<PeerIdentity> ServeDaemon::Caller(const grpc::ServerContext& context) const {
  if (!tls_) return AnonymousPeer(context);
  absl::StatusOr<PeerIdentity> peer = tls_->VerifyPeer(context);
  if (!peer.ok()) {
    spdlog::warn("serve refused a call from {}: {}", context.peer(),
                 std::string(peer.status().message()));
  }
  return peer;
}

absl::Status ServeDaemon::ReloadTls() {
  if (!tls_) return absl::FailedPreconditionError("serve has no tls to reload");
  return tls_->Reload();
}

void ServeDaemon::HandleMissed(const std::vector<MissedFires>& missed, absl::Time now) {
  for (const MissedFires& m : missed) {
    const ScheduleConfig* s = scheduler_->Find(m.schedule);
    if (s == nullptr) continue;
    nlohmann::json data = {{"schedule", m.schedule},
                           {"missed", m.count},
                           {"capped", m.capped},
                           {"first_unix_ms", UnixMs(m.first)},
                           {"last_unix_ms", UnixMs(m.last)},
                           {"policy", MissedPolicyName(m.policy)}};
    std::string count = absl::StrCat(m.count, m.capped ? "+" : "", " fire",
                                     m.count == 1 ? "" : "s");
    if (m.policy == MissedPolicy::kSkip) {
      std::string reason = absl::StrCat("missed ", count, " while serve was down (",
                                        Rfc3339(m.first), m.count > 1 ? ".." : "",
                                        m.count > 1 ? Rfc3339(m.last) : "", "); missed: skip");
      std::vector<Diagnostic> ignored;
      absl::StatusOr<Experiment> e = LoadExperiment(s->experiment_path, &ignored);
      std::string id = RecordSkipped(e.ok() ? e->name : s->name, s->experiment_path,
                                     e.ok() ? e->source_text : "", "schedule.missed", data, reason);
      spdlog::warn("schedule missed fires schedule={} count={} run_id={}", m.schedule, count, id);
      SaveScheduleState(m.schedule, now, std::nullopt, id, absl::StrCat("missed: ", count));
    } else {
      data["trigger"] = "missed";
      FireOutcome outcome = Fire(*s, m.last, now, data);
      spdlog::info("schedule missed fires, running once schedule={} count={} run_id={} started={}",
                   m.schedule, count, outcome.run_id, outcome.started);
      SaveScheduleState(m.schedule, now, now, outcome.run_id,
                        outcome.started ? absl::StrCat("started (", count, " missed)")
                                        : absl::StrCat("skipped: ", outcome.reason));
    }
  }
  // Everything up to now is handled: the next restart counts from here.
  for (const ScheduleConfig& s : config_.schedules) {
    SaveScheduleState(s.name, now, std::nullopt, "", "");
  }
}

void ServeDaemon::SaveScheduleState(const std::string& name, std::optional<absl::Time> covered,
                                    std::optional<absl::Time> fired, const std::string& run_id,
                                    const std::string& outcome) {
  absl::StatusOr<std::map<std::string, ScheduleState>> states = state_->LoadSchedules();
  ScheduleState s;
  s.name = name;
  if (states.ok()) {
    if (auto it = states->find(name); it != states->end()) s = it->second;
  }
  if (covered) s.covered_unix_ms = std::max(s.covered_unix_ms, UnixMs(*covered));
  if (fired) s.last_fire_unix_ms = UnixMs(*fired);
  if (!run_id.empty()) s.last_run_id = run_id;
  if (!outcome.empty()) s.last_outcome = outcome;
  absl::Status saved = state_->SaveSchedule(s);
  if (!saved.ok()) spdlog::error("save schedule state failed schedule={} error={}", name,
                                 saved.ToString());
}

std::string ServeDaemon::RecordSkipped(const std::string& experiment,
                                       const std::string& experiment_path,
                                       const std::string& source_text,
                                       const std::string& event_type, nlohmann::json data,
                                       const std::string& reason) {
  RunRecord record;
  record.experiment = experiment;
  record.experiment_path = experiment_path;
  record.source_text = source_text;
  record.status = RunStatus::kSkipped;
  record.exit_code = -1;
  record.started_unix_ms = UnixMs(options_.now());
  record.ended_unix_ms = record.started_unix_ms;
  absl::StatusOr<RunRecord> created = store_->CreateRun(record);
  if (!created.ok()) {
    spdlog::error("journal skipped run failed experiment={} reason={} error={}", experiment,
                  reason, created.status().ToString());
    return "";
  }
  data["reason"] = reason;
  absl::Status s1 = store_->Append(created->run_id, event_type, data);
  absl::Status s2 = store_->Append(created->run_id, "run.finished",
                                   {{"status", "skipped"},
                                    {"exit_code", -1},
                                    {"verdict", absl::StrCat("skipped: ", reason)}});
  if (!s1.ok() || !s2.ok()) {
    spdlog::error("journal skipped run events failed run={} error={}", created->run_id,
                  (!s1.ok() ? s1 : s2).ToString());
  }
  {
    std::lock_guard lock(mu_);
    ++event_counter_;
  }
  cv_.notify_all();
  spdlog::info("run skipped run_id={} experiment={} reason={}", created->run_id, experiment,
               reason);
  return created->run_id;
}

std::string ServeDaemon::HaltedMessage() {
  return absl::StrCat("halted by ", halt_.by.empty() ? "unknown" : halt_.by, " at ",
                      Rfc3339(absl::FromUnixMillis(halt_.unix_ms)), ": ",
                      halt_.reason.empty() ? "no reason given" : halt_.reason,
                      "; run faultline halt --release");
}

absl::StatusOr<std::string> ServeDaemon::StartRun(std::shared_ptr<Experiment> experiment,
                                                  std::shared_ptr<const Inventory> inventory,
                                                  bool needs_embedded, bool dry_run,
                                                  const std::string& schedule,
                                                  nlohmann::json trigger) {
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return absl::UnavailableError("serve is shutting down");
    if (halt_.halted) return absl::FailedPreconditionError(HaltedMessage());
  }
  RunOptions options;
  options.dry_run = dry_run;
  options.lease_ttl = config_.lease_ttl;
  options.inventory = inventory.get();
  options.default_seed = RandomSeed();
  // Detect expectations without alerts.alertmanager read what Alertmanager
  // pushed to the webhook receiver (none configured: such runs fail, exit 2).
  options.alert_source = alert_webhook_ ? alert_board_.get() : nullptr;
  // The run's agents get its inventory's tls (checked here, before anything
  // starts; the Runner builds the same).
  FL_ASSIGN_OR_RETURN(AgentTls run_tls, AgentTls::Create(inventory.get(), TlsFiles()));
  if (needs_embedded) {
    FL_ASSIGN_OR_RETURN(options.embedded_address, EmbeddedAddress());
  }

  std::unique_lock lock(mu_);
  // Checked again: a halt may have come in while the embedded agent started.
  if (shutting_down_) return absl::UnavailableError("serve is shutting down");
  if (halt_.halted) return absl::FailedPreconditionError(HaltedMessage());
  auto owned = std::make_unique<ActiveRun>();
  ActiveRun* run = owned.get();
  run->run_id = NewRunId(experiment->name, options_.now());
  run->experiment = experiment->name;
  run->schedule = schedule;
  run->spec = std::move(experiment);
  run->inventory = std::move(inventory);
  run->agents = ExplicitAgents(*run->spec, run_tls);
  if (run->inventory) AddAgents(&run->agents, FleetOf(*run->inventory, run_tls));
  options.run_id = run->run_id;
  runs_.push_back(std::move(owned));
  // Started under mu_, so nobody can reap the run before `thread` is set.
  run->thread = std::thread([this, run, options] {
    // `notify:` -- chat updates of this run, sent from the notifier's thread.
    std::unique_ptr<Notifier> notifier;
    if (run->spec->notify.has_value()) {
      auto created = Notifier::Create(*run->spec->notify);
      if (created.ok()) {
        notifier = std::move(*created);
      } else {
        spdlog::warn("notify disabled run_id={} error={}", run->run_id,
                     created.status().ToString());
      }
    }
    Notifier* notify = notifier.get();
    Runner runner(*run->spec, store_.get(), &run->stop, options, [this, run, notify](const Event& e) {
      if (notify != nullptr) notify->OnEvent(e);
      {
        std::lock_guard lock(mu_);
        run->started = true;
        ++event_counter_;
      }
      cv_.notify_all();
    });
    absl::StatusOr<RunOutcome> outcome = runner.Run();
    if (outcome.ok()) {
      spdlog::info("run finished run_id={} status={} exit_code={}", outcome->run_id,
                   RunStatusName(outcome->status), outcome->exit_code);
    } else {
      spdlog::error("run failed to start run_id={} error={}", run->run_id,
                    outcome.status().ToString());
    }
    {
      std::lock_guard lock(mu_);
      if (!outcome.ok() && !run->started) run->error = outcome.status();
      run->started = true;
      run->done = true;
      ++event_counter_;
    }
    cv_.notify_all();
    if (notifier) notifier->Close(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  });
  cv_.wait(lock, [run] { return run->started; });
  if (!run->error.ok()) return run->error;
  const std::string run_id = run->run_id;
  const std::string experiment_name = run->experiment;
  lock.unlock();  // `run` may be reaped from here on
  absl::Status recorded = store_->Append(run_id, "run.trigger", trigger);
  if (!recorded.ok()) {
    spdlog::error("journal run.trigger failed run={} error={}", run_id, recorded.ToString());
  }
  spdlog::info("run started run_id={} experiment={} trigger={}", run_id, experiment_name,
               Dump(trigger));
  return run_id;
}

absl::Status ServeDaemon::SubmitRun(const v1::SubmitRunRequest& request,
                                    v1::SubmitRunResponse* response) {
  std::vector<Diagnostic> diagnostics;
  const std::string path =
      request.experiment_path().empty() ? "submitted.yaml" : request.experiment_path();
  absl::StatusOr<Experiment> parsed = ParseExperiment(request.experiment_text(), path, &diagnostics);
  auto invalid = [&](const absl::Status& status) {
    std::string message(status.message());
    if (!diagnostics.empty()) {
      message.clear();
      for (const Diagnostic& d : diagnostics) absl::StrAppend(&message, d.ToString(), "\n");
      message.pop_back();
    }
    return absl::Status(status.code(), message);
  };
  if (!parsed.ok()) return invalid(parsed.status());
  auto experiment = std::make_shared<Experiment>(std::move(*parsed));
  if (request.has_seed()) experiment->seed = request.seed();

  std::shared_ptr<const Inventory> inventory;
  if (!request.inventory_text().empty()) {
    absl::StatusOr<Inventory> inv = ParseInventory(
        request.inventory_text(),
        request.inventory_path().empty() ? "inventory.yaml" : request.inventory_path(),
        &diagnostics);
    if (!inv.ok()) return invalid(inv.status());
    inventory = std::make_shared<Inventory>(std::move(*inv));
  } else {
    const std::string& inv_path = !request.inventory_path().empty() ? request.inventory_path()
                                                                    : experiment->inventory_path;
    if (!inv_path.empty()) {
      absl::StatusOr<Inventory> inv = LoadInventory(inv_path, &diagnostics);
      if (!inv.ok()) return invalid(inv.status());
      inventory = std::make_shared<Inventory>(std::move(*inv));
    } else if (inventory_.has_value()) {
      inventory = std::make_shared<Inventory>(*inventory_);
    }
  }
  FL_ASSIGN_OR_RETURN(bool embedded, CheckPlan(*experiment, inventory.get()));

  nlohmann::json trigger = {{"trigger", "submit"},
                            {"by", request.submitted_by()},
                            {"file", path},
                            {"dry_run", request.dry_run()}};
  if (inventory) trigger["inventory"] = inventory->path;
  const std::string name = experiment->name;
  FL_ASSIGN_OR_RETURN(std::string run_id,
                      StartRun(std::move(experiment), std::move(inventory), embedded,
                               request.dry_run(), "", trigger));
  response->set_run_id(run_id);
  response->set_experiment(name);
  return absl::OkStatus();
}

ServeDaemon::FireOutcome ServeDaemon::Fire(const ScheduleConfig& schedule, absl::Time fire_time,
                                           absl::Time check_time, nlohmann::json trigger) {
  std::lock_guard fire_lock(fire_mu_);
  trigger["schedule"] = schedule.name;
  trigger["fire_unix_ms"] = UnixMs(fire_time);
  trigger["cron"] = schedule.cron.text();
  trigger["timezone"] = schedule.timezone;
  FireOutcome outcome;
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> loaded = LoadExperiment(schedule.experiment_path, &diagnostics);
  if (!loaded.ok()) {
    outcome.reason = absl::StrCat("experiment ", schedule.experiment_path, " is invalid: ",
                                  loaded.status().message());
    outcome.run_id = RecordSkipped(schedule.name, schedule.experiment_path, "", "schedule.skipped",
                                   trigger, outcome.reason);
    return outcome;
  }
  auto experiment = std::make_shared<Experiment>(std::move(*loaded));
  std::shared_ptr<const Inventory> inventory;
  if (!experiment->inventory_path.empty()) {
    absl::StatusOr<Inventory> inv = LoadInventory(experiment->inventory_path, &diagnostics);
    if (!inv.ok()) {
      outcome.reason = absl::StrCat("inventory ", experiment->inventory_path, " is invalid: ",
                                    inv.status().message());
    } else {
      inventory = std::make_shared<Inventory>(std::move(*inv));
    }
  } else if (inventory_.has_value()) {
    inventory = std::make_shared<Inventory>(*inventory_);
  }
  if (outcome.reason.empty()) {
    std::lock_guard lock(mu_);
    if (halt_.halted) outcome.reason = HaltedMessage();
  }
  if (outcome.reason.empty()) outcome.reason = WindowOrBlackoutReason(config_, check_time);
  if (outcome.reason.empty() && schedule.concurrency == Concurrency::kForbid) {
    std::string active;
    {
      std::lock_guard lock(mu_);
      for (const auto& run : runs_) {
        if (!run->done && run->experiment == experiment->name) active = run->run_id;
      }
    }
    if (active.empty()) {
      // Runs of the same experiment by other controllers on this host
      // (`faultline run`); MarkInterrupted first so dead ones do not count.
      (void)store_->MarkInterrupted();
      RunFilter filter;
      filter.experiment = experiment->name;
      filter.status = RunStatus::kRunning;
      filter.limit = 10;
      if (absl::StatusOr<std::vector<RunRecord>> running = store_->ListRuns(filter); running.ok()) {
        const std::string host = LocalHostname();
        for (const RunRecord& r : *running) {
          if (r.host == host) active = r.run_id;
        }
      }
    }
    if (!active.empty()) {
      outcome.reason = absl::StrCat("concurrency forbid: run ", active, " of experiment ",
                                    experiment->name, " is still active");
    }
  }
  if (outcome.reason.empty()) {
    absl::StatusOr<bool> embedded = CheckPlan(*experiment, inventory.get());
    absl::StatusOr<std::string> started =
        embedded.ok() ? StartRun(experiment, inventory, *embedded, /*dry_run=*/false,
                                 schedule.name, trigger)
                      : absl::StatusOr<std::string>(embedded.status());
    if (started.ok()) {
      outcome.started = true;
      outcome.run_id = *started;
      return outcome;
    }
    outcome.reason = absl::StrCat("could not start: ", started.status().message());
  }
  outcome.run_id = RecordSkipped(experiment->name, schedule.experiment_path,
                                 experiment->source_text, "schedule.skipped", trigger,
                                 outcome.reason);
  return outcome;
}

void ServeDaemon::Tick(absl::Time now) {
  std::vector<ScheduledFire> fires;
  {
    std::lock_guard lock(mu_);
    if (!scheduler_ || shutting_down_) return;
    fires = scheduler_->TakeDue(now);
  }
  for (const ScheduledFire& fire : fires) {
    const ScheduleConfig* s = scheduler_->Find(fire.schedule);
    if (s == nullptr) continue;
    // Recorded before the run starts: a crash from here on never runs this
    // fire twice.
    SaveScheduleState(s->name, fire.time, fire.time, "", "firing");
    nlohmann::json trigger = {{"trigger", "schedule"}};
    if (fire.collapsed > 0) trigger["collapsed"] = fire.collapsed;
    FireOutcome outcome = Fire(*s, fire.time, fire.time, trigger);
    SaveScheduleState(s->name, fire.time, fire.time, outcome.run_id,
                      outcome.started ? "started" : absl::StrCat("skipped: ", outcome.reason));
  }
}

void ServeDaemon::SchedulerLoop() {
  std::unique_lock lock(mu_);
  while (!shutting_down_) {
    lock.unlock();
    Tick(options_.now());
    ReapFinished();
    lock.lock();
    if (shutting_down_) break;
    absl::Duration wait = scheduler_->NextWake() - options_.now();
    wait = std::clamp(wait, absl::Milliseconds(10), absl::Seconds(5));
    cv_.wait_for(lock, absl::ToChronoMilliseconds(wait), [this] { return shutting_down_; });
  }
}

void ServeDaemon::ReapFinished() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (auto it = runs_.begin(); it != runs_.end();) {
      if ((*it)->done) {
        threads.push_back(std::move((*it)->thread));
        it = runs_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (std::thread& t : threads) {
    if (t.joinable()) t.join();
  }
}

void ServeDaemon::Shutdown(const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
    for (const auto& run : runs_) {
      if (!run->done) run->stop.Stop(absl::StrCat("faultline serve is shutting down: ", reason));
    }
  }
  cv_.notify_all();
  spdlog::info("serve shutting down reason={}", reason);
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (scheduler_thread_.joinable()) scheduler_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (auto& run : runs_) threads.push_back(std::move(run->thread));
  }
  for (std::thread& t : threads) {
    if (t.joinable()) t.join();
  }
  {
    std::lock_guard lock(mu_);
    runs_.clear();
  }
  if (server_) server_->Wait();
  alert_webhook_.reset();  // no run is left to read the board
  std::lock_guard lock(embedded_mu_);
  embedded_.reset();
}

std::vector<std::string> ServeDaemon::ActiveRunIds() {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& run : runs_) {
    if (!run->done) ids.push_back(run->run_id);
  }
  return ids;
}

bool ServeDaemon::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] {
    for (const auto& run : runs_) {
      if (!run->done) return false;
    }
    return true;
  });
}

void ServeDaemon::FillSummary(const RunRecord& run, const std::vector<Event>* events,
                              v1::RunSummary* out) {
  out->set_run_id(run.run_id);
  out->set_experiment(run.experiment);
  out->set_experiment_path(run.experiment_path);
  out->set_status(RunStatusName(run.status));
  out->set_exit_code(run.exit_code);
  out->set_started_unix_ms(run.started_unix_ms);
  out->set_ended_unix_ms(run.ended_unix_ms);
  out->set_host(run.host);
  out->set_dry_run(run.dry_run);
  if (events != nullptr) out->set_verdict(SummarizeRun(run, *events).verdict);
  std::lock_guard lock(mu_);
  for (const auto& r : runs_) {
    if (r->run_id == run.run_id && !r->done) out->set_active_here(true);
  }
}

absl::Status ServeDaemon::ListRuns(const v1::ListRunsRequest& request,
                                   v1::ListRunsResponse* response) {
  RunFilter filter;
  filter.experiment = request.experiment();
  filter.limit = request.limit() > 0 ? request.limit() : 50;
  if (!request.status().empty()) {
    FL_ASSIGN_OR_RETURN(filter.status, ParseRunStatus(request.status()));
  }
  FL_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, store_->ListRuns(filter));
  for (const RunRecord& r : runs) FillSummary(r, nullptr, response->add_runs());
  return absl::OkStatus();
}

absl::Status ServeDaemon::GetRun(const v1::GetRunRequest& request, v1::GetRunResponse* response) {
  FL_ASSIGN_OR_RETURN(RunRecord run, store_->GetRun(request.run_id()));
  FL_ASSIGN_OR_RETURN(std::vector<Event> events, store_->Events(run.run_id));
  FillSummary(run, &events, response->mutable_run());
  const int max = request.max_events() > 0 ? request.max_events() : 1000;
  for (const Event& e : events) {
    if (e.seq <= request.since_seq()) continue;
    if (response->events_size() >= max) {
      response->set_more_events(true);
      continue;
    }
    v1::JournalEvent* out = response->add_events();
    out->set_seq(e.seq);
    out->set_run_id(e.run_id);
    out->set_unix_ms(e.unix_ms);
    out->set_type(e.type);
    out->set_data_json(Dump(e.data));
  }
  RunInfo info = SummarizeRun(run, events);
  response->set_waiting_gate(info.waiting_gate);
  response->set_waiting_message(info.waiting_message);
  return absl::OkStatus();
}

absl::Status ServeDaemon::WatchRun(const v1::WatchRunRequest& request,
                                   const std::function<bool(const v1::WatchRunResponse&)>& write,
                                   const std::function<bool()>& cancelled) {
  FL_ASSIGN_OR_RETURN(RunRecord run, store_->GetRun(request.run_id()));
  const std::string run_id = run.run_id;
  int64_t last = request.since_seq();
  uint64_t seen = 0;
  auto last_interrupt_check = std::chrono::steady_clock::now();
  auto send_new = [&]() -> absl::StatusOr<bool> {
    FL_ASSIGN_OR_RETURN(std::vector<Event> events, store_->Events(run_id, last));
    for (const Event& e : events) {
      v1::WatchRunResponse message;
      v1::JournalEvent* out = message.mutable_event();
      out->set_seq(e.seq);
      out->set_run_id(e.run_id);
      out->set_unix_ms(e.unix_ms);
      out->set_type(e.type);
      out->set_data_json(Dump(e.data));
      if (!write(message)) return false;
      last = e.seq;
    }
    return true;
  };
  while (true) {
    if (cancelled()) return absl::OkStatus();
    FL_ASSIGN_OR_RETURN(bool open, send_new());
    if (!open) return absl::OkStatus();
    FL_ASSIGN_OR_RETURN(run, store_->GetRun(run_id));
    if (IsFinal(run.status)) {
      FL_ASSIGN_OR_RETURN(open, send_new());
      if (!open) return absl::OkStatus();
      FL_ASSIGN_OR_RETURN(std::vector<Event> events, store_->Events(run_id));
      v1::WatchRunResponse final_message;
      final_message.set_finished(true);
      FillSummary(run, &events, final_message.mutable_run());
      write(final_message);
      return absl::OkStatus();
    }
    // A run of another controller that died stays "running" until someone
    // marks it; do that now and then so the watch ends.
    if (std::chrono::steady_clock::now() - last_interrupt_check > std::chrono::seconds(2)) {
      (void)store_->MarkInterrupted();
      last_interrupt_check = std::chrono::steady_clock::now();
    }
    std::unique_lock lock(mu_);
    if (shutting_down_) return absl::UnavailableError("serve is shutting down");
    cv_.wait_for(lock, kWatchPoll, [&] { return event_counter_ != seen || shutting_down_; });
    seen = event_counter_;
  }
}

absl::Status ServeDaemon::Halt(const v1::HaltFleetRequest& request,
                               v1::HaltFleetResponse* response) {
  const std::string by = request.by().empty() ? "unknown" : request.by();
  const std::string reason = request.reason().empty() ? "no reason given" : request.reason();
  const milliseconds deadline =
      request.deadline_ms() > 0 ? milliseconds(request.deadline_ms()) : config_.halt_deadline;
  const absl::Time now = options_.now();
  const std::string why = absl::StrCat("halted by ", by, ": ", reason);
  std::vector<FleetAgent> agents = InventoryAgents();
  std::vector<std::string> stopped;
  HaltState halt{true, by, reason, UnixMs(now)};
  {
    std::lock_guard lock(mu_);
    halt_ = halt;  // from here on no run starts
    for (const auto& run : runs_) {
      if (run->done) continue;
      stopped.push_back(run->run_id);
      AddAgents(&agents, run->agents);
    }
  }
  {
    std::lock_guard lock(embedded_mu_);
    if (embedded_) AddAgents(&agents, {{"local", embedded_->address(), AgentTransport()}});
  }
  // The halts go out first and the runs are stopped once the agents answered
  // (at most kHaltHeadStart later), so each host reports what it reverted
  // instead of finding that the run's own revert got there first. A run that
  // applies one more fault in that window reverts it itself when stopped (a
  // Runner reverts everything it applied before it ends).
  std::future<std::vector<HostResult>> halting =
      std::async(std::launch::async, [agents, deadline, why] {
        return HaltFleet(agents, deadline, why);
      });
  halting.wait_for(kHaltHeadStart);
  {
    std::lock_guard lock(mu_);
    for (const auto& run : runs_) {
      if (std::find(stopped.begin(), stopped.end(), run->run_id) != stopped.end()) {
        run->stop.Stop(why);
      }
    }
  }
  for (const std::string& id : stopped) response->add_stopped_runs(id);
  absl::Status saved = state_->SaveHalt(halt);
  if (!saved.ok()) spdlog::error("persist halt state failed error={}", saved.ToString());
  std::vector<HostResult> results = halting.get();
  int failed = 0;
  for (const HostResult& r : results) {
    v1::HostHalt* host = response->add_hosts();
    host->set_host(r.host);
    host->set_address(r.address);
    host->set_ok(r.ok);
    host->set_error(r.error);
    for (const v1::FaultStatus& f : r.reverted) *host->add_reverted() = f;
    for (const std::string& e : r.agent_errors) host->add_agent_errors(e);
    host->set_elapsed_ms(r.elapsed.count());
    failed += r.ok ? 0 : 1;
  }
  response->set_halted_by(by);
  response->set_halted_unix_ms(UnixMs(now));
  response->set_reason(reason);
  spdlog::warn("fleet halted by={} reason={} hosts={} failed={} runs_stopped={}", by, reason,
               results.size(), failed, stopped.size());
  return absl::OkStatus();
}

absl::Status ServeDaemon::Release(const v1::ReleaseRequest& request,
                                  v1::ReleaseResponse* response) {
  HaltState previous;
  {
    std::lock_guard lock(mu_);
    previous = halt_;
    halt_ = HaltState{};
  }
  FL_RETURN_IF_ERROR(state_->SaveHalt(HaltState{}));
  response->set_was_halted(previous.halted);
  response->set_halted_by(previous.by);
  response->set_reason(previous.reason);
  response->set_halted_unix_ms(previous.unix_ms);
  if (previous.halted) {
    spdlog::warn("halt released by={} (halted by={} reason={})",
                 request.by().empty() ? "unknown" : request.by(), previous.by, previous.reason);
  }
  return absl::OkStatus();
}

absl::Status ServeDaemon::AppendControl(const std::string& run, const std::string& type,
                                        const nlohmann::json& data,
                                        v1::ControlResponse* response, RunRecord* resolved) {
  if (run.empty()) return absl::InvalidArgumentError("no run id given");
  FL_ASSIGN_OR_RETURN(*resolved, store_->GetRun(run));
  if (type != kEventNote && IsFinal(resolved->status)) {
    return absl::FailedPreconditionError(absl::StrCat("run ", resolved->run_id, " already ended (",
                                                      RunStatusName(resolved->status), ")"));
  }
  FL_RETURN_IF_ERROR(store_->Append(resolved->run_id, type, data));
  {
    std::lock_guard lock(mu_);
    ++event_counter_;
  }
  cv_.notify_all();
  response->set_run_id(resolved->run_id);
  response->set_run_status(RunStatusName(resolved->status));
  return absl::OkStatus();
}

absl::Status ServeDaemon::AddNote(const v1::AddNoteRequest& request,
                                  v1::ControlResponse* response) {
  if (request.text().empty()) return absl::InvalidArgumentError("note text is empty");
  RunRecord run;
  return AppendControl(request.run_id(), kEventNote,
                       {{"text", request.text()}, {"author", request.author()}}, response, &run);
}

absl::Status ServeDaemon::ContinueRun(const v1::ContinueRunRequest& request,
                                      v1::ControlResponse* response) {
  RunRecord run;
  return AppendControl(request.run_id(), kEventContinue,
                       {{"by", request.by()}, {"gate", request.gate()}}, response, &run);
}

absl::Status ServeDaemon::AbortRun(const v1::AbortRunRequest& request,
                                   v1::ControlResponse* response) {
  RunRecord run;
  const std::string reason = request.reason().empty()
                                 ? absl::StrCat("aborted by ", request.by().empty() ? "unknown"
                                                                                     : request.by())
                                 : request.reason();
  // The Runner polls the journal for this event and aborts (exit 3).
  return AppendControl(request.run_id(), kEventAbortRequested,
                       {{"by", request.by()}, {"reason", reason}}, response, &run);
}

absl::Status ServeDaemon::ListSchedules(const v1::ListSchedulesRequest&,
                                        v1::ListSchedulesResponse* response) {
  absl::StatusOr<std::map<std::string, ScheduleState>> states = state_->LoadSchedules();
  std::lock_guard lock(mu_);
  for (const ScheduleConfig& s : config_.schedules) {
    v1::ScheduleStatus* out = response->add_schedules();
    out->set_name(s.name);
    out->set_experiment_path(s.experiment_path);
    out->set_cron(s.cron.text());
    out->set_timezone(s.timezone);
    out->set_concurrency(ConcurrencyName(s.concurrency));
    out->set_missed(MissedPolicyName(s.missed));
    if (scheduler_) {
      if (std::optional<absl::Time> next = scheduler_->NextFire(s.name)) {
        out->set_next_fire_unix_ms(UnixMs(*next));
      }
    }
    if (states.ok()) {
      if (auto it = states->find(s.name); it != states->end()) {
        out->set_last_fire_unix_ms(it->second.last_fire_unix_ms);
        out->set_last_run_id(it->second.last_run_id);
        out->set_last_outcome(it->second.last_outcome);
      }
    }
  }
  response->set_halted(halt_.halted);
  if (halt_.halted) response->set_halted_reason(HaltedMessage());
  return absl::OkStatus();
}

absl::Status ServeDaemon::FireSchedule(const v1::FireScheduleRequest& request,
                                       v1::FireScheduleResponse* response) {
  const ScheduleConfig* schedule = nullptr;
  for (const ScheduleConfig& s : config_.schedules) {
    if (s.name == request.name()) schedule = &s;
  }
  if (schedule == nullptr) {
    std::vector<std::string> names;
    for (const ScheduleConfig& s : config_.schedules) names.push_back(s.name);
    return absl::NotFoundError(absl::StrCat("no schedule \"", request.name(), "\"",
                                            names.empty() ? " (none configured)" : "; have: ",
                                            absl::StrJoin(names, ", ")));
  }
  const absl::Time now = options_.now();
  FireOutcome outcome =
      Fire(*schedule, now, now, {{"trigger", "manual"}, {"by", request.by()}});
  SaveScheduleState(schedule->name, std::nullopt, now, outcome.run_id,
                    outcome.started ? "started (manual)" : absl::StrCat("skipped: ", outcome.reason));
  response->set_run_id(outcome.run_id);
  response->set_started(outcome.started);
  response->set_skipped_reason(outcome.reason);
  return absl::OkStatus();
}

}  // namespace faultline::controller
