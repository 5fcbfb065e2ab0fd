// FaultManager: owns every fault applied on this host and enforces DESIGN.md's
// failure semantics. The gRPC server is a thin adapter over this class; the
// embedded agent of `faultline run` uses the same class in a child process.
//
//  - Every fault ends: it is reverted at applied + duration, and never later
//    than its hard TTL, by Tick() (called by the reaper thread).
//  - Dead-man's switch: each run id holds a lease; Apply and RenewLease extend
//    it. When it expires, Tick() reverts that run's faults, and later Apply /
//    RenewLease for the run fail with FailedPrecondition.
//  - Write-ahead: the state file (state_dir/state.json, JSON of
//    v1::AgentState) is rewritten and fsynced before the host is touched and
//    again after Apply; Recover() reverts whatever it lists.
//  - Halt() and the destructor revert everything.
//  - At most `max_faults` faults are active at once (ResourceExhausted).
//  - The operator's Policy (agent/policy/policy.h) refuses a request with
//    PermissionDenied before anything is built, prepared or persisted, dry
//    runs included; protected processes are refused when Prepare resolves
//    targets (agent/faults/process_target.h).
//
// Thread-safe: all public methods may be called concurrently; mutations are
// serialised by one mutex.
#ifndef FAULTLINE_AGENT_MANAGER_FAULT_MANAGER_H_
#define FAULTLINE_AGENT_MANAGER_FAULT_MANAGER_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "agent/host/clock.h"
#include "agent/manager/state_file.h"
#include "agent/policy/policy.h"
#include "faultline/v1/agent.pb.h"

namespace faultline::agent {

struct ManagerOptions {
  std::filesystem::path state_dir = "/var/lib/faultline-agent";
  size_t max_faults = 32;
  // Lease given to a run when a request does not name one.
  std::chrono::milliseconds default_lease_ttl{15000};
  // Hard TTL when a request leaves ttl_ms at 0: duration + this.
  std::chrono::milliseconds ttl_grace{30000};
  // Longest duration / TTL accepted.
  std::chrono::milliseconds max_duration{std::chrono::hours(24)};
  // Copied into every fault's FaultContext (fault_id is filled per fault).
  // The manager adds policy.protected_processes and the agent's ancestors at
  // construction (see FaultContext).
  FaultContext fault_context;
  // The operator's limits (agent config `policy:`); default: none. The
  // manager fills policy.mem_total_bytes from /proc/meminfo at construction
  // when max_memory is set.
  Policy policy;
};

// What the gRPC layer knows about one Apply call; copied into that fault's
// FaultContext, so network faults can exempt the control channel.
struct ApplyOrigin {
  std::string caller_address;  // the caller's IP address; "" = unknown / unix socket
  int control_port = 0;        // TCP port the agent serves on; 0 = keep the options' value
};

// Builds a Fault from a spec. It must validate the spec (MakeFault runs
// ValidateSpec) and have no side effects: the manager calls it before any
// other check that could touch state, and relies on it for spec validation
// so that tests can substitute fake faults.
using FaultFactory = std::function<absl::StatusOr<std::unique_ptr<Fault>>(
    const v1::FaultSpec&, const FaultContext&)>;

class FaultManager {
 public:
  // `clock` must outlive the manager. `factory` defaults to MakeFault.
  FaultManager(ManagerOptions options, const Clock* clock, FaultFactory factory = MakeFault);
  // Stops the reaper and reverts every active fault (reason "shutdown").
  ~FaultManager();
  FaultManager(const FaultManager&) = delete;
  FaultManager& operator=(const FaultManager&) = delete;

  // Creates state_dir if needed, reads the state file, reverts every fault it
  // lists (factory + Restore + Revert) and leaves an empty state file.
  // Returns the recovered faults: state REVERTED (revert_reason "recovery"),
  // or FAILED when the revert failed. A failed record stays in the state file;
  // if its Fault could be rebuilt it is also kept as an active entry that
  // List shows and Tick/Halt retry, otherwise it waits for the next start.
  // Call once, before serving (Apply persists into the directory it
  // creates); it also locks the state dir for the manager's lifetime.
  // Errors: the state dir cannot be created/written (PermissionDenied,
  // Internal); another agent holds the state dir (FailedPrecondition); a
  // corrupt state file is DataLoss and is moved aside to
  // state.json.corrupt-<unix>, not deleted (a fresh empty state file
  // replaces it, so the agent can keep serving).
  absl::StatusOr<std::vector<v1::FaultStatus>> Recover();

  // Applies a fault. Idempotent by fault_id: same id + same spec while active
  // returns the active status with already_active=true; same id with another
  // spec is AlreadyExists. InvalidArgument (bad id/spec/duration, see
  // request_validation.h), PermissionDenied (policy: "fault <id>: policy
  // <rule> (<limit>) refuses <what>"; a protected process among the targets
  // from Prepare), ResourceExhausted (cap), FailedPrecondition (run's lease
  // expired), plus
  // whatever Prepare/Apply return, annotated "prepare|apply <kind> id=<id>".
  // On error nothing stays applied; the one exception is an Apply error whose
  // clean-up Revert also fails: that fault stays listed as FAILED and Tick
  // retries its revert. A successful Apply creates or extends the run's lease
  // to now + lease_ttl_ms (0 = default_lease_ttl), never shortening it.
  // dry_run: runs every check and Prepare() only; state DRY_RUN; nothing is
  // persisted and no lease is created.
  // Order: request fields (InvalidArgument), Policy::CheckRequest, spec
  // (factory), then same-id idempotency, lease, policy max_concurrent_faults,
  // cap, Prepare (protected processes), write-ahead persist, Apply, persist.
  // Holds the manager's mutex throughout, so Fault::Apply must be quick.
  // `origin` fills FaultContext.caller_address / control_port for this fault.
  absl::StatusOr<v1::ApplyResponse> Apply(const v1::ApplyRequest& request,
                                          const ApplyOrigin& origin = {});

  // Reverts one fault (reason "request"). Unknown or already reverted ids
  // succeed with was_active=false; for one reverted recently (e.g. by its
  // deadline) `fault` then carries its final status, figures and reason.
  // A Revert() error from the fault is
  // returned and the fault stays listed (to be retried by Tick/Halt).
  // InvalidArgument for an ill-formed id.
  absl::StatusOr<v1::RevertResponse> Revert(const std::string& fault_id);

  // Active faults (optionally of one run) with fresh Observe() figures. A
  // fault whose revert failed and is being retried has state FAILED and its
  // pending revert_reason.
  v1::ListResponse List(const std::string& run_id);

  // Extends (or creates) the run's lease to now + ttl (0 = default).
  // FailedPrecondition if the lease already expired and its faults were
  // reverted; InvalidArgument for an ill-formed run id or a ttl above
  // max_duration.
  absl::StatusOr<v1::RenewLeaseResponse> RenewLease(const std::string& run_id,
                                                    std::chrono::milliseconds ttl);

  // Reverts every active fault with revert_reason `reason`. Errors are
  // collected in the response, never stop the sweep; those faults stay
  // listed and Tick keeps retrying them.
  v1::HaltResponse Halt(const std::string& reason);

  // Reverts faults past their deadline (reason "duration", or "ttl" when the
  // hard TTL is the shorter bound), faults of runs whose lease has expired
  // ("lease"), and retries faults whose earlier revert failed. Returns what
  // it reverted. A failing revert is logged once per fault. Called by the
  // reaper; tests call it directly with a FakeClock.
  std::vector<v1::FaultStatus> Tick();

  // Starts a thread that calls Tick() every `period`. Idempotent.
  void StartReaper(std::chrono::milliseconds period = std::chrono::milliseconds(100));
  void StopReaper();

  size_t active_count() const;
  const ManagerOptions& options() const { return options_; }

 private:
  struct Entry;
  struct Lease {
    Clock::TimePoint expires;
  };

  absl::Status PersistLocked();
  // Persists and, on failure, logs a warning: used after reverts, where the
  // host is already in its safe state and a stale record only causes one
  // more idempotent Revert at the next start.
  void PersistOrWarnLocked(const char* after);
  absl::StatusOr<v1::FaultStatus> RevertLocked(const std::string& fault_id,
                                               const std::string& reason);
  // Reverts one fault from the reaper's paths: success is appended to
  // `reverted`; a failure is logged once per fault and retried by Tick.
  void RevertOrWarnLocked(const std::string& fault_id, const std::string& reason,
                          std::vector<v1::FaultStatus>* reverted);
  v1::FaultStatus StatusLocked(Entry& entry, bool observe);
  // Keeps the final status of a reverted fault for a later Revert call.
  void RememberRevertedLocked(const v1::FaultStatus& status);
  // True if `run_id`'s lease has expired (remembered or just now); in the
  // latter case reverts the run's faults first.
  bool RunExpiredLocked(const std::string& run_id, Clock::TimePoint now,
                        std::vector<v1::FaultStatus>* reverted);
  // Forgets the lease, reverts the run's faults (reason "lease") and
  // remembers the run as expired.
  void ExpireRunLocked(const std::string& run_id, std::vector<v1::FaultStatus>* reverted);
  void ReaperLoop(std::chrono::milliseconds period);

  const ManagerOptions options_;
  const Clock* clock_;
  FaultFactory factory_;
  const std::unique_ptr<StateFile> state_file_;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> active_;  // by fault id
  std::map<std::string, Lease> leases_;                   // by run id
  // Runs whose lease expired, bounded to kMaxExpiredRuns (oldest dropped).
  std::set<std::string> expired_runs_;
  std::deque<std::string> expired_order_;
  // Final statuses of the last kMaxRememberedReverts reverted faults.
  static constexpr size_t kMaxRememberedReverts = 1024;
  std::map<std::string, v1::FaultStatus> recently_reverted_;
  std::deque<std::string> reverted_order_;
  // Records Recover() could not even rebuild a Fault for (e.g. a kind this
  // build lacks): kept in the state file for a later agent to revert.
  std::vector<v1::FaultRecord> unrecoverable_;

  std::mutex reaper_mu_;
  std::condition_variable reaper_cv_;
  bool reaper_stop_ = false;
  std::thread reaper_;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_MANAGER_FAULT_MANAGER_H_
