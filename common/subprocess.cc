#include "common/subprocess.h"

#include <signal.h>
#include <spawn.h>

#include "absl/strings/str_cat.h"
#include "common/status.h"

extern char** environ;

namespace faultline {

absl::StatusOr<pid_t> SpawnInOwnGroup(const std::vector<std::string>& args) {
  if (args.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  // The controller blocks SIGINT/SIGTERM in every thread for its sigwait
  // thread; children must start with them unblocked.
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], nullptr, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return ErrnoToStatus(rc, absl::StrCat("spawn ", args[0]));
  return pid;
}

}  // namespace faultline
