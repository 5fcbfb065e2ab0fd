// Test-only helpers for tests that signal real processes (host/process_test,
// faults/process_*_test): every victim is a child of the test, started from a
// private copy of /bin/sleep whose file name is random, so its comm is unique
// on the host and matching by name can never hit anything else.
//
// VictimBinary owns the copy (removed on destruction). Victim owns one child:
// its destructor SIGKILLs and reaps it if the test has not, so no test leaves
// a process behind. Only pids that are our unreaped children are ever
// signalled here, so they cannot have been reused. Not thread-safe.
#ifndef FAULTLINE_AGENT_HOST_VICTIM_TESTING_H_
#define FAULTLINE_AGENT_HOST_VICTIM_TESTING_H_

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/host/process.h"
#include "gtest/gtest.h"

extern char** environ;

namespace faultline::agent {

// `length` random lowercase letters and digits.
inline std::string RandomToken(size_t length) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::mt19937_64 rng(device());
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string out;
  for (size_t i = 0; i < length; ++i) out.push_back(kAlphabet[pick(rng)]);
  return out;
}

// A copy of /bin/sleep named "flv-<11 random chars>": 15 characters, the
// longest name comm keeps whole.
class VictimBinary {
 public:
  VictimBinary() {
    char dir_template[] = "/tmp/fl-victims-XXXXXX";
    const char* dir = mkdtemp(dir_template);
    if (dir == nullptr) {
      ADD_FAILURE() << "mkdtemp: " << errno;
      return;
    }
    dir_ = dir;
    comm_ = "flv-" + RandomToken(11);
    path_ = (dir_ / comm_).string();
    std::error_code ec;
    std::filesystem::copy_file("/bin/sleep", path_, ec);
    if (ec) ADD_FAILURE() << "copy /bin/sleep: " << ec.message();
  }
  ~VictimBinary() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  VictimBinary(const VictimBinary&) = delete;
  VictimBinary& operator=(const VictimBinary&) = delete;

  const std::string& path() const { return path_; }
  const std::string& comm() const { return comm_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
  std::string comm_;
};

class Victim {
 public:
  // Starts `binary` sleeping for 600 s (plus `extra_seconds`, an argument
  // such as "0.000123" that makes the cmdline unique). Returns nullptr after
  // ADD_FAILURE on error. Returns once /proc shows the victim's final comm
  // and cmdline.
  static std::unique_ptr<Victim> Start(const std::string& binary,
                                       const std::string& extra_seconds = "") {
    std::vector<std::string> args = {binary, "600"};
    if (!extra_seconds.empty()) args.push_back(extra_seconds);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, binary.c_str(), nullptr, &attr, argv.data(), environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << binary << ": " << rc;
      return nullptr;
    }
    std::unique_ptr<Victim> victim(new Victim(pid));
    // The vfork parent resumes inside execve, before the kernel has set the
    // new comm and argv: wait until /proc shows the final ones.
    std::string comm = std::filesystem::path(binary).filename().string().substr(0, 15);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (true) {
      absl::StatusOr<ProcessInfo> info = ReadProcess(pid);
      if (info.ok() && info->comm == comm && !info->cmdline.empty()) {
        victim->start_time_ = info->start_time;
        return victim;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ADD_FAILURE() << "victim " << pid << " never showed comm " << comm << ": "
                      << (info.ok() ? info->comm : info.status().ToString());
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  ~Victim() {
    if (reaped_) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  Victim(const Victim&) = delete;
  Victim& operator=(const Victim&) = delete;

  pid_t pid() const { return pid_; }
  uint64_t start_time() const { return start_time_; }
  bool reaped() const { return reaped_; }

  // Reaps the victim if it exits within `timeout`; its waitpid status, or
  // nullopt while it is still running.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout) {
    if (reaped_) return status_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        status_ = status;
        return status_;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Field 3 of /proc/PID/stat, '?' once it is gone.
  char State() const {
    if (reaped_) return '?';
    absl::StatusOr<ProcessInfo> info = ReadProcess(pid_);
    return info.ok() ? info->state : '?';
  }

  // Polls State() until `pred` holds or `timeout` passes.
  bool WaitForState(const std::function<bool(char)>& pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred(State())) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  bool WaitStopped(std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    return WaitForState([](char s) { return s == 'T' || s == 't'; }, timeout);
  }
  bool WaitRunning(std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    return WaitForState([](char s) { return s == 'S' || s == 'R'; }, timeout);
  }

  // SIGKILLs and reaps now; the wait status.
  int KillAndReap() {
    if (!reaped_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      reaped_ = true;
      status_ = status;
    }
    return status_;
  }

 private:
  explicit Victim(pid_t pid) : pid_(pid) {}

  pid_t pid_;
  uint64_t start_time_ = 0;
  bool reaped_ = false;
  int status_ = 0;
};

// Processes on the host whose comm is `comm` (for end-of-test checks).
inline std::vector<ProcessInfo> ProcessesNamed(const std::string& comm) {
  std::vector<ProcessInfo> out;
  absl::StatusOr<std::vector<ProcessInfo>> all = ListProcesses();
  if (!all.ok()) return out;
  for (ProcessInfo& p : *all) {
    if (p.comm == comm) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_HOST_VICTIM_TESTING_H_
