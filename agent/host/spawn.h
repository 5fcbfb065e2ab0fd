// Child processes of the agent: starting helper binaries (faultline-stressor)
// safely from a multi-threaded process, optionally inside cgroups, and
// taking them down again without leaving zombies.
//
// Spawn() forks and execs with only async-signal-safe calls in the child, so
// it is safe while gRPC threads hold locks. The child joins the requested
// cgroups *before* execve, so nothing the new program does runs outside
// them. Children are identified by (pid, start_time) like every process the
// agent touches (see host/process.h). Implemented in host/linux/spawn.cc;
// all functions are thread-safe.
#ifndef FAULTLINE_AGENT_HOST_SPAWN_H_
#define FAULTLINE_AGENT_HOST_SPAWN_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace faultline::agent {

struct SpawnOptions {
  // argv[0] is the file executed (no PATH search). Must not be empty.
  std::vector<std::string> argv;
  // Cgroup directories the child joins (writes itself to cgroup.procs)
  // before execve. Order does not matter; each must exist.
  std::vector<std::string> cgroups;
  // If >= 0, this descriptor of the caller becomes fd 3 in the child (e.g.
  // the write end of a readiness pipe). Every other descriptor beyond 0-2 is
  // closed at execve. The caller keeps (and closes) its own copy.
  int pass_fd = -1;
};

struct SpawnedProcess {
  pid_t pid = 0;
  uint64_t start_time = 0;  // field 22 of /proc/PID/stat
};

// Forks and execs options.argv with the caller's environment; the child's
// signal mask is cleared and dispositions reset to default. Returns once
// execve has succeeded. If the child fails before execve (joining a cgroup,
// execve itself) it is reaped and the error returned: NotFound (no such
// binary or cgroup), PermissionDenied, InvalidArgument (empty argv), or as
// ErrnoToStatus maps the errno. Nothing is left running on error.
absl::StatusOr<SpawnedProcess> Spawn(const SpawnOptions& options);

// Sends SIGKILL to the exact process (pid, start_time), waits up to `timeout`
// for it to exit and reaps it if it is a child of this process. Returns its
// wait status if this call reaped it, nullopt if it was already gone or is
// not our child. OK when the process no longer exists (or the pid was
// reused); DeadlineExceeded if it is still alive after `timeout`. Idempotent.
absl::StatusOr<std::optional<int>> KillAndReap(pid_t pid, uint64_t start_time,
                                               std::chrono::milliseconds timeout);

// "exit status 2", "killed by signal 9" for a waitpid status.
std::string DescribeWaitStatus(int wait_status);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_HOST_SPAWN_H_
