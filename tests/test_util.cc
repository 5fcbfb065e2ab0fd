#include "tests/test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace faultline::testing {
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

std::string BinDir() { return FAULTLINE_BIN_DIR; }

TempDir::TempDir() {
  char tmpl[] = "/tmp/faultline-test-XXXXXX";
  path_ = mkdtemp(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Child::Child(const std::vector<std::string>& argv, const std::string& log_file,
             bool new_process_group) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    if (new_process_group) setpgid(0, 0);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    if (!log_file.empty()) {
      int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
    }
    execv(args[0], args.data());
    _exit(127);
  }
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

Child::Child(Child&& other) noexcept : pid_(other.pid_), reaped_(other.reaped_) {
  other.pid_ = -1;
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = other.pid_;
    reaped_ = other.reaped_;
    other.pid_ = -1;
  }
  return *this;
}

void Child::Signal(int sig) const {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

int Child::Wait(std::chrono::milliseconds timeout) {
  auto deadline = Steady::now() + timeout;
  while (pid_ > 0 && !reaped_) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      return status;
    }
    if (Steady::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

bool Child::running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string WaitForFile(const std::string& path, std::chrono::milliseconds timeout) {
  auto deadline = Steady::now() + timeout;
  while (Steady::now() < deadline) {
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line) && !line.empty()) return line;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

AgentProcess StartAgent(const std::string& state_dir, const std::string& log_file,
                        const std::vector<std::string>& extra_flags) {
  std::string ready = state_dir + "/ready";
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  fs::remove(ready, ec);
  std::vector<std::string> argv = {BinDir() + "/faultline-agent", "--listen", "127.0.0.1:0",
                                   "--state-dir", state_dir, "--ready-file", ready,
                                   "--log-level", "info"};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  AgentProcess agent;
  agent.child = Child(argv, log_file);
  agent.address = WaitForFile(ready, std::chrono::seconds(10));
  return agent;
}

DemoProcess StartDemo(const std::string& log_file) {
  DemoProcess demo;
  demo.child = Child({BinDir() + "/faultline-demo", "--listen", "127.0.0.1:0"}, log_file);
  auto deadline = Steady::now() + std::chrono::seconds(10);
  while (Steady::now() < deadline && demo.port == 0) {
    std::string text = ReadFile(log_file);
    auto pos = text.find("listening on 127.0.0.1:");
    if (pos != std::string::npos) demo.port = std::atoi(text.c_str() + pos + 23);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return demo;
}

Child StartVictim(const TempDir& dir, const std::string& name) {
  std::string path = dir.File(name);
  std::error_code ec;
  fs::copy_file("/bin/sleep", path, fs::copy_options::overwrite_existing, ec);
  fs::permissions(path, fs::perms::owner_all, ec);
  return Child({path, "600"});
}

char ProcessState(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return '\0';
  char state = stat[close + 2];
  return state == 'Z' ? '\0' : state;
}

int RunCommand(const std::vector<std::string>& argv, std::string* output,
               std::chrono::milliseconds timeout) {
  TempDir dir;
  std::string log = dir.File("out");
  Child child(argv, log);
  int status = child.Wait(timeout);
  if (output != nullptr) *output = ReadFile(log);
  if (status < 0) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace faultline::testing
