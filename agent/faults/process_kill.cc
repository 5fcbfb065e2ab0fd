#include "agent/faults/process_kill.h"

#include <sys/types.h>

#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/faults/process_target.h"
#include "agent/host/process.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace faultline::agent {
namespace {

constexpr absl::string_view kKillKind = "process.kill";
constexpr int kMaxSignal = 64;  // SIGRTMAX on Linux
// wait_for with a huge duration overflows the clock arithmetic inside
// libstdc++ and returns at once, which would turn the repeat thread into a
// busy loop; a day is far beyond any experiment's duration anyway.
constexpr uint64_t kMaxIntervalMs = 24ull * 60 * 60 * 1000;

using Identity = std::pair<pid_t, uint64_t>;  // (pid, start_time)

Identity IdentityOf(const ProcessInfo& p) { return {p.pid, p.start_time}; }

const char* StopSignalName(int signal) {
  switch (signal) {
    case SIGSTOP: return "SIGSTOP";
    case SIGTSTP: return "SIGTSTP";
    case SIGTTIN: return "SIGTTIN";
    case SIGTTOU: return "SIGTTOU";
    default: return nullptr;
  }
}

struct Pinned {
  ProcessInfo info;
  PidFd fd;
};

// Pins every process with a pidfd before anything is signalled. Processes
// that exited (or whose pid was reused) since the scan are dropped.
absl::StatusOr<std::vector<Pinned>> Pin(const std::vector<ProcessInfo>& processes) {
  std::vector<Pinned> out;
  out.reserve(processes.size());
  for (const ProcessInfo& p : processes) {
    absl::StatusOr<PidFd> fd = PidFd::Open(p.pid, p.start_time);
    if (absl::IsNotFound(fd.status())) continue;
    if (!fd.ok()) return Annotate(fd.status(), kKillKind);
    out.push_back(Pinned{p, std::move(*fd)});
  }
  return out;
}

class ProcessKillFault final : public Fault {
 public:
  ProcessKillFault(const v1::ProcessKill& spec, ProcessMatcher matcher, FaultContext context)
      : spec_(spec),
        signal_(spec.signal() == 0 ? SIGKILL : spec.signal()),
        interval_(static_cast<int64_t>(spec.interval_ms())),
        matcher_(std::move(matcher)),
        context_(std::move(context)) {}

  ~ProcessKillFault() override { StopRepeater(); }

  absl::string_view kind() const override { return kKillKind; }
  std::string engine() const override { return "pidfd"; }
  bool reversible() const override { return false; }

  absl::Status Prepare() override {
    if (applied_) return absl::OkStatus();
    ProtectedSet protection = ProtectedSet::ForContext(context_);
    FL_ASSIGN_OR_RETURN(Resolution resolution, ResolveTargets(matcher_, protection));
    if (resolution.matches.empty()) return NoMatchError(matcher_, resolution);
    matched_ = resolution.matches;
    selected_ = SelectOldest(resolution.matches, spec_.count(), spec_.percent());
    prepared_ = true;
    return absl::OkStatus();
  }

  absl::Status Apply() override {
    if (applied_) return absl::OkStatus();
    if (!prepared_) {
      return absl::FailedPreconditionError(
          absl::StrCat(kKillKind, ": apply requires a successful prepare"));
    }
    FL_ASSIGN_OR_RETURN(std::vector<Pinned> pinned, Pin(selected_));
    if (pinned.empty()) {
      return absl::NotFoundError(absl::StrCat(kKillKind, ": every selected process exited before apply (",
                                              DescribeTargets(SelectedPids(), matcher_), ")"));
    }
    {
      std::lock_guard lock(mu_);
      for (const ProcessInfo& p : matched_) seen_.insert(IdentityOf(p));
      processes_matched_ = seen_.size();
      // Seeded before the repeat thread exists so its first round never
      // re-signals what this Apply signals.
      for (const Pinned& p : pinned) signalled_.insert(IdentityOf(p.info));
      stop_ = false;
    }
    // Started before any signal is sent: the last step that can fail must
    // come before the first one that cannot be undone.
    if (interval_.count() > 0) {
      try {
        repeater_ = std::thread([this] { RepeatLoop(); });
      } catch (const std::system_error& e) {
        return absl::ResourceExhaustedError(
            absl::StrCat(kKillKind, ": start repeat thread: ", e.what()));
      }
    }
    uint64_t sent = 0;
    for (const Pinned& p : pinned) {
      absl::Status status = p.fd.Signal(signal_);
      if (absl::IsNotFound(status)) continue;
      if (!status.ok()) {
        StopRepeater();
        {
          std::lock_guard lock(mu_);
          signals_sent_ += sent;
          rounds_ = 1;
        }
        return Annotate(status, absl::StrCat(kKillKind, " (", sent, " of ", pinned.size(),
                                             " processes already signalled)"));
      }
      ++sent;
      spdlog::info("process signalled kind=process.kill id={} pid={} start_time={} signal={} round=1",
                   context_.fault_id, p.info.pid, p.info.start_time, signal_);
    }
    {
      std::lock_guard lock(mu_);
      signals_sent_ += sent;
      rounds_ = 1;
    }
    applied_ = true;
    return absl::OkStatus();
  }

  absl::Status Revert() override {
    StopRepeater();
    return absl::OkStatus();
  }

  Observation Observe() override {
    std::lock_guard lock(mu_);
    return {{"signals_sent", static_cast<double>(signals_sent_)},
            {"processes_matched", static_cast<double>(processes_matched_)},
            {"rounds", static_cast<double>(rounds_)}};
  }

  v1::RevertState revert_state() const override { return v1::RevertState(); }
  void Restore(const v1::RevertState&) override {}

  std::string target() const override {
    std::string out = DescribeTargets(SelectedPids(), matcher_);
    if (interval_.count() > 0) absl::StrAppend(&out, ", repeating every ", interval_.count(), "ms");
    return out;
  }

 private:
  std::vector<pid_t> SelectedPids() const {
    std::vector<pid_t> pids;
    for (const ProcessInfo& p : selected_) pids.push_back(p.pid);
    return pids;
  }

  void RepeatLoop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      RunRound();
      lock.lock();
    }
  }

  // One repeat round. Errors are handled here (logged, round skipped): the
  // thread has nobody to return them to and must keep going.
  void RunRound() {
    // Recomputed each round: the agent's ancestry changes when a parent dies
    // and the agent is reparented.
    // Protected processes are skipped here, never signalled: the fault was
    // admitted at Prepare and one new protected match must not stop it.
    ProtectedSet protection = ProtectedSet::ForContext(context_);
    absl::StatusOr<Resolution> resolution =
        ResolveTargets(matcher_, protection, {.skip_stopped = false, .refuse_protected = false});
    std::vector<ProcessInfo> fresh;
    {
      std::lock_guard lock(mu_);
      ++rounds_;
      if (!resolution.ok()) {
        spdlog::warn("kill round skipped kind=process.kill id={} round={} error=\"{}\"",
                     context_.fault_id, rounds_, std::string(resolution.status().message()));
        return;
      }
      std::set<Identity> now;
      for (const ProcessInfo& p : resolution->matches) {
        Identity id = IdentityOf(p);
        now.insert(id);
        if (!seen_.count(id)) ++processes_matched_;
        if (!signalled_.count(id)) fresh.push_back(p);
      }
      // An identity that stopped matching has exited (a (pid, start_time)
      // pair never comes back) or changed its comm/cmdline; forgetting it
      // keeps both sets bounded over a long run.
      seen_ = now;
      for (auto it = signalled_.begin(); it != signalled_.end();) {
        it = now.count(*it) ? std::next(it) : signalled_.erase(it);
      }
    }
    std::vector<ProcessInfo> chosen = SelectOldest(std::move(fresh), spec_.count(), spec_.percent());
    for (const ProcessInfo& p : chosen) {
      absl::StatusOr<PidFd> fd = PidFd::Open(p.pid, p.start_time);
      if (absl::IsNotFound(fd.status())) continue;
      std::lock_guard lock(mu_);
      // Revert may have been requested mid-round: after it returns nothing
      // more may be signalled.
      if (stop_) return;
      if (!fd.ok()) {
        spdlog::warn("kill skipped kind=process.kill id={} pid={} error=\"{}\"", context_.fault_id,
                     p.pid, std::string(fd.status().message()));
        continue;
      }
      absl::Status status = fd->Signal(signal_);
      if (absl::IsNotFound(status)) continue;
      if (!status.ok()) {
        spdlog::warn("kill failed kind=process.kill id={} pid={} signal={} error=\"{}\"",
                     context_.fault_id, p.pid, signal_, std::string(status.message()));
        continue;
      }
      ++signals_sent_;
      signalled_.insert(IdentityOf(p));
      spdlog::info("process signalled kind=process.kill id={} pid={} start_time={} signal={} round={}",
                   context_.fault_id, p.pid, p.start_time, signal_, rounds_);
    }
  }

  void StopRepeater() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (repeater_.joinable()) repeater_.join();
  }

  const v1::ProcessKill spec_;
  const int signal_;
  const std::chrono::milliseconds interval_;
  const ProcessMatcher matcher_;
  const FaultContext context_;

  // Touched only by the driving thread.
  bool prepared_ = false;
  bool applied_ = false;
  std::vector<ProcessInfo> matched_;   // every eligible match at Prepare
  std::vector<ProcessInfo> selected_;  // the count / percent of them Apply signals

  // Shared with the repeat thread.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::set<Identity> seen_;       // matched in the latest round
  std::set<Identity> signalled_;  // signalled and still matching
  uint64_t signals_sent_ = 0;
  uint64_t processes_matched_ = 0;
  uint64_t rounds_ = 0;
  std::thread repeater_;
};

}  // namespace

absl::Status ValidateProcessKill(const v1::ProcessKill& spec) {
  FL_RETURN_IF_ERROR(ProcessMatcher::Create(kKillKind, spec.target()).status());
  FL_RETURN_IF_ERROR(ValidateSelection(kKillKind, spec.count(), spec.percent()));
  if (spec.signal() < 0 || spec.signal() > kMaxSignal) {
    return absl::InvalidArgumentError(absl::StrCat(
        kKillKind, ": signal must be in 1..", kMaxSignal, " (0 = SIGKILL), got ", spec.signal()));
  }
  if (const char* name = StopSignalName(spec.signal())) {
    return absl::InvalidArgumentError(
        absl::StrCat(kKillKind, ": signal ", spec.signal(), " (", name,
                     ") would leave processes stopped with nothing to resume them; use "
                     "process.pause"));
  }
  if (spec.interval_ms() != 0 &&
      (spec.interval_ms() < static_cast<uint64_t>(kMinKillInterval.count()) ||
       spec.interval_ms() > kMaxIntervalMs)) {
    return absl::InvalidArgumentError(absl::StrCat(kKillKind, ": interval_ms must be 0 or in ",
                                                   kMinKillInterval.count(), "..", kMaxIntervalMs,
                                                   ", got ", spec.interval_ms()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Fault>> MakeProcessKillFault(const v1::ProcessKill& spec,
                                                            const FaultContext& context) {
  FL_RETURN_IF_ERROR(ValidateProcessKill(spec));
  FL_ASSIGN_OR_RETURN(ProcessMatcher matcher, ProcessMatcher::Create(kKillKind, spec.target()));
  return std::make_unique<ProcessKillFault>(spec, std::move(matcher), context);
}

}  // namespace faultline::agent
