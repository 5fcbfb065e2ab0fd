// Processes on this host: reading /proc and signalling through pidfds.
//
// A process is identified by (pid, start_time) — start_time is field 22 of
// /proc/PID/stat in clock ticks since boot — so that a reused pid is never
// mistaken for the process a fault targeted. Implemented in host/linux/.
// All functions are thread-safe.
#ifndef FAULTLINE_AGENT_HOST_PROCESS_H_
#define FAULTLINE_AGENT_HOST_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace faultline::agent {

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';          // R, S, D, T (stopped), t, Z, X, I
  std::string comm;          // /proc/PID/comm (kernel truncates to 15 chars)
  std::string cmdline;       // argv joined by spaces; empty for kernel threads
  uint64_t start_time = 0;   // clock ticks since boot
  uint64_t cpu_ticks = 0;    // utime + stime of the whole process
  uint64_t rss_bytes = 0;    // resident set size
  bool kernel_thread = false;
};

// Reads one process. NotFound if it does not exist (or is gone mid-read).
absl::StatusOr<ProcessInfo> ReadProcess(pid_t pid);

// Every process visible in /proc (races with exits are skipped silently).
absl::StatusOr<std::vector<ProcessInfo>> ListProcesses();

// True if `pid` is a process (thread-group leader), false for a thread id
// or a pid that does not exist.
bool IsThreadGroupLeader(pid_t pid);

// `pid`, its parent, grandparent, ... up to and including pid 1.
std::vector<pid_t> AncestorsOf(pid_t pid);

// Clock ticks per second (sysconf(_SC_CLK_TCK)).
long ClockTicksPerSecond();

// A pidfd bound to one exact process. Move-only; not thread-safe.
class PidFd {
 public:
  // Opens a pidfd for `pid` and then checks that its start time is still
  // `expected_start_time` (so the fd refers to the process we meant).
  // NotFound if the process is gone or the pid was reused.
  static absl::StatusOr<PidFd> Open(pid_t pid, uint64_t expected_start_time);

  // pidfd_send_signal. NotFound if the process has exited (ESRCH).
  absl::Status Signal(int signal) const;

  // True once the process has exited (pidfd readable).
  bool Exited() const;

  pid_t pid() const { return pid_; }
  int fd() const { return fd_.get(); }

 private:
  PidFd(UniqueFd fd, pid_t pid) : fd_(std::move(fd)), pid_(pid) {}
  UniqueFd fd_;
  pid_t pid_ = 0;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_HOST_PROCESS_H_
