// Runner: executes one experiment's Plan against its agents and journals every
// event as it happens.
//
//   run.started → agents' capabilities → steady state (before) → method steps
//   (fault: apply on every agent of the target, hold for the duration, revert;
//   wait) → steady state (after) → run.finished
//
// While the run lasts a thread renews the run's lease on every agent; if that
// fails past the lease TTL the agents will have reverted on their own (the
// dead-man's switch) and the run aborts. Every fault applied is reverted
// before Run() returns: at the end of its step, on error, on abort and on a
// stop request (Ctrl-C). Thread-compatible: one Run() per Runner.
#ifndef FAULTLINE_CONTROLLER_RUN_RUNNER_H_
#define FAULTLINE_CONTROLLER_RUN_RUNNER_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

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
  // Apply and Revert can take seconds on a loaded host (a stressor that must
  // start, a memory hog to unmap); RenewLease uses at most a third of the
  // lease TTL so one slow agent cannot make the others' leases lapse.
  std::chrono::milliseconds rpc_deadline{15000};
  // How often held faults' observed figures are journaled.
  std::chrono::milliseconds observe_interval{5000};
  // Address of the embedded local agent; required when the plan uses it.
  std::string embedded_address;
};

struct RunOutcome {
  std::string run_id;
  RunStatus status = RunStatus::kFailed;
  int exit_code = kExitAborted;
  std::string verdict;
};

// Called for every journaled event (after it is durable), for live output.
using EventCallback = std::function<void(const Event& event)>;

class Runner {
 public:
  // `store` and `stop` must outlive the Runner.
  Runner(const Experiment& experiment, JournalStore* store, StopSignal* stop, RunOptions options,
         EventCallback on_event);
  ~Runner();

  // Runs the experiment to its end. A journal that cannot be created is the
  // only error (nothing was injected then); every other failure is an
  // outcome with its exit code.
  absl::StatusOr<RunOutcome> Run();

 private:
  struct Active;  // a fault applied and not yet reverted

  void Record(const std::string& type, nlohmann::json data);
  bool ConnectAgents();
  bool CheckSteadyState(const std::string& phase);
  bool RunFaultStep(const PlannedStep& step);
  void RevertFault(Active& fault, const std::string& reason);
  void RevertAll(const std::string& reason);
  void RenewLeases();
  void Abort(const std::string& reason);
  AgentClient& ClientFor(const std::string& agent);

  const Experiment& experiment_;
  JournalStore* store_;
  StopSignal* stop_;
  const RunOptions options_;
  EventCallback on_event_;

  std::string run_id_;
  int64_t started_ms_ = 0;
  std::map<std::string, std::unique_ptr<AgentClient>> clients_;  // by plan agent name
  std::vector<std::unique_ptr<Active>> active_;
  StopSignal lease_stop_;     // ends the lease renewal thread
  std::string abort_reason_;  // set once; guarded by abort_mu_
  std::mutex abort_mu_;
  std::mutex record_mu_;
  bool journal_failed_ = false;
  bool revert_failed_ = false;  // main thread only
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_RUN_RUNNER_H_
