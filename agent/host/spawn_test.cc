#include "agent/host/spawn.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/host/cgroup.h"
#include "agent/host/process.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using namespace std::chrono_literals;

SpawnOptions Opts(std::vector<std::string> argv, std::vector<std::string> cgroups = {},
                  int pass_fd = -1) {
  SpawnOptions options;
  options.argv = std::move(argv);
  options.cgroups = std::move(cgroups);
  options.pass_fd = pass_fd;
  return options;
}

std::set<int> OpenFds(pid_t pid) {
  std::set<int> fds;
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) return fds;
  while (dirent* e = readdir(dir)) {
    int fd = -1;
    if (absl::SimpleAtoi(e->d_name, &fd)) fds.insert(fd);
  }
  closedir(dir);
  return fds;
}

std::string StatusField(pid_t pid, absl::string_view field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view v(line);
    if (absl::ConsumePrefix(&v, field) && absl::ConsumePrefix(&v, ":")) {
      return std::string(absl::StripAsciiWhitespace(v));
    }
  }
  return "";
}

// Waits until `pid` has exec'd `comm` (Spawn returns after execve, but the
// kernel updates comm at exec; this guards against reading too early).
void WaitForComm(pid_t pid, const std::string& comm) {
  for (int i = 0; i < 200; ++i) {
    auto info = ReadProcess(pid);
    if (info.ok() && info->comm == comm) return;
    std::this_thread::sleep_for(5ms);
  }
}

TEST(SpawnTest, RunsAndIsKilledAndReaped) {
  auto child = Spawn(Opts({"/bin/sleep", "30"}));
  ASSERT_TRUE(child.ok()) << child.status();
  auto info = ReadProcess(child->pid);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->start_time, child->start_time);
  EXPECT_EQ(info->ppid, getpid());

  auto reaped = KillAndReap(child->pid, child->start_time, 2s);
  ASSERT_TRUE(reaped.ok()) << reaped.status();
  ASSERT_TRUE(reaped->has_value());
  EXPECT_EQ(DescribeWaitStatus(**reaped), "killed by signal 9");
  EXPECT_FALSE(ReadProcess(child->pid).ok()) << "zombie left behind";
  // Idempotent: gone is fine.
  auto again = KillAndReap(child->pid, child->start_time, 2s);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
}

TEST(SpawnTest, ExecFailureIsReportedAndReaped) {
  auto child = Spawn(Opts({"/nonexistent/binary"}));
  EXPECT_EQ(child.status().code(), absl::StatusCode::kNotFound) << child.status();
  EXPECT_EQ(child.status().message(),
            "exec /nonexistent/binary: No such file or directory");
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1) << "a child is left";
  EXPECT_EQ(errno, ECHILD);
  char plain[] = "/tmp/spawn_test_XXXXXX";
  int fd = mkstemp(plain);
  ASSERT_GE(fd, 0);
  close(fd);  // mode 0600: not executable
  auto not_executable = Spawn(Opts({plain}));
  unlink(plain);
  EXPECT_EQ(not_executable.status().code(), absl::StatusCode::kPermissionDenied)
      << not_executable.status();
  EXPECT_EQ(Spawn(SpawnOptions()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpawnTest, ChildGetsCleanSignalStateAndOnlyItsFds) {
  // Parent state that must not leak: a blocked and an ignored signal, and a
  // descriptor without O_CLOEXEC.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  struct sigaction ignore {}, old_int {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ignore, &old_int);
  int leaky = open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 0);

  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  auto child = Spawn(Opts({"/bin/sleep", "30"}, {}, pipe_fds[1]));
  close(leaky);
  close(pipe_fds[1]);
  close(pipe_fds[0]);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  sigaction(SIGINT, &old_int, nullptr);
  ASSERT_TRUE(child.ok()) << child.status();
  WaitForComm(child->pid, "sleep");

  EXPECT_EQ(StatusField(child->pid, "SigBlk"), "0000000000000000");
  EXPECT_EQ(StatusField(child->pid, "SigIgn"), "0000000000000000");
  // The kernel renames the task before it closes close-on-exec descriptors,
  // so the comm alone does not prove exec has finished: poll briefly.
  const std::set<int> expected = {0, 1, 2, 3};
  for (int i = 0; i < 200 && OpenFds(child->pid) != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(OpenFds(child->pid), expected);

  // SIGTERM works (it would be blocked if the mask had leaked).
  ASSERT_EQ(kill(child->pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child->pid, &status, 0), child->pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}

TEST(SpawnTest, PassFdBecomesFd3) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  auto child = Spawn(Opts({"/bin/sh", "-c", "echo ready >&3"}, {}, pipe_fds[1]));
  close(pipe_fds[1]);
  ASSERT_TRUE(child.ok()) << child.status();
  char buf[16] = {};
  EXPECT_EQ(read(pipe_fds[0], buf, sizeof(buf)), 6);
  EXPECT_STREQ(buf, "ready\n");
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child->pid, &status, 0), child->pid);
  EXPECT_EQ(DescribeWaitStatus(status), "exit status 0");
}

TEST(SpawnTest, JoinsCgroupBeforeExec) {
  auto layout = DetectCgroups();
  ASSERT_TRUE(layout.ok());
  auto cpuacct = layout->For("cpuacct");
  if (!cpuacct) GTEST_SKIP() << "no cpuacct hierarchy";
  const std::string path = FaultCgroupPath(*cpuacct, "faultline", absl::StrCat("spawntest-", getpid()));
  ASSERT_TRUE(CreateCgroup(path, "faultline").ok());
  auto child = Spawn(Opts({"/bin/sleep", "30"}, {path}));
  ASSERT_TRUE(child.ok()) << child.status();
  auto pids = CgroupPids(path);
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(*pids, std::vector<pid_t>{child->pid});
  ASSERT_TRUE(KillAndReap(child->pid, child->start_time, 2s).ok());
  ASSERT_TRUE(RemoveCgroup(path, "faultline").ok());

  auto missing = Spawn(Opts({"/bin/sleep", "30"}, {path}));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

TEST(SpawnTest, KillAndReapSparesAReusedPid) {
  auto child = Spawn(Opts({"/bin/sleep", "30"}));
  ASSERT_TRUE(child.ok());
  auto spared = KillAndReap(child->pid, child->start_time + 7, 1s);
  ASSERT_TRUE(spared.ok());
  EXPECT_FALSE(spared->has_value());
  EXPECT_TRUE(ReadProcess(child->pid).ok()) << "killed the wrong process";
  ASSERT_TRUE(KillAndReap(child->pid, child->start_time, 2s).ok());
}

// Many threads spawning at once while others allocate: the child must never
// deadlock on a lock some parent thread held at fork time.
TEST(SpawnTest, ConcurrentSpawnsFromManyThreads) {
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop) {
      std::vector<std::string> v(64, std::string(100, 'x'));
    }
  });
  std::vector<std::thread> spawners;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    spawners.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto child = Spawn(Opts({"/bin/true"}));
        if (!child.ok()) continue;
        int status = 0;
        if (waitpid(child->pid, &status, 0) == child->pid && WIFEXITED(status)) ++ok;
      }
    });
  }
  for (std::thread& t : spawners) t.join();
  stop = true;
  churn.join();
  EXPECT_EQ(ok.load(), 40);
}

}  // namespace
}  // namespace faultline::agent
