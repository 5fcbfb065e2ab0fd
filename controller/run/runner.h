// Runner: executes one experiment's Plan against its agents and journals every
// event as it happens.
//
//   run.started, plan → agents' capabilities (all at once) → steady state
//   (before) → method (the step tree, with `during` probes alongside) →
//   revert everything → steady state (after) → rollback actions → run.finished
//
// Method steps (controller/plan/plan.h PlannedStep; events carry the step
// `path`, "3.2" = second child of step 3):
//   fault     applied on every host of the step at once (one call per host,
//             each bounded by RunOptions::rpc_deadline), held for the
//             duration while observed figures are journaled, reverted on every
//             host at once. If any host fails or cannot be reached, every fault
//             applied anywhere is reverted and the run ends `failed`, exit 3,
//             naming each host and why.
//             ramp: phase k of n applies ramp->specs[k] for duration/n as fault
//             "<id>.<k>"; phase k is reverted before phase k+1 is applied (the
//             agent refuses two faults of some kinds on one object, e.g. two
//             root qdiscs), so there is a gap of one Revert+Apply round trip
//             (milliseconds) between phases.
//             flap: "<id>.<k>" applied for `on`, reverted for `off`, from the
//             step's start until its duration has passed (on/off phases are
//             anchored to the step's start, so slow calls do not drift them).
//   wait      sleeps (a stop ends it at once).
//   serial    children one after the other.
//   parallel  children together, each on its own thread; a failure or abort in
//             one stops all (they share the run's StopSignal).
//   pause     journals "gate.waiting" {path, message, timeout_ms, on_timeout,
//             continue_with: "faultline continue <run>"} and waits for a
//             "gate.continue" event (control_events.h) appended to this run's
//             journal after the gate opened, whose `gate` is "" or this path.
//             Timeout: on_timeout abort → the run aborts ("pause gate timed
//             out", exit 3); continue → "gate.timeout" is journaled and the
//             method goes on. Dry runs journal "gate.skipped" and do not wait.
//
// Probes. before/after: a probe is checked only in the phases its flags name;
// it passes if one of up to `failures` attempts, `interval` apart, passes
// (every attempt is journaled with `attempt`). during: one thread per probe
// runs it every `interval` while the method runs and journals each result
// ("probe.result", phase "during", consecutive_failures). `failures`
// consecutive failures journal "probe.deviated" and make the run deviated
// (exit 1) unless it aborts. An abort_when condition reaching its count aborts.
//
// Aborts: abort_when, an "abort.requested" journal event (`faultline abort`,
// serve's halt), the StopSignal (Ctrl-C, SIGTERM), a failed fault, a lost
// lease, a pause gate timing out. The first journals "abort" {reason,
// condition, triggered_unix_ms, ...}; nothing new is injected; every fault is
// reverted at once (on a separate thread, while the steps unwind) and again
// after the steps have unwound; then "abort.reverted" {revert_ms: from the
// condition becoming true to every fault reverted, all_reverted}. Exit 3.
// The journal is polled for control events every RunOptions::control_poll
// from run.started until the after probes are done (JournalStore has no
// "events since" query, so each poll reads the run's events; fine for runs of
// tens of thousands of events). Rollback actions are not interrupted: each is
// bounded by its own timeout.
//
// Rollback, after the method and after an abort: every fault is reverted
// (always), the after probes run, then the experiment's rollback actions run
// in order per rollback_policy — always; on-deviation (run deviated or
// aborted); never-for-kills (skipped when a process.kill was applied) — each
// journaled as "rollback.action". Runs that injected nothing (agents
// unreachable, before-steady-state failed, dry runs) skip them
// ("rollback.skipped"). A failed action is named in the verdict; a run that
// would have passed becomes deviated (exit 1) since the system may not be
// restored; other exit codes are unchanged.
//
// Expectations (`expect:`, controller/drill/expectations.h): when the
// experiment has any and the run is not a dry run, an ExpectationWatcher is
// told when the first fault is applied and when each fault is reverted; it
// polls the alert source and runs the recover probes on its own threads and
// journals "drill.detected" / "drill.recovered" / "drill.missed". After the
// method and the revert, the run waits for unresolved expectations until
// their `within` has passed (a stop or abort ends the wait), before the after
// probes. Any missed expectation makes the run deviated (exit 1) with the
// verdict naming it; met ones are summarised in a passing verdict. Dry runs
// journal "drill.skipped" {reason: "dry run"}. Alerts come from
// alerts.alertmanager when set, else RunOptions::alert_source (serve's
// webhook board); a detect expectation with neither fails the run before
// anything is injected (exit 2).
//
// "run.started" carries experiment, file, dry_run, targets, embedded, kind
// ("Experiment"|"Drill"), hypothesis, roles {role: who}, labels {k: v},
// owner, speed (drills only) and expect [{type: "detect", alert, labels,
// within_ms} | {type: "recover", probe, within_ms, from}].
//
// Failure semantics kept from DESIGN.md: a lease is held on every agent and
// renewed by one thread per agent (a slow agent cannot delay the others'
// renewals); a lease lost past its TTL aborts the run. An Apply whose outcome
// is unknown (deadline, unavailable) is tracked and reverted like an applied
// one. A revert that cannot be confirmed makes the run exit 3. Every fault
// applied is reverted before Run() returns.
//
// Thread-compatible: one Run() per Runner; Run() starts and joins its own
// threads.
#ifndef FAULTLINE_CONTROLLER_RUN_RUNNER_H_
#define FAULTLINE_CONTROLLER_RUN_RUNNER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/drill/alert_source.h"
#include "controller/drill/expectations.h"
#include "controller/plan/plan.h"
#include "controller/run/agent_client.h"
#include "controller/run/stop_signal.h"
#include "controller/spec/experiment.h"
#include "controller/store/journal_store.h"
#include "nlohmann/json.hpp"

namespace faultline::controller {

// Process exit codes of `faultline run` (documented in the README).
inline constexpr int kExitPassed = 0;    // completed, steady state held
inline constexpr int kExitDeviated = 1;  // completed, steady state deviated
inline constexpr int kExitInvalid = 2;   // invalid experiment or usage
inline constexpr int kExitAborted = 3;   // aborted, fault not applied, agent unreachable

struct RunOptions {
  bool dry_run = false;
  std::chrono::milliseconds lease_ttl{10000};
  // Per-agent deadline of every agent call. Apply and Revert can take seconds
  // on a loaded host (a stressor that must start, a memory hog to unmap);
  // RenewLease uses at most a third of the lease TTL so one slow agent cannot
  // make the others' leases lapse.
  std::chrono::milliseconds rpc_deadline{15000};
  // How often held faults' observed figures are journaled.
  std::chrono::milliseconds observe_interval{5000};
  // How often the journal is read for control events (gate.continue,
  // abort.requested).
  std::chrono::milliseconds control_poll{200};
  // At most this many agent calls in flight at once in one fan-out. Each
  // in-flight call holds a thread through its Apply and its journal record,
  // so a 200-host step should not queue behind the first batch.
  int max_parallel_calls = 256;
  // Address of the embedded local agent; required when the plan uses it.
  std::string embedded_address;
  // The fleet label-selected targets choose from (--inventory, or the
  // experiment's `inventory:` loaded by the caller); must outlive the Runner.
  // Null when targets list agents explicitly.
  const Inventory* inventory = nullptr;
  // --tls-ca/--tls-cert/--tls-key/--tls-server-name: with the inventory's
  // tls, how TCP agents are dialled (AgentTls::Create). Bad files fail the
  // run before any agent is touched (exit 2).
  TlsFiles tls;
  // Seed for blast-radius choices when the experiment sets none; unset = drawn
  // at random. The seed used is journaled in the "plan" event.
  std::optional<uint64_t> default_seed;
  // Run id to create the run under ("" = generated by the store), e.g. when
  // `faultline serve` announces the id before the run starts.
  std::string run_id;
  // Where detect expectations look for alerts when the experiment names no
  // alerts.alertmanager: serve passes its Alertmanager webhook board. Not
  // owned; must outlive the Runner. Null = none (then such an experiment
  // fails with exit 2 before injecting anything).
  AlertSource* alert_source = nullptr;
};

struct RunOutcome {
  std::string run_id;
  RunStatus status = RunStatus::kFailed;
  int exit_code = kExitAborted;
  std::string verdict;
};

// Called for every journaled event (after it is durable), for live output.
// Called from the run's threads, one call at a time.
using EventCallback = std::function<void(const Event& event)>;

class Runner {
 public:
  // `experiment`, `store` and `stop` must outlive the Runner.
  Runner(const Experiment& experiment, JournalStore* store, StopSignal* stop, RunOptions options,
         EventCallback on_event);
  ~Runner();

  // Runs the experiment to its end. A journal that cannot be created is the
  // only error (nothing was injected then); every other failure is an
  // outcome with its exit code.
  absl::StatusOr<RunOutcome> Run();

 private:
  struct Active;  // a fault applied (or of unknown outcome) and not yet reverted
  struct Phase;   // one application of a fault step: plain, ramp phase, flap cycle
  struct Gate;    // a pause gate's state, fed by the control thread

  // Journals one event; returns the wall-clock time (ms) it was stamped with.
  int64_t Record(const std::string& type, nlohmann::json data);
  // First call wins: journals "abort" {reason, condition, triggered_unix_ms}
  // plus `extra`, then stops the run. `triggered` is when the condition
  // became true.
  void Abort(const std::string& reason, const std::string& condition,
             std::chrono::steady_clock::time_point triggered,
             nlohmann::json extra = nlohmann::json::object());
  std::string HostName(const std::string& agent) const;
  AgentClient& ClientFor(const std::string& agent);

  bool ConnectAgents();
  // Dry-runs every planned fault on the remote agents (run/preflight.h); a
  // host that refuses one (policy, authorization) aborts the run before
  // anything is injected. Other dry-run errors are left to the step.
  bool PreflightFaults();
  // The controller's side of the audit trail: one "agent.call" event per
  // mutating agent call (Apply, dry runs included, Revert, Halt; RenewLease:
  // each agent's first, and every failure and recovery), with who made it
  // (`identity`: the client certificate's subject, or "plaintext").
  void JournalCall(const AgentCallRecord& call, const std::string& identity);
  bool CheckSteadyState(const std::string& phase);
  void DuringProbe(const Probe& probe);
  void ControlLoop();
  void RenewLease(const std::string& agent);

  bool RunSteps(const std::vector<PlannedStep>& steps);
  bool RunStep(const PlannedStep& step);
  bool RunParallel(const PlannedStep& step);
  bool RunPause(const PlannedStep& step);
  bool RunFaultStep(const PlannedStep& step);
  bool RunRamp(const PlannedStep& step);
  bool RunFlap(const PlannedStep& step);
  // Applies `phase` on every host of `step` at once; the fault ids it used
  // (applied or of unknown outcome) go to `ids`. False (and the run aborted)
  // if any host failed; false if the run was stopped.
  bool ApplyOnHosts(const PlannedStep& step, const Phase& phase, std::vector<std::string>* ids);
  // Holds `ids` until `end`, journaling observed figures. False if stopped.
  bool Hold(const std::vector<std::string>& ids, std::chrono::steady_clock::time_point end);
  void Observe(const std::vector<std::string>& ids);
  // Reverts those of `ids` still active, all at once.
  void RevertFaults(const std::vector<std::string>& ids, const std::string& reason);
  void RevertAll(const std::string& reason);
  void RevertTaken(std::vector<Active> faults, const std::string& reason);
  void RevertOne(const Active& fault, const std::string& reason);
  // Returns once no revert started by any thread is still in flight.
  void WaitForReverts();

  void RunRollback(bool injected, bool deviated, bool aborted);

  const Experiment& experiment_;
  JournalStore* store_;
  StopSignal* stop_;
  const RunOptions options_;
  EventCallback on_event_;

  std::string run_id_;
  const Plan* plan_ = nullptr;
  std::map<std::string, std::unique_ptr<AgentClient>> clients_;  // by plan agent name
  std::mutex record_mu_;
  bool journal_failed_ = false;  // guarded by record_mu_

  std::mutex active_mu_;
  std::map<std::string, Active> active_;  // by fault id; guarded by active_mu_
  int reverts_in_flight_ = 0;              // taken from active_, not yet answered; active_mu_
  std::condition_variable reverts_cv_;
  std::atomic<int> applied_count_{0};
  std::atomic<bool> killed_processes_{false};  // a process.kill was applied
  std::atomic<bool> revert_failed_{false};

  std::mutex renewals_mu_;
  std::set<std::string> renewal_seen_;        // guarded by renewals_mu_
  std::map<std::string, bool> renewal_ok_;    // guarded by renewals_mu_: last renewal's result
  std::mutex abort_mu_;
  std::string abort_reason_;     // guarded by abort_mu_; set once
  std::string abort_condition_;  // guarded by abort_mu_
  std::chrono::steady_clock::time_point abort_triggered_;  // guarded by abort_mu_

  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  std::map<std::string, std::unique_ptr<Gate>> gates_;  // by step path; guarded by gate_mu_
  bool gates_cancelled_ = false;                       // guarded by gate_mu_

  std::mutex deviation_mu_;
  std::set<std::string> deviated_probes_;  // guarded by deviation_mu_

  std::vector<std::string> failed_rollbacks_;  // main thread only

  // Expectations: the watcher exists only for a non-dry run with `expect:`;
  // owned_alerts_ is the Alertmanager client when alerts.alertmanager is set.
  std::unique_ptr<AlertSource> owned_alerts_;
  std::unique_ptr<ExpectationWatcher> watcher_;

  StopSignal lease_stop_;    // ends the lease renewal threads
  StopSignal probes_stop_;   // ends the during-probe threads
  StopSignal control_stop_;  // ends the control thread
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_RUN_RUNNER_H_
