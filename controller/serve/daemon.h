// ServeDaemon: the long-running controller behind `faultline serve`. It runs
// submitted experiments and scheduled ones, each on its own thread with the
// same Runner `faultline run` uses, and answers the ControllerService API
// (proto/faultline/v1/controller.proto; the gRPC adapter is
// controller_service.h). Data flow:
//
//   SubmitRun / scheduler fire ─► checks (halt; for fires also window,
//   blackout, concurrency) ─► Runner thread ─► journal (shared with the CLI)
//                                   │
//   GetRun / WatchRun / ListRuns ◄──┘ (read back from the journal)
//   AddNote / ContinueRun / AbortRun ─► journal control events the Runner polls
//   Halt ─► stop every active run + Halt on every agent in parallel; refuse
//           new runs until Release (persisted)
//
// Start-up (Create + Start) makes a crash of a previous daemon harmless: runs
// it left `running` are marked interrupted (JournalStore::MarkInterrupted)
// and each one's faults are reverted at once through its agents (List +
// Revert; the agents' lease expiry would do it too, later), then fires missed
// while it was down are journaled (missed: skip) or run once (run-once).
//
// Scheduled fires that may not start a run are journaled as runs with status
// `skipped` and a "schedule.skipped" (or "schedule.missed") event saying why,
// so `faultline runs` and `faultline show` list them.
//
// With `alertmanager_webhook` configured, Start() also listens for
// Alertmanager webhook posts (alert_webhook.h) and every run gets the board
// they feed as its alert source (detect expectations without
// alerts.alertmanager).
//
// Experiments without targets run against one embedded local agent that the
// daemon starts on first need and keeps until it exits (a child process that
// halts when the daemon dies, even by kill -9).
//
// Thread-safe: the public methods may be called from any gRPC thread.
#ifndef FAULTLINE_CONTROLLER_SERVE_DAEMON_H_
#define FAULTLINE_CONTROLLER_SERVE_DAEMON_H_

#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"
#include "controller/run/agent_client.h"
#include "controller/run/embedded_agent.h"
#include "controller/run/stop_signal.h"
#include "controller/drill/alert_source.h"
#include "controller/serve/alert_webhook.h"
#include "controller/serve/config.h"
#include "controller/serve/fleet.h"
#include "controller/serve/scheduler.h"
#include "controller/serve/serve_state.h"
#include "controller/spec/experiment.h"
#include "controller/store/journal_store.h"
#include "faultline/v1/controller.pb.h"
#include "grpcpp/grpcpp.h"

namespace faultline::controller {

struct DaemonOptions {
  // The journal file ("" = config.journal, else DefaultJournalPath()).
  std::string journal_path;
  // Once serving, the bound address is written here (one line), "" = none.
  std::string ready_file;
  // Wall clock for the scheduler and halt times; tests inject a fake one.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  // false: no scheduler thread; tests call Tick() with their own clock.
  bool run_scheduler = true;
  // `faultline serve --insecure`: allow a plaintext listener on an address
  // other hosts can reach (logged loudly). Without it and without config
  // tls, Create refuses such a listen address.
  bool insecure = false;
  // Where ServerTls keeps the copy of config.tls gRPC reads ("" = a
  // "serve-tls" directory next to the journal).
  std::string tls_snapshot_dir;
};

class ServeDaemon {
 public:
  // Opens the journal and serve state, loads the inventory and checks every
  // scheduled experiment (problems appended to `diagnostics`), checks the
  // TLS files (config.tls and the inventory's tls), then recovers runs a
  // previous daemon left running. InvalidArgument (bad inventory or
  // experiment; a non-local listen address without tls and without
  // options.insecure), CheckTlsFiles's errors, or the journal's errors. Does
  // not listen yet.
  static absl::StatusOr<std::unique_ptr<ServeDaemon>> Create(ServeConfig config,
                                                             DaemonOptions options,
                                                             std::vector<Diagnostic>* diagnostics);
  ~ServeDaemon();  // Shutdown("daemon destroyed") if still running

  // Handles fires missed while down, starts the gRPC server on
  // config.listen and the scheduler thread (and, when configured, the
  // Alertmanager webhook receiver, first). Returns the bound address.
  // Unavailable if an address cannot be bound.
  absl::StatusOr<std::string> Start();

  // The caller of a ControllerService call: with config.tls the verified
  // client certificate (ServerTls::VerifyPeer: Unauthenticated with the
  // reason when there is none, it is expired or from another CA), else an
  // anonymous peer. Every handler of controller_service.cc asks first.
  absl::StatusOr<PeerIdentity> Caller(const grpc::ServerContext& context) const;

  // SIGHUP: re-reads config.tls (ServerTls::Reload); open connections and
  // runs are untouched. FailedPrecondition without tls; Reload's errors (the
  // old files stay in force).
  absl::Status ReloadTls();

  // Stops taking requests, stops every active run (each reverts its faults),
  // waits for them, stops the embedded agent. Idempotent.
  void Shutdown(const std::string& reason);

  // Handles every fire due at `now` (the scheduler thread calls this).
  void Tick(absl::Time now);

  // ControllerService, one method per RPC; canonical codes as in the proto.
  // SubmitRun: InvalidArgument for an invalid experiment or inventory (every
  // problem as file:line:col) and for a plan that is refused (unknown
  // target, nothing selected, max_targets); FailedPrecondition while halted.
  absl::Status SubmitRun(const v1::SubmitRunRequest& request, v1::SubmitRunResponse* response);
  absl::Status ListRuns(const v1::ListRunsRequest& request, v1::ListRunsResponse* response);
  absl::Status GetRun(const v1::GetRunRequest& request, v1::GetRunResponse* response);
  // Calls `write` for each message until the run ends; stops early (OK)
  // when `write` returns false or `cancelled` returns true.
  absl::Status WatchRun(const v1::WatchRunRequest& request,
                        const std::function<bool(const v1::WatchRunResponse&)>& write,
                        const std::function<bool()>& cancelled);
  absl::Status Halt(const v1::HaltFleetRequest& request, v1::HaltFleetResponse* response);
  absl::Status Release(const v1::ReleaseRequest& request, v1::ReleaseResponse* response);
  absl::Status AddNote(const v1::AddNoteRequest& request, v1::ControlResponse* response);
  absl::Status ContinueRun(const v1::ContinueRunRequest& request, v1::ControlResponse* response);
  absl::Status AbortRun(const v1::AbortRunRequest& request, v1::ControlResponse* response);
  absl::Status ListSchedules(const v1::ListSchedulesRequest& request,
                             v1::ListSchedulesResponse* response);
  absl::Status FireSchedule(const v1::FireScheduleRequest& request,
                            v1::FireScheduleResponse* response);

  // Runs executing now (ids), for tests and the shutdown log.
  std::vector<std::string> ActiveRunIds();
  // Blocks until no run is executing or `timeout` passes; true if none is.
  bool WaitIdle(std::chrono::milliseconds timeout);

  JournalStore* store() { return store_.get(); }

  // "HOST:PORT" of the Alertmanager webhook receiver (config
  // alertmanager_webhook.listen) once Start() has bound it; "" = none.
  std::string alert_webhook_address() const {
    return alert_webhook_ ? alert_webhook_->address() : "";
  }

 private:
  struct ActiveRun;
  struct FireOutcome {
    std::string run_id;
    bool started = false;
    std::string reason;  // why skipped
  };

  ServeDaemon(ServeConfig config, DaemonOptions options);

  // Starts `experiment` on its own thread (with the embedded agent when
  // `needs_embedded`); returns its run id once the run is in the journal.
  // FailedPrecondition while halted, Unavailable while shutting down.
  absl::StatusOr<std::string> StartRun(std::shared_ptr<Experiment> experiment,
                                       std::shared_ptr<const Inventory> inventory,
                                       bool needs_embedded, bool dry_run,
                                       const std::string& schedule, nlohmann::json trigger);
  // A scheduled (or manual, or missed run-once) fire through every check.
  FireOutcome Fire(const ScheduleConfig& schedule, absl::Time fire_time, absl::Time check_time,
                   nlohmann::json trigger);
  // Journals a run that was never started: status skipped, `event_type`
  // {reason, ...data} and run.finished. Returns its id ("" if the journal
  // failed; logged).
  std::string RecordSkipped(const std::string& experiment, const std::string& experiment_path,
                            const std::string& source_text, const std::string& event_type,
                            nlohmann::json data, const std::string& reason);
  void HandleMissed(const std::vector<MissedFires>& missed, absl::Time now);
  void SaveScheduleState(const std::string& name, std::optional<absl::Time> covered,
                         std::optional<absl::Time> fired, const std::string& run_id,
                         const std::string& outcome);
  void RecoverInterrupted();
  absl::StatusOr<std::string> EmbeddedAddress();
  void SchedulerLoop();
  void ReapFinished();
  std::string HaltedMessage();  // requires mu_
  absl::Status AppendControl(const std::string& run, const std::string& type,
                             const nlohmann::json& data, v1::ControlResponse* response,
                             RunRecord* resolved);
  void FillSummary(const RunRecord& run, const std::vector<Event>* events, v1::RunSummary* out);
  std::vector<FleetAgent> InventoryAgents() const;

  const ServeConfig config_;
  const DaemonOptions options_;
  std::unique_ptr<JournalStore> store_;
  std::unique_ptr<ServeState> state_;
  std::optional<Inventory> inventory_;  // config.inventory_path, loaded once
  AgentTls agent_tls_;                  // inventory_'s tls, for recovery and halts
  std::unique_ptr<ServerTls> tls_;      // config.tls; null = plaintext listener

  std::mutex mu_;
  std::condition_variable cv_;  // scheduler wake-ups, run ends, new events
  uint64_t event_counter_ = 0;  // guarded by mu_; bumped on every run event
  bool shutting_down_ = false;  // guarded by mu_
  HaltState halt_;              // guarded by mu_
  std::optional<Scheduler> scheduler_;                  // guarded by mu_
  std::list<std::unique_ptr<ActiveRun>> runs_;         // guarded by mu_
  std::mutex fire_mu_;  // one fire at a time (concurrency checks are race-free)

  std::mutex embedded_mu_;
  std::unique_ptr<EmbeddedAgent> embedded_;  // guarded by embedded_mu_

  // Alerts Alertmanager pushed (alertmanager_webhook), shared by every run
  // as RunOptions::alert_source; the board outlives its server.
  std::unique_ptr<WebhookBoard> alert_board_;
  std::unique_ptr<AlertWebhookServer> alert_webhook_;

  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::thread scheduler_thread_;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SERVE_DAEMON_H_
