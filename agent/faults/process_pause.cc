#include "agent/faults/process_pause.h"

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <string>
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

constexpr absl::string_view kPauseKind = "process.pause";
// SIGSTOP takes effect when the target next runs; a process in
// uninterruptible sleep (D) only stops when it leaves it. Apply waits this
// long for the stops to show so that Observe() right after Apply is truthful.
constexpr std::chrono::milliseconds kStopSettle{1000};

struct Target {
  pid_t pid = 0;
  uint64_t start_time = 0;
};

struct PinnedTarget {
  Target target;
  PidFd fd;
};

// True when `t` is stopped, or gone (nothing left to wait for).
bool StoppedOrGone(const Target& t, char* state) {
  absl::StatusOr<ProcessInfo> info = ReadProcess(t.pid);
  if (!info.ok() || info->start_time != t.start_time) return true;
  *state = info->state;
  return IsStoppedState(info->state) || info->state == 'Z' || info->state == 'X';
}

class ProcessPauseFault final : public Fault {
 public:
  ProcessPauseFault(const v1::ProcessPause& spec, ProcessMatcher matcher, FaultContext context)
      : spec_(spec), matcher_(std::move(matcher)), context_(std::move(context)) {}

  absl::string_view kind() const override { return kPauseKind; }
  std::string engine() const override { return "pidfd"; }

  absl::Status Prepare() override {
    if (applied_) return absl::OkStatus();
    ProtectedSet protection = ProtectedSet::ForContext(context_);
    FL_ASSIGN_OR_RETURN(Resolution resolution,
                        ResolveTargets(matcher_, protection,
                                       {.skip_stopped = true, .refuse_protected = true}));
    if (resolution.matches.empty()) return NoMatchError(matcher_, resolution);
    targets_.clear();
    for (const ProcessInfo& p : SelectOldest(resolution.matches, spec_.count(), spec_.percent())) {
      targets_.push_back(Target{p.pid, p.start_time});
    }
    // Listed in revert_state() now, before anything is stopped: the manager
    // persists it ahead of Apply, so a crash halfway through Apply leaves
    // enough behind to resume every process that may have been stopped.
    to_resume_ = targets_;
    prepared_ = true;
    return absl::OkStatus();
  }

  absl::Status Apply() override {
    if (applied_) return absl::OkStatus();
    if (!prepared_) {
      return absl::FailedPreconditionError(
          absl::StrCat(kPauseKind, ": apply requires a successful prepare"));
    }
    std::vector<PinnedTarget> pinned;
    for (const Target& t : targets_) {
      absl::StatusOr<PidFd> fd = PidFd::Open(t.pid, t.start_time);
      if (absl::IsNotFound(fd.status())) continue;
      if (!fd.ok()) return Annotate(fd.status(), kPauseKind);
      pinned.push_back(PinnedTarget{t, std::move(*fd)});
    }
    may_be_stopped_ = true;
    std::vector<const PinnedTarget*> stopped;
    for (const PinnedTarget& p : pinned) {
      absl::Status status = p.fd.Signal(SIGSTOP);
      if (absl::IsNotFound(status)) continue;
      if (!status.ok()) {
        absl::Status rollback = Resume(stopped);
        if (!rollback.ok()) {
          // Those still stopped stay listed for a later Revert to retry.
          return Annotate(status, absl::StrCat(kPauseKind, " (rollback incomplete: ",
                                               rollback.message(), ")"));
        }
        may_be_stopped_ = false;
        to_resume_ = targets_;
        return Annotate(status, kPauseKind);
      }
      stopped.push_back(&p);
    }
    if (stopped.empty()) {
      may_be_stopped_ = false;
      return absl::NotFoundError(
          absl::StrCat(kPauseKind, ": every selected process exited before apply (",
                       DescribeTargets(Pids(targets_), matcher_), ")"));
    }
    targets_.clear();
    for (const PinnedTarget* p : stopped) {
      targets_.push_back(p->target);
      spdlog::info("process paused kind=process.pause id={} pid={} start_time={}", context_.fault_id,
                   p->target.pid, p->target.start_time);
    }
    to_resume_ = targets_;
    applied_ = true;
    WaitForStops();
    return absl::OkStatus();
  }

  absl::Status Revert() override {
    if (!may_be_stopped_) {
      to_resume_.clear();
      return absl::OkStatus();
    }
    std::vector<Target> failed;
    absl::Status first_error;
    for (const Target& t : to_resume_) {
      absl::StatusOr<PidFd> fd = PidFd::Open(t.pid, t.start_time);
      if (absl::IsNotFound(fd.status())) continue;
      absl::Status status = fd.ok() ? fd->Signal(SIGCONT) : fd.status();
      if (absl::IsNotFound(status)) continue;
      if (!status.ok()) {
        failed.push_back(t);
        if (first_error.ok()) first_error = status;
        continue;
      }
      spdlog::info("process resumed kind=process.pause id={} pid={} start_time={}", context_.fault_id,
                   t.pid, t.start_time);
    }
    to_resume_ = failed;
    if (!first_error.ok()) {
      return Annotate(first_error, absl::StrCat(kPauseKind, ": resume ", failed.size(), " of ",
                                                targets_.size(), " processes"));
    }
    may_be_stopped_ = false;
    return absl::OkStatus();
  }

  Observation Observe() override {
    double paused = 0;
    for (const Target& t : targets_) {
      absl::StatusOr<ProcessInfo> info = ReadProcess(t.pid);
      if (info.ok() && info->start_time == t.start_time && IsStoppedState(info->state)) ++paused;
    }
    return {{"paused", paused}, {"targets", static_cast<double>(targets_.size())}};
  }

  v1::RevertState revert_state() const override {
    v1::RevertState state;
    for (const Target& t : to_resume_) {
      v1::RevertState::Process* p = state.add_processes();
      p->set_pid(t.pid);
      p->set_start_time(t.start_time);
    }
    return state;
  }

  void Restore(const v1::RevertState& state) override {
    targets_.clear();
    for (const v1::RevertState::Process& p : state.processes()) {
      targets_.push_back(Target{p.pid(), p.start_time()});
    }
    to_resume_ = targets_;
    // A crash may have struck anywhere in Apply: assume every listed process
    // may be stopped.
    may_be_stopped_ = !targets_.empty();
    prepared_ = true;
    applied_ = true;
  }

  std::string target() const override { return DescribeTargets(Pids(targets_), matcher_); }

 private:
  static std::vector<pid_t> Pids(const std::vector<Target>& targets) {
    std::vector<pid_t> pids;
    for (const Target& t : targets) pids.push_back(t.pid);
    return pids;
  }

  // SIGCONTs `stopped`; the first error, after trying all of them.
  absl::Status Resume(const std::vector<const PinnedTarget*>& stopped) {
    absl::Status first_error;
    std::vector<Target> failed;
    for (const PinnedTarget* p : stopped) {
      absl::Status status = p->fd.Signal(SIGCONT);
      if (status.ok() || absl::IsNotFound(status)) continue;
      failed.push_back(p->target);
      if (first_error.ok()) first_error = status;
    }
    to_resume_ = failed;
    return first_error;
  }

  void WaitForStops() {
    auto deadline = std::chrono::steady_clock::now() + kStopSettle;
    for (const Target& t : targets_) {
      char state = '?';
      std::chrono::microseconds backoff(20);
      while (!StoppedOrGone(t, &state)) {
        if (std::chrono::steady_clock::now() >= deadline) {
          spdlog::warn("pause pending kind=process.pause id={} pid={} state={}", context_.fault_id,
                       t.pid, state);
          break;
        }
        // A stop usually lands within microseconds: poll fast, then back off.
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::microseconds(2000));
      }
    }
  }

  const v1::ProcessPause spec_;
  const ProcessMatcher matcher_;
  const FaultContext context_;

  bool prepared_ = false;
  bool applied_ = false;
  // False until this process may have sent SIGSTOP (or after Restore, when
  // it cannot know): Revert without Apply must not resume processes that
  // someone else stopped after our Prepare.
  bool may_be_stopped_ = false;
  std::vector<Target> targets_;    // what the fault targets (target(), Observe())
  std::vector<Target> to_resume_;  // what revert_state() lists and Revert resumes
};

}  // namespace

absl::Status ValidateProcessPause(const v1::ProcessPause& spec) {
  FL_RETURN_IF_ERROR(ProcessMatcher::Create(kPauseKind, spec.target()).status());
  return ValidateSelection(kPauseKind, spec.count(), spec.percent());
}

absl::StatusOr<std::unique_ptr<Fault>> MakeProcessPauseFault(const v1::ProcessPause& spec,
                                                             const FaultContext& context) {
  FL_RETURN_IF_ERROR(ValidateProcessPause(spec));
  FL_ASSIGN_OR_RETURN(ProcessMatcher matcher, ProcessMatcher::Create(kPauseKind, spec.target()));
  return std::make_unique<ProcessPauseFault>(spec, std::move(matcher), context);
}

}  // namespace faultline::agent
