#include "agent/host/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/host/process.h"
#include "common/status.h"
#include "common/unique_fd.h"

extern char** environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace faultline::agent {
namespace {

// What the child reports through the error pipe when it fails before
// execve. EOF on the pipe (it is close-on-exec) means execve succeeded.
struct ChildError {
  int stage;  // kStageCgroup or kStageExec
  int index;  // which cgroup
  int error;  // errno
};
constexpr int kStageCgroup = 1;
constexpr int kStageExec = 2;

[[noreturn]] void Report(int fd, int stage, int index, int error) {
  ChildError e{stage, index, error};
  // Nothing useful to do if this write fails; the parent then sees EOF,
  // takes it for success and finds the child gone when it reads its stat.
  ssize_t ignored = write(fd, &e, sizeof(e));
  (void)ignored;
  _exit(127);
}

// Runs in the child between fork and execve. Only async-signal-safe calls:
// another thread of the parent may have held the malloc or a logger lock at
// fork time, and those locks stay held forever in the child.
[[noreturn]] void RunChild(char* const* argv, char* const* envp, const std::vector<int>& cgroup_fds,
                           int pass_fd, int err_fd) {
  // Handlers of the parent must not run here, and ignored signals (gRPC
  // ignores SIGPIPE) would stay ignored across execve. Signals were blocked
  // by the parent around fork, so reset first, then unblock.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  // The child joins its cgroups itself ("0" means the writer) instead of the
  // parent writing the pid afterwards: there is then no window in which the
  // new program runs outside its cgroups, and no extra handshake is needed.
  for (size_t i = 0; i < cgroup_fds.size(); ++i) {
    if (write(cgroup_fds[i], "0", 1) != 1) Report(err_fd, kStageCgroup, static_cast<int>(i), errno);
  }

  unsigned int first_to_close = 3;
  if (pass_fd >= 0) {
    if (err_fd == 3) {
      err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 4);
      if (err_fd < 0) _exit(127);
    }
    if (pass_fd == 3) {
      // dup2 onto itself would keep the close-on-exec flag.
      if (fcntl(3, F_SETFD, 0) != 0) Report(err_fd, kStageExec, 0, errno);
    } else if (dup2(pass_fd, 3) != 3) {
      Report(err_fd, kStageExec, 0, errno);
    }
    first_to_close = 4;
  }
  // Descriptors leaked without O_CLOEXEC by any library of the parent must
  // not reach the stressor (a held socket or pipe end keeps peers waiting).
  syscall(SYS_close_range, first_to_close, ~0U, CLOSE_RANGE_CLOEXEC);

  execve(argv[0], argv, envp);
  Report(err_fd, kStageExec, 0, errno);
}

}  // namespace

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exit status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return absl::StrCat("killed by signal ", WTERMSIG(wait_status));
  return absl::StrCat("wait status ", wait_status);
}

absl::StatusOr<SpawnedProcess> Spawn(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError("spawn: empty argv");
  }
  const std::string& binary = options.argv[0];
  std::vector<char*> argv;
  for (const std::string& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  std::vector<UniqueFd> cgroup_files;
  std::vector<int> cgroup_fds;
  for (const std::string& dir : options.cgroups) {
    std::string procs = dir + "/cgroup.procs";
    UniqueFd fd(open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("spawn ", binary, ": open ", procs));
    cgroup_fds.push_back(fd.get());
    cgroup_files.push_back(std::move(fd));
  }

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "spawn: pipe");
  UniqueFd err_read(pipe_fds[0]);
  UniqueFd err_write(pipe_fds[1]);

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // _Fork, not fork: fork() runs pthread_atfork handlers that libraries in
  // the agent register (and that may take locks); _Fork is the
  // async-signal-safe variant that runs none.
  pid_t pid = _Fork();
  if (pid == 0) RunChild(argv.data(), environ, cgroup_fds, options.pass_fd, err_write.get());
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return ErrnoToStatus(fork_errno, absl::StrCat("spawn ", binary, ": fork"));
  err_write.Reset();
  cgroup_files.clear();

  ChildError error{};
  ssize_t n;
  do {
    n = read(err_read.get(), &error, sizeof(error));
  } while (n < 0 && errno == EINTR);
  if (n != 0) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof(error))) {
      return absl::InternalError(absl::StrCat("spawn ", binary, ": child failed before exec"));
    }
    if (error.stage == kStageCgroup) {
      return ErrnoToStatus(error.error, absl::StrCat("spawn ", binary, ": join cgroup ",
                                                     options.cgroups[error.index]));
    }
    return ErrnoToStatus(error.error, absl::StrCat("exec ", binary));
  }

  // Our unreaped child cannot lose its pid, so this read is race-free.
  auto info = ReadProcess(pid);
  if (!info.ok()) {
    // Without its start time we cannot track it safely: take it back down.
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return absl::InternalError(absl::StrCat("spawn ", binary, ": child ", pid, " vanished"));
  }
  return SpawnedProcess{pid, info->start_time};
}

absl::StatusOr<std::optional<int>> KillAndReap(pid_t pid, uint64_t start_time,
                                               std::chrono::milliseconds timeout) {
  auto pidfd = PidFd::Open(pid, start_time);
  if (absl::IsNotFound(pidfd.status())) return std::optional<int>();
  if (!pidfd.ok()) return pidfd.status();
  absl::Status sent = pidfd->Signal(SIGKILL);
  if (!sent.ok() && !absl::IsNotFound(sent)) return sent;

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pidfd->Exited()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "process ", pid, " still running ", timeout.count(), "ms after SIGKILL"));
    }
    pollfd p{pidfd->fd(), POLLIN, 0};
    poll(&p, 1, static_cast<int>(left.count()));
  }
  // waitid on the pidfd reaps exactly this process, never another child
  // that happens to reuse a number; ECHILD means it is not our child (after
  // a crash the stressor's parent was the previous agent) and init reaps it.
  for (int i = 0; i < 100; ++i) {
    siginfo_t info{};
    if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd->fd()), &info,
               WEXITED | WNOHANG) != 0) {
      if (errno == EINTR) continue;
      return std::optional<int>();
    }
    if (info.si_pid == pid) {
      if (info.si_code == CLD_EXITED) return std::optional<int>((info.si_status & 0xff) << 8);
      return std::optional<int>(info.si_status & 0x7f);
    }
    // Exited but the kernel has not made it waitable yet.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::optional<int>();
}

}  // namespace faultline::agent
