#include "controller/run/embedded_agent.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "spdlog/spdlog.h"

namespace faultline::controller {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

absl::StatusOr<std::string> FindAgentBinary(const std::string& configured) {
  if (!configured.empty()) {
    if (access(configured.c_str(), X_OK) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("agent binary ", configured));
    }
    return configured;
  }
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return absl::InternalError(absl::StrCat("read /proc/self/exe: ", ec.message()));
  fs::path sibling = self.parent_path() / "faultline-agent";
  if (access(sibling.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "embedded agent: ", sibling.string(), " not found (install faultline-agent next to faultline)"));
  }
  return sibling.string();
}

// Waits for the agent's ready file; kills the child if it does not appear.
absl::StatusOr<std::string> AwaitReady(pid_t pid, const fs::path& ready_file,
                                       std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return absl::UnavailableError(absl::StrCat(
          "embedded agent exited during start (", WIFEXITED(status) ? "exit " : "signal ",
          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), "); see its log above"));
    }
    std::ifstream in(ready_file);
    std::string address;
    if (in && std::getline(in, address) && !address.empty()) return address;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return absl::UnavailableError(
      absl::StrCat("embedded agent did not start within ", timeout.count(), "ms"));
}

// Returns true if the agent exited cleanly, i.e. after reverting everything.
bool StopAgent(pid_t pid) {
  if (pid <= 0) return false;
  kill(pid, SIGTERM);
  // The agent reverts everything on SIGTERM (a large memory hog takes
  // seconds to unmap); give it time, then insist.
  for (int i = 0; i < 1000; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  spdlog::warn("embedded agent did not exit after SIGTERM pid={}; killing", pid);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return false;
}

std::vector<std::string> AgentArgs(const std::string& binary, const fs::path& dir,
                                   const std::string& log_level) {
  return {binary,
          "--listen", absl::StrCat("unix:", (dir / "agent.sock").string()),
          "--state-dir", dir.string(),
          "--ready-file", (dir / "ready").string(),
          "--parent-pid", std::to_string(getpid()),
          "--log-level", log_level};
}

// Starts an agent on `dir` (it reverts whatever the state file lists),
// stops it and removes the directory. True if that all went cleanly.
bool RecoverDir(const std::string& binary, const fs::path& dir,
                const EmbeddedAgentOptions& options) {
  std::error_code ec;
  fs::remove(dir / "ready", ec);
  auto pid = SpawnInOwnGroup(AgentArgs(binary, dir, options.log_level));
  if (!pid.ok()) return false;
  if (!AwaitReady(*pid, dir / "ready", options.start_timeout).ok() || !StopAgent(*pid)) {
    return false;
  }
  fs::remove_all(dir, ec);
  return true;
}

// A directory named after a controller pid that no longer runs holds the
// state of an agent that died with it.
std::vector<std::string> RecoverStale(const std::string& binary, const fs::path& base,
                                      const EmbeddedAgentOptions& options) {
  std::vector<std::string> recovered;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    pid_t owner = 0;
    if (!entry.is_directory() || !absl::SimpleAtoi(entry.path().filename().string(), &owner)) continue;
    if (owner == getpid() || kill(owner, 0) == 0 || errno != ESRCH) continue;
    if (RecoverDir(binary, entry.path(), options)) {
      recovered.push_back(entry.path().string());
      spdlog::warn("recovered embedded agent state left by dead controller dir={}",
                   entry.path().string());
    }
  }
  return recovered;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedAgent>> EmbeddedAgent::Start(
    const EmbeddedAgentOptions& options) {
  FL_ASSIGN_OR_RETURN(std::string binary, FindAgentBinary(options.agent_binary));
  fs::path base(options.base_dir);
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) {
    return ErrnoToStatus(ec.value(), absl::StrCat("create embedded agent dir ", base.string()));
  }
  auto agent = std::unique_ptr<EmbeddedAgent>(new EmbeddedAgent());
  agent->recovered_ = RecoverStale(binary, base, options);

  fs::path dir = base / std::to_string(getpid());
  fs::create_directories(dir, ec);
  chmod(dir.c_str(), 0700);
  fs::remove(dir / "ready", ec);
  FL_ASSIGN_OR_RETURN(agent->pid_, SpawnInOwnGroup(AgentArgs(binary, dir, options.log_level)));
  auto address = AwaitReady(agent->pid_, dir / "ready", options.start_timeout);
  if (!address.ok()) {
    agent->pid_ = -1;  // already reaped by AwaitReady
    return address.status();
  }
  agent->address_ = *address;
  agent->state_dir_ = dir.string();
  agent->binary_ = binary;
  agent->options_ = options;
  return agent;
}

EmbeddedAgent::~EmbeddedAgent() {
  if (state_dir_.empty()) return;
  if (StopAgent(pid_)) {
    std::error_code ec;
    fs::remove_all(state_dir_, ec);
    return;
  }
  // The agent crashed or hung: what its state file still lists must not wait
  // for some future run. A fresh agent on the same directory reverts it now.
  spdlog::warn("embedded agent did not exit cleanly; recovering its state dir={}", state_dir_);
  if (!RecoverDir(binary_, state_dir_, options_)) {
    spdlog::error("embedded agent state not recovered dir={}; the next faultline run retries",
                  state_dir_);
  }
}

}  // namespace faultline::controller
