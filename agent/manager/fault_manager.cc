#include "agent/manager/fault_manager.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/host/process.h"
#include "agent/host/sysinfo.h"
#include "agent/manager/request_validation.h"
#include "common/status.h"
#include "google/protobuf/util/message_differencer.h"
#include "spdlog/spdlog.h"

namespace faultline::agent {
namespace {

constexpr size_t kMaxExpiredRuns = 1024;

using std::chrono::milliseconds;

// Seconds for logs: "30", "1.5".
std::string Seconds(milliseconds d) { return absl::StrFormat("%g", d.count() / 1000.0); }

// Which field makes `b` a different fault from the active `a`, or "".
std::string Difference(const v1::ApplyRequest& a, const v1::ApplyRequest& b) {
  if (a.run_id() != b.run_id()) return "run_id";
  if (a.duration_ms() != b.duration_ms()) return "duration_ms";
  if (a.ttl_ms() != b.ttl_ms()) return "ttl_ms";
  if (!google::protobuf::util::MessageDifferencer::Equals(a.spec(), b.spec())) return "spec";
  return "";
}

}  // namespace

// The handle that owns one applied fault. Only the manager holds entries; the
// destructor is the safety net that reverts a fault still on the host.
struct FaultManager::Entry {
  Entry() = default;
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  Entry(Entry&&) = default;
  Entry& operator=(Entry&&) = default;
  ~Entry() {
    if (!armed || fault == nullptr) return;
    absl::Status status = fault->Revert();
    if (status.ok()) {
      spdlog::info("fault reverted id={} run={} kind={} reason=shutdown", request.fault_id(),
                   request.run_id(), std::string(fault->kind()));
    } else {
      spdlog::warn("fault revert failed id={} kind={} reason=shutdown error=\"{}\"",
                   request.fault_id(), std::string(fault->kind()), std::string(status.message()));
    }
  }

  v1::ApplyRequest request;
  std::unique_ptr<Fault> fault;
  Clock::TimePoint applied;
  Clock::TimePoint deadline;
  std::string deadline_reason;  // "duration" or "ttl"
  // Set when a revert was attempted and failed; Tick retries with it.
  std::string pending_reason;
  // The host may carry this fault's effect: Apply was called and no Revert
  // has succeeded since.
  bool armed = false;
  // A failing revert is logged once per fault, not once per Tick.
  bool warned = false;
};

namespace {

// What the manager adds to the caller's options: the policy's protected
// processes and the agent's ancestry at start go into every FaultContext,
// MemTotal into the policy when it limits memory.
ManagerOptions Completed(ManagerOptions options) {
  FaultContext& context = options.fault_context;
  for (const std::string& entry : options.policy.protected_processes) {
    context.protected_processes.push_back(entry);
  }
  for (pid_t pid : AncestorsOf(getpid())) context.agent_ancestors.push_back(pid);
  if (options.policy.max_memory.has_value() && options.policy.mem_total_bytes == 0) {
    if (absl::StatusOr<MemInfo> mem = ReadMemInfo(); mem.ok()) {
      options.policy.mem_total_bytes = mem->total_bytes;
    } else {
      spdlog::warn("policy max_memory: MemTotal unreadable, memory.pressure specs in other units "
                   "are refused error=\"{}\"",
                   std::string(mem.status().message()));
    }
  }
  if (!options.policy.Unlimited()) spdlog::info("policy {}", options.policy.Describe());
  return options;
}

}  // namespace

FaultManager::FaultManager(ManagerOptions options, const Clock* clock, FaultFactory factory)
    : options_(Completed(std::move(options))),
      clock_(clock),
      factory_(std::move(factory)),
      state_file_(std::make_unique<StateFile>(options_.state_dir)) {}

FaultManager::~FaultManager() {
  StopReaper();
  bool any;
  {
    std::lock_guard lock(mu_);
    any = !active_.empty();
  }
  if (any) {
    v1::HaltResponse halted = Halt("shutdown");
    for (const std::string& error : halted.errors()) {
      spdlog::warn("fault revert failed at shutdown error=\"{}\"", error);
    }
  }
  std::lock_guard lock(mu_);
  // Entries whose revert failed try once more in their destructors; the
  // state file still lists them for the next start.
  active_.clear();
}

absl::StatusOr<std::vector<v1::FaultStatus>> FaultManager::Recover() {
  FL_RETURN_IF_ERROR(state_file_->EnsureDir());
  FL_RETURN_IF_ERROR(state_file_->Lock());
  absl::StatusOr<v1::AgentState> read = state_file_->Read();
  std::lock_guard lock(mu_);
  if (!read.ok()) {
    if (read.status().code() != absl::StatusCode::kDataLoss) return read.status();
    const int64_t unix_s =
        std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
    absl::StatusOr<std::filesystem::path> aside = state_file_->MoveAside(unix_s);
    if (!aside.ok()) {
      return absl::DataLossError(absl::StrCat(read.status().message(),
                                              "; could not move it aside: ",
                                              aside.status().message()));
    }
    FL_RETURN_IF_ERROR(PersistLocked());
    return absl::DataLossError(absl::StrCat(read.status().message(), "; moved to ",
                                            aside->string(),
                                            "; faults it listed were not reverted"));
  }

  std::vector<v1::FaultStatus> recovered;
  for (const v1::FaultRecord& record : read->faults()) {
    const v1::ApplyRequest& request = record.request();
    const std::string kind = KindName(request.spec());
    v1::FaultStatus status;
    status.set_fault_id(request.fault_id());
    status.set_run_id(request.run_id());
    status.set_kind(kind);
    status.set_applied_unix_ms(record.applied_unix_ms());
    status.set_expires_unix_ms(record.deadline_unix_ms());
    *status.mutable_spec() = request.spec();
    status.set_revert_reason("recovery");

    FaultContext context = options_.fault_context;
    context.fault_id = request.fault_id();
    absl::StatusOr<std::unique_ptr<Fault>> made = factory_(request.spec(), context);
    if (!made.ok() || active_.count(request.fault_id()) > 0) {
      const std::string error = made.ok() ? "duplicate fault id in state file"
                                          : std::string(made.status().message());
      spdlog::warn("fault recovery failed id={} run={} kind={} error=\"{}\" (kept in state file)",
                   request.fault_id(), request.run_id(), kind, error);
      status.set_state(v1::FAULT_STATE_FAILED);
      unrecoverable_.push_back(record);
      recovered.push_back(std::move(status));
      continue;
    }
    std::unique_ptr<Fault> fault = std::move(*made);
    fault->Restore(record.revert());
    status.set_engine(fault->engine());
    status.set_target(fault->target());
    status.set_reversible(fault->reversible());
    absl::Status reverted = fault->Revert();
    if (reverted.ok()) {
      spdlog::info("fault reverted id={} run={} kind={} reason=recovery", request.fault_id(),
                   request.run_id(), kind);
      status.set_state(v1::FAULT_STATE_REVERTED);
      recovered.push_back(std::move(status));
      continue;
    }
    spdlog::warn("fault revert failed id={} run={} kind={} reason=recovery error=\"{}\" "
                 "(retrying every tick)",
                 request.fault_id(), request.run_id(), kind, std::string(reverted.message()));
    status.set_state(v1::FAULT_STATE_FAILED);
    recovered.push_back(std::move(status));
    auto entry = std::make_unique<Entry>();
    entry->request = request;
    entry->fault = std::move(fault);
    entry->applied = Clock::TimePoint(milliseconds(record.applied_unix_ms()));
    entry->deadline = Clock::TimePoint(milliseconds(record.deadline_unix_ms()));
    entry->deadline_reason = "duration";
    entry->pending_reason = "recovery";
    entry->armed = true;
    entry->warned = true;
    active_.emplace(request.fault_id(), std::move(entry));
  }
  FL_RETURN_IF_ERROR(PersistLocked());
  return recovered;
}

absl::StatusOr<v1::ApplyResponse> FaultManager::Apply(const v1::ApplyRequest& request,
                                                      const ApplyOrigin& origin) {
  // Request fields and spec first: nothing below runs for a bad request.
  FL_RETURN_IF_ERROR(ValidateRequestFields(request, options_.max_duration));
  const std::string& id = request.fault_id();
  const std::string prefix = absl::StrCat("fault ", id);
  const std::string kind = KindName(request.spec());
  // The operator's policy, before anything is built or touched (dry runs
  // too, so `plan` shows the denial).
  FL_RETURN_IF_ERROR(Annotate(options_.policy.CheckRequest(request), prefix));
  FaultContext context = options_.fault_context;
  context.fault_id = id;
  context.caller_address = origin.caller_address;
  if (origin.control_port != 0) context.control_port = origin.control_port;
  FL_ASSIGN_OR_RETURN(std::unique_ptr<Fault> fault,
                      [&]() -> absl::StatusOr<std::unique_ptr<Fault>> {
                        auto made = factory_(request.spec(), context);
                        if (!made.ok()) return Annotate(made.status(), prefix);
                        return made;
                      }());

  std::lock_guard lock(mu_);
  const Clock::TimePoint now = clock_->Now();
  v1::ApplyResponse response;

  if (auto it = active_.find(id); it != active_.end()) {
    Entry& active = *it->second;
    const std::string differs = Difference(active.request, request);
    if (differs.empty()) {
      *response.mutable_fault() = StatusLocked(active, /*observe=*/false);
      response.set_already_active(true);
      return response;
    }
    return absl::AlreadyExistsError(absl::StrCat(
        prefix, " is already active with a different ", differs, " (run=",
        active.request.run_id(), " kind=", KindName(active.request.spec()),
        "); revert it or use another id"));
  }

  std::vector<v1::FaultStatus> lease_reverted;
  if (RunExpiredLocked(request.run_id(), now, &lease_reverted)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease for run ", request.run_id(), " expired; its faults were reverted"));
  }
  FL_RETURN_IF_ERROR(Annotate(options_.policy.CheckConcurrent(active_.size()), prefix));
  if (active_.size() >= options_.max_faults) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "agent fault cap reached: ", active_.size(), " active (max_faults)"));
  }
  const std::string what = absl::StrCat(kind, " id=", id);
  FL_RETURN_IF_ERROR(Annotate(fault->Prepare(), absl::StrCat("prepare ", what)));

  const milliseconds duration(request.duration_ms());
  const milliseconds ttl =
      request.ttl_ms() != 0 ? milliseconds(request.ttl_ms()) : duration + options_.ttl_grace;

  if (request.dry_run()) {
    v1::FaultStatus* status = response.mutable_fault();
    status->set_fault_id(id);
    status->set_run_id(request.run_id());
    status->set_kind(kind);
    status->set_engine(fault->engine());
    status->set_state(v1::FAULT_STATE_DRY_RUN);
    status->set_target(fault->target());
    status->set_reversible(fault->reversible());
    status->set_applied_unix_ms(ToUnixMillis(now));
    status->set_expires_unix_ms(ToUnixMillis(now + std::min(duration, ttl)));
    *status->mutable_spec() = request.spec();
    return response;
  }

  auto owned = std::make_unique<Entry>();
  Entry& entry = *owned;
  entry.request = request;
  entry.request.set_dry_run(false);
  entry.fault = std::move(fault);
  entry.applied = now;
  if (request.ttl_ms() != 0 && ttl <= duration) {
    entry.deadline = now + ttl;
    entry.deadline_reason = "ttl";
  } else {
    entry.deadline = now + duration;
    entry.deadline_reason = "duration";
  }
  active_.emplace(id, std::move(owned));

  // Write-ahead: the record (with what Apply may touch, from Prepare) is
  // durable before the host changes, so a crash during Apply is recovered.
  if (absl::Status persisted = PersistLocked(); !persisted.ok()) {
    active_.erase(id);
    // Best effort: if the rename landed but the directory fsync failed, the
    // file lists a fault that was never applied; recovery reverts it, which
    // is harmless.
    (void)PersistLocked();
    return Annotate(persisted, absl::StrCat("write-ahead state for ", what));
  }

  entry.armed = true;
  const std::string ahead = entry.fault->revert_state().SerializeAsString();
  if (absl::Status applied = entry.fault->Apply(); !applied.ok()) {
    // Apply is all-or-nothing, but a revert costs little and covers a fault
    // that broke that promise.
    std::string message = absl::StrCat("apply ", what, ": ", applied.message());
    absl::Status cleanup = entry.fault->Revert();
    if (cleanup.ok()) {
      entry.armed = false;
      active_.erase(id);
    } else {
      entry.pending_reason = "apply failed";
      entry.warned = true;
      absl::StrAppend(&message, " (cleanup revert failed, retrying: ", cleanup.message(), ")");
    }
    if (absl::Status persisted = PersistLocked(); !persisted.ok()) {
      absl::StrAppend(&message, " (state file not updated: ", persisted.message(), ")");
    }
    return absl::Status(applied.code(), message);
  }

  // Second write: the revert state now names what Apply really touched
  // (e.g. the stressor's pid). Skipped when Apply added nothing to it, as for
  // process.pause whose targets were recorded before: an fsync is most of
  // the Apply latency.
  absl::Status persisted = absl::OkStatus();
  if (entry.fault->revert_state().SerializeAsString() != ahead) persisted = PersistLocked();
  if (!persisted.ok()) {
    // Without a durable record a crash would leave the fault behind, so take
    // it back out.
    std::string message =
        absl::StrCat("record applied ", what, ": ", persisted.message(), "; fault reverted");
    if (absl::Status back = entry.fault->Revert(); back.ok()) {
      entry.armed = false;
      active_.erase(id);
    } else {
      entry.pending_reason = "apply failed";
      entry.warned = true;
      message = absl::StrCat("record applied ", what, ": ", persisted.message(),
                             "; revert failed, retrying: ", back.message());
    }
    (void)PersistLocked();
    return absl::Status(persisted.code(), message);
  }

  const milliseconds lease_ttl = request.lease_ttl_ms() != 0
                                     ? milliseconds(request.lease_ttl_ms())
                                     : options_.default_lease_ttl;
  Lease& lease = leases_[request.run_id()];
  lease.expires = std::max(lease.expires, now + lease_ttl);

  spdlog::info(
      "fault applied id={} run={} kind={} engine={} target=\"{}\" duration_s={} ttl_s={}", id,
      request.run_id(), kind, entry.fault->engine(), entry.fault->target(), Seconds(duration),
      Seconds(ttl));
  *response.mutable_fault() = StatusLocked(entry, /*observe=*/false);
  return response;
}

absl::StatusOr<v1::RevertResponse> FaultManager::Revert(const std::string& fault_id) {
  FL_RETURN_IF_ERROR(ValidateId("fault_id", fault_id));
  std::lock_guard lock(mu_);
  v1::RevertResponse response;
  if (active_.count(fault_id) == 0) {
    // Already reverted (typically by its own deadline a moment before the
    // controller asked): hand back the final figures so none are lost.
    response.set_was_active(false);
    if (auto it = recently_reverted_.find(fault_id); it != recently_reverted_.end()) {
      *response.mutable_fault() = it->second;
    }
    return response;
  }
  FL_ASSIGN_OR_RETURN(*response.mutable_fault(), RevertLocked(fault_id, "request"));
  response.set_was_active(true);
  PersistOrWarnLocked("revert");
  return response;
}

v1::ListResponse FaultManager::List(const std::string& run_id) {
  std::lock_guard lock(mu_);
  v1::ListResponse response;
  for (auto& [id, entry] : active_) {
    if (!run_id.empty() && entry->request.run_id() != run_id) continue;
    *response.add_faults() = StatusLocked(*entry, /*observe=*/true);
  }
  return response;
}

absl::StatusOr<v1::RenewLeaseResponse> FaultManager::RenewLease(const std::string& run_id,
                                                                milliseconds ttl) {
  FL_RETURN_IF_ERROR(ValidateId("run_id", run_id));
  if (ttl.count() < 0 || ttl > options_.max_duration) {
    return absl::InvalidArgumentError(absl::StrCat(
        "run ", run_id, ": lease ttl_ms must be at most ", options_.max_duration.count(),
        " (max_duration), got ", ttl.count()));
  }
  std::lock_guard lock(mu_);
  const Clock::TimePoint now = clock_->Now();
  std::vector<v1::FaultStatus> reverted;
  if (RunExpiredLocked(run_id, now, &reverted)) {
    return absl::FailedPreconditionError(
        absl::StrCat("lease for run ", run_id, " expired; its faults were reverted"));
  }
  const milliseconds effective = ttl.count() != 0 ? ttl : options_.default_lease_ttl;
  Lease& lease = leases_[run_id];
  lease.expires = now + effective;
  v1::RenewLeaseResponse response;
  response.set_expires_unix_ms(ToUnixMillis(lease.expires));
  uint32_t count = 0;
  for (const auto& [id, entry] : active_) {
    if (entry->request.run_id() == run_id) ++count;
  }
  response.set_active_faults(count);
  return response;
}

v1::HaltResponse FaultManager::Halt(const std::string& reason) {
  std::lock_guard lock(mu_);
  v1::HaltResponse response;
  std::vector<std::string> ids;
  for (const auto& [id, entry] : active_) ids.push_back(id);
  for (const std::string& id : ids) {
    absl::StatusOr<v1::FaultStatus> reverted = RevertLocked(id, reason);
    if (reverted.ok()) {
      *response.add_reverted() = *std::move(reverted);
    } else {
      response.add_errors(std::string(reverted.status().message()));
    }
  }
  if (!ids.empty()) {
    if (absl::Status persisted = PersistLocked(); !persisted.ok()) {
      response.add_errors(std::string(persisted.message()));
    }
  }
  spdlog::info("halt reason=\"{}\" reverted={} failed={}", reason, response.reverted_size(),
               active_.size());
  return response;
}

std::vector<v1::FaultStatus> FaultManager::Tick() {
  std::lock_guard lock(mu_);
  const Clock::TimePoint now = clock_->Now();
  std::vector<v1::FaultStatus> reverted;

  std::vector<std::pair<std::string, std::string>> due;  // id, reason
  for (const auto& [id, entry] : active_) {
    if (!entry->pending_reason.empty()) {
      due.emplace_back(id, entry->pending_reason);
    } else if (now >= entry->deadline) {
      due.emplace_back(id, entry->deadline_reason);
    }
  }
  for (const auto& [id, reason] : due) {
    RevertOrWarnLocked(id, reason, &reverted);
  }

  std::vector<std::string> expired;
  for (const auto& [run, lease] : leases_) {
    if (now >= lease.expires) expired.push_back(run);
  }
  for (const std::string& run : expired) ExpireRunLocked(run, &reverted);
  // Only a successful revert changes the file; a revert that keeps failing
  // must not cost an fsync every tick.
  if (!reverted.empty()) PersistOrWarnLocked("tick");
  return reverted;
}

void FaultManager::StartReaper(milliseconds period) {
  std::lock_guard lock(reaper_mu_);
  if (reaper_.joinable()) return;
  reaper_stop_ = false;
  reaper_ = std::thread([this, period] { ReaperLoop(period); });
}

void FaultManager::StopReaper() {
  std::thread reaper;
  {
    std::lock_guard lock(reaper_mu_);
    reaper_stop_ = true;
    reaper = std::move(reaper_);
  }
  reaper_cv_.notify_all();
  if (reaper.joinable()) reaper.join();
}

void FaultManager::ReaperLoop(milliseconds period) {
  std::unique_lock lock(reaper_mu_);
  while (!reaper_cv_.wait_for(lock, period, [this] { return reaper_stop_; })) {
    lock.unlock();
    Tick();
    lock.lock();
  }
}

size_t FaultManager::active_count() const {
  std::lock_guard lock(mu_);
  return active_.size();
}

absl::Status FaultManager::PersistLocked() {
  v1::AgentState state;
  for (const auto& [id, entry] : active_) {
    v1::FaultRecord* record = state.add_faults();
    *record->mutable_request() = entry->request;
    *record->mutable_revert() = entry->fault->revert_state();
    record->set_applied_unix_ms(ToUnixMillis(entry->applied));
    record->set_deadline_unix_ms(ToUnixMillis(entry->deadline));
  }
  for (const v1::FaultRecord& record : unrecoverable_) *state.add_faults() = record;
  return state_file_->Write(state);
}

void FaultManager::PersistOrWarnLocked(const char* after) {
  if (absl::Status status = PersistLocked(); !status.ok()) {
    spdlog::warn("state file not updated after={} error=\"{}\" (stale records are reverted "
                 "again at the next start)",
                 after, std::string(status.message()));
  }
}

absl::StatusOr<v1::FaultStatus> FaultManager::RevertLocked(const std::string& fault_id,
                                                           const std::string& reason) {
  auto it = active_.find(fault_id);
  if (it == active_.end()) {
    return absl::NotFoundError(absl::StrCat("fault ", fault_id, " is not active"));
  }
  Entry& entry = *it->second;
  // Final figures are measured while the effect is still there.
  v1::FaultStatus status = StatusLocked(entry, /*observe=*/true);
  if (absl::Status reverted = entry.fault->Revert(); !reverted.ok()) {
    if (entry.pending_reason.empty()) entry.pending_reason = reason;
    return Annotate(reverted, absl::StrCat("revert ", std::string(entry.fault->kind()),
                                           " id=", fault_id));
  }
  entry.armed = false;
  status.set_state(v1::FAULT_STATE_REVERTED);
  status.set_revert_reason(reason);
  spdlog::info("fault reverted id={} run={} kind={} reason={}", fault_id,
               entry.request.run_id(), status.kind(), reason);
  active_.erase(it);
  RememberRevertedLocked(status);
  return status;
}

void FaultManager::RememberRevertedLocked(const v1::FaultStatus& status) {
  if (recently_reverted_.emplace(status.fault_id(), status).second) {
    reverted_order_.push_back(status.fault_id());
  }
  while (reverted_order_.size() > kMaxRememberedReverts) {
    recently_reverted_.erase(reverted_order_.front());
    reverted_order_.pop_front();
  }
}

v1::FaultStatus FaultManager::StatusLocked(Entry& entry, bool observe) {
  v1::FaultStatus status;
  status.set_fault_id(entry.request.fault_id());
  status.set_run_id(entry.request.run_id());
  status.set_kind(std::string(entry.fault->kind()));
  status.set_engine(entry.fault->engine());
  // A fault whose revert failed is still on the host and being retried.
  status.set_state(entry.pending_reason.empty() ? v1::FAULT_STATE_ACTIVE
                                                : v1::FAULT_STATE_FAILED);
  status.set_applied_unix_ms(ToUnixMillis(entry.applied));
  status.set_expires_unix_ms(ToUnixMillis(entry.deadline));
  status.set_target(entry.fault->target());
  status.set_reversible(entry.fault->reversible());
  status.set_revert_reason(entry.pending_reason);
  *status.mutable_spec() = entry.request.spec();
  if (observe) {
    for (const auto& [name, value] : entry.fault->Observe()) {
      (*status.mutable_observed())[name] = value;
    }
  }
  return status;
}

bool FaultManager::RunExpiredLocked(const std::string& run_id, Clock::TimePoint now,
                                    std::vector<v1::FaultStatus>* reverted) {
  if (expired_runs_.count(run_id) > 0) return true;
  auto it = leases_.find(run_id);
  if (it == leases_.end() || now < it->second.expires) return false;
  // Expired but the reaper has not seen it yet: fire the switch now so the
  // answer and the host agree.
  ExpireRunLocked(run_id, reverted);
  PersistOrWarnLocked("lease expiry");
  return true;
}

void FaultManager::ExpireRunLocked(const std::string& run_id,
                                   std::vector<v1::FaultStatus>* reverted) {
  leases_.erase(run_id);
  if (expired_runs_.insert(run_id).second) {
    expired_order_.push_back(run_id);
    while (expired_order_.size() > kMaxExpiredRuns) {
      expired_runs_.erase(expired_order_.front());
      expired_order_.pop_front();
    }
  }
  std::vector<std::string> ids;
  for (const auto& [id, entry] : active_) {
    if (entry->request.run_id() == run_id) ids.push_back(id);
  }
  spdlog::info("lease expired run={} faults={}", run_id, ids.size());
  for (const std::string& id : ids) RevertOrWarnLocked(id, "lease", reverted);
}

void FaultManager::RevertOrWarnLocked(const std::string& fault_id, const std::string& reason,
                                      std::vector<v1::FaultStatus>* reverted) {
  absl::StatusOr<v1::FaultStatus> status = RevertLocked(fault_id, reason);
  if (status.ok()) {
    reverted->push_back(*std::move(status));
    return;
  }
  // The fault stays listed with pending_reason set; Tick retries it.
  Entry& entry = *active_.at(fault_id);
  if (!entry.warned) {
    spdlog::warn("fault revert failed id={} reason={} error=\"{}\" (retrying every tick)",
                 fault_id, reason, std::string(status.status().message()));
    entry.warned = true;
  }
}

}  // namespace faultline::agent
