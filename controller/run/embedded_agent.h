// EmbeddedAgent: the local agent `faultline run` uses when an experiment names
// no remote agents. It is the real `faultline-agent` binary (found next to the
// controller binary), started as a child process that:
//   - listens on a unix socket in its own state directory,
//   - watches the controller's pid and halts (reverts everything) and exits
//     when the controller dies, even by kill -9,
//   - holds the run's lease like any remote agent, and
//   - sits in its own process group, so Ctrl-C reaches only the controller,
//     which then reverts through it in order and journals that.
// State directories are per controller pid under `base_dir`; Start() first
// recovers directories left by controllers that died together with their
// agent (e.g. a kill -9 of the whole process group).
//
// Not thread-safe; owned by main for the duration of one run.
#ifndef FAULTLINE_CONTROLLER_RUN_EMBEDDED_AGENT_H_
#define FAULTLINE_CONTROLLER_RUN_EMBEDDED_AGENT_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace faultline::controller {

struct EmbeddedAgentOptions {
  std::string agent_binary;           // "" = faultline-agent next to /proc/self/exe
  std::string base_dir = "/var/lib/faultline/embedded";
  std::string log_level = "warn";
  std::chrono::milliseconds start_timeout{10000};
};

class EmbeddedAgent {
 public:
  // Recovers stale state directories, then starts the agent and waits until
  // it serves. NotFound (no agent binary), Unavailable (did not come up in
  // time; the child is killed), or the errno of spawning.
  static absl::StatusOr<std::unique_ptr<EmbeddedAgent>> Start(const EmbeddedAgentOptions& options);

  // Stops the agent (SIGTERM: it reverts whatever is still active) and waits;
  // if it does not exit cleanly, recovers its state directory at once.
  ~EmbeddedAgent();

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }

  // State directories recovered by Start(), for the journal.
  const std::vector<std::string>& recovered() const { return recovered_; }

 private:
  EmbeddedAgent() = default;
  pid_t pid_ = -1;
  std::string address_;
  std::string state_dir_;
  std::string binary_;
  EmbeddedAgentOptions options_;
  std::vector<std::string> recovered_;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_RUN_EMBEDDED_AGENT_H_
