#include "agent/faults/stressor_fault.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "spdlog/spdlog.h"

namespace faultline::agent {
namespace {

// Long enough for a loaded host to exec a small binary; short enough that a
// wedged start does not hold the manager's lock for long.
constexpr std::chrono::milliseconds kReadyTimeout{5000};
// SIGKILL cannot be blocked, but freeing a multi-GiB address space and
// leaving the cgroup takes the kernel a moment.
constexpr std::chrono::milliseconds kExitTimeout{5000};

}  // namespace

std::string StressorFault::engine() const {
  if (cgroup_path_.empty()) return "stressor";
  if (cgroup_version_ == 0) return "stressor+cgroup";  // restored: version not probed
  return absl::StrCat("stressor+cgroup-v", cgroup_version_);
}

absl::Status StressorFault::Prepare() {
  if (!IsValidCgroupName(context_.fault_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind(), ": fault id '", context_.fault_id, "' cannot name a cgroup"));
  }
  if (!IsValidCgroupName(context_.cgroup_parent)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind(), ": cgroup parent '", context_.cgroup_parent, "' cannot name a cgroup"));
  }
  if (stressor_) return absl::OkStatus();  // applied: keep what revert_state names
  FL_ASSIGN_OR_RETURN(CgroupLayout layout, DetectCgroups());
  cgroup_path_.clear();
  cgroup_version_ = 0;
  if (auto hierarchy = ChooseHierarchy(layout); hierarchy && CanCreateUnder(*hierarchy)) {
    cgroup_path_ = FaultCgroupPath(*hierarchy, context_.cgroup_parent, context_.fault_id);
    cgroup_version_ = hierarchy->version;
  }
  FL_RETURN_IF_ERROR(PrepareKind());
  prepared_ = true;
  return absl::OkStatus();
}

absl::Status StressorFault::Apply() {
  if (!prepared_) return absl::FailedPreconditionError(absl::StrCat(kind(), ": apply before prepare"));
  if (stressor_) return absl::FailedPreconditionError(absl::StrCat(kind(), ": already applied"));
  if (context_.stressor_path.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(kind(), ": no stressor binary configured"));
  }
  if (!cgroup_path_.empty()) {
    absl::Status created = CreateCgroup(cgroup_path_, context_.cgroup_parent, V2Controllers());
    // AlreadyExists is a leftover of this fault id that recovery did not
    // revert; it is not removed here, since a live fault may still own it.
    // Otherwise only our shared parent may have been created: drop it if
    // empty.
    if (!created.ok()) {
      if (!absl::IsAlreadyExists(created)) {
        (void)RemoveCgroup(cgroup_path_, context_.cgroup_parent, kExitTimeout);
      }
      return Annotate(created, kind());
    }
  }
  absl::Status started = StartStressor();
  if (!started.ok()) {
    // All-or-nothing: StartStressor has already taken its process down;
    // removing the cgroup also kills anything it may have left inside.
    if (!cgroup_path_.empty()) {
      (void)RemoveCgroup(cgroup_path_, context_.cgroup_parent, kExitTimeout);
    }
    return Annotate(started, kind());
  }
  OnStarted();
  spdlog::info("stressor started id={} kind={} pid={} engine={} cgroup={}", context_.fault_id,
               std::string(kind()), stressor_->pid, engine(),
               cgroup_path_.empty() ? "-" : cgroup_path_);
  return absl::OkStatus();
}

absl::Status StressorFault::StartStressor() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "stressor ready pipe");
  UniqueFd ready_read(fds[0]);
  UniqueFd ready_write(fds[1]);

  SpawnOptions options;
  options.argv.push_back(context_.stressor_path);
  for (std::string& arg : StressorArgs()) options.argv.push_back(std::move(arg));
  options.argv.insert(options.argv.end(),
                      {"--parent-pid", absl::StrCat(getpid()), "--ready-fd", "3", "--log-level",
                       // The stressor logs at the agent's level: quiet agent, quiet stressor.
                       std::string(spdlog::level::to_string_view(spdlog::get_level()).data(),
                                   spdlog::level::to_string_view(spdlog::get_level()).size())});
  if (!cgroup_path_.empty()) options.cgroups.push_back(cgroup_path_);
  options.pass_fd = ready_write.get();
  FL_ASSIGN_OR_RETURN(SpawnedProcess child, Spawn(options));
  ready_write.Reset();

  // The stressor writes one byte once it runs; EOF means it exited first
  // (bad flags, mmap failure), which Apply must report, not hide.
  char byte = 0;
  pollfd p{ready_read.get(), POLLIN, 0};
  int polled;
  do {
    polled = poll(&p, 1, static_cast<int>(kReadyTimeout.count()));
  } while (polled < 0 && errno == EINTR);
  ssize_t n = polled > 0 ? read(ready_read.get(), &byte, 1) : 0;
  if (n == 1) {
    stressor_ = child;
    return absl::OkStatus();
  }
  auto reaped = KillAndReap(child.pid, child.start_time, kExitTimeout);
  if (polled == 0) {
    return absl::DeadlineExceededError(absl::StrCat("stressor pid ", child.pid,
                                                    " not ready within ", kReadyTimeout.count(),
                                                    "ms"));
  }
  std::string how = reaped.ok() && reaped->has_value() ? DescribeWaitStatus(**reaped) : "exited";
  return absl::InternalError(absl::StrCat("stressor ", context_.stressor_path,
                                          " failed to start (", how, ")"));
}

absl::Status StressorFault::Revert() {
  absl::Status status = Cleanup();
  if (!status.ok()) return Annotate(status, kind());
  return absl::OkStatus();
}

absl::Status StressorFault::Cleanup() {
  if (stressor_) {
    FL_ASSIGN_OR_RETURN(std::optional<int> reaped,
                        KillAndReap(stressor_->pid, stressor_->start_time, kExitTimeout));
    spdlog::info("stressor stopped id={} kind={} pid={} status=\"{}\"", context_.fault_id,
                 std::string(kind()),
                 stressor_->pid, reaped ? DescribeWaitStatus(*reaped) : "gone");
    stressor_.reset();
  }
  // Also the case of a crash between spawn and the second state write: the
  // pid was never persisted, but the stressor is in the cgroup.
  if (!cgroup_path_.empty()) {
    FL_RETURN_IF_ERROR(RemoveCgroup(cgroup_path_, context_.cgroup_parent, kExitTimeout));
  }
  return absl::OkStatus();
}

v1::RevertState StressorFault::revert_state() const {
  v1::RevertState state;
  if (stressor_) {
    v1::RevertState::Process* p = state.add_processes();
    p->set_pid(stressor_->pid);
    p->set_start_time(stressor_->start_time);
  }
  state.set_cgroup(cgroup_path_);
  return state;
}

void StressorFault::Restore(const v1::RevertState& state) {
  stressor_.reset();
  if (state.processes_size() > 0) {
    stressor_ = SpawnedProcess{state.processes(0).pid(), state.processes(0).start_time()};
  }
  cgroup_path_ = state.cgroup();
  cgroup_version_ = 0;
}

}  // namespace faultline::agent
