// Helpers for cross-binary tests: temp dirs, child processes started and
// killed by pid, the real faultline-agent and faultline-demo binaries.
// Everything started here is stopped by the owning object's destructor.
#ifndef FAULTLINE_TESTS_TEST_UTIL_H_
#define FAULTLINE_TESTS_TEST_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace faultline::testing {

// Directory of the built binaries (build/bin).
std::string BinDir();

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A child process we started; SIGKILLed and reaped on destruction unless
// already reaped. stdout/stderr go to `log_file` if given.
class Child {
 public:
  Child() = default;
  Child(const std::vector<std::string>& argv, const std::string& log_file = "",
        bool new_process_group = false);
  ~Child();
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;

  pid_t pid() const { return pid_; }
  // Sends `sig`; no-op once reaped.
  void Signal(int sig) const;
  // Waits up to `timeout` for exit; returns the wait status or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// Polls until `path` exists and is non-empty; returns its first line or "".
std::string WaitForFile(const std::string& path, std::chrono::milliseconds timeout);

// A real faultline-agent on a loopback port chosen by the kernel.
struct AgentProcess {
  Child child;
  std::string address;  // 127.0.0.1:PORT
};
AgentProcess StartAgent(const std::string& state_dir, const std::string& log_file,
                        const std::vector<std::string>& extra_flags = {});

// A real faultline-demo on a loopback port chosen by the kernel.
struct DemoProcess {
  Child child;
  int port = 0;
};
DemoProcess StartDemo(const std::string& log_file);

// A process we own that just sleeps: `/bin/sleep 600` copied to `dir` under
// `name`, so its comm is unique.
Child StartVictim(const TempDir& dir, const std::string& name);

// /proc/PID/stat state letter, or '\0' if the process is gone or a zombie.
char ProcessState(pid_t pid);

// Runs a command to completion; returns exit code (or 128+signal) and output.
int RunCommand(const std::vector<std::string>& argv, std::string* output,
               std::chrono::milliseconds timeout = std::chrono::seconds(120));

std::string ReadFile(const std::string& path);

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_TEST_UTIL_H_
