// SpawnInOwnGroup: starts a program as the leader of a new process group
// with an empty signal mask. The controller uses it for the embedded agent
// (Ctrl-C must reach only the controller) and for exec probes (a timeout
// kills the whole pipeline with kill(-pid)). Thread-safe (posix_spawn).
#ifndef FAULTLINE_COMMON_SUBPROCESS_H_
#define FAULTLINE_COMMON_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace faultline {

// argv[0] is the program path. Returns the child's pid (also its process
// group id); the caller reaps it. Errors from posix_spawn via ErrnoToStatus.
absl::StatusOr<pid_t> SpawnInOwnGroup(const std::vector<std::string>& argv);

}  // namespace faultline

#endif  // FAULTLINE_COMMON_SUBPROCESS_H_
