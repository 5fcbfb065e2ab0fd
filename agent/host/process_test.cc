// Real-host tests for host/process.h: /proc parsing and pidfd signalling
// against victims this test starts (see victim_testing.h).
#include "agent/host/process.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/host/victim_testing.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

bool Listed(const std::vector<ProcessInfo>& all, pid_t pid) {
  return std::any_of(all.begin(), all.end(), [&](const ProcessInfo& p) { return p.pid == pid; });
}

class ProcessTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const ProcessInfo& p : ProcessesNamed(binary_.comm())) {
      ADD_FAILURE() << "victim left behind: pid " << p.pid << " state " << p.state;
    }
  }
  VictimBinary binary_;
};

TEST_F(ProcessTest, ReadsSelf) {
  absl::StatusOr<ProcessInfo> self = ReadProcess(getpid());
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_EQ(self->pid, getpid());
  EXPECT_EQ(self->ppid, getppid());
  EXPECT_EQ(self->state, 'R');
  EXPECT_GT(self->start_time, 0u);
  EXPECT_GT(self->rss_bytes, 0u);
  EXPECT_FALSE(self->kernel_thread);
  EXPECT_FALSE(self->comm.empty());
  EXPECT_NE(self->cmdline.find("process_test"), std::string::npos) << self->cmdline;
}

TEST_F(ProcessTest, ReadsVictimCommAndCmdline) {
  auto victim = Victim::Start(binary_.path(), "0.000123");
  ASSERT_NE(victim, nullptr);
  absl::StatusOr<ProcessInfo> info = ReadProcess(victim->pid());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->comm, binary_.comm());
  EXPECT_EQ(info->cmdline, binary_.path() + " 600 0.000123");
  EXPECT_EQ(info->ppid, getpid());
  EXPECT_EQ(info->start_time, victim->start_time());
  EXPECT_TRUE(victim->WaitForState([](char s) { return s == 'S'; }, seconds(3)));
  victim->KillAndReap();
}

TEST_F(ProcessTest, StartTimeIsStableAndOrdered) {
  auto first = Victim::Start(binary_.path());
  ASSERT_NE(first, nullptr);
  std::this_thread::sleep_for(milliseconds(30));  // > one clock tick
  auto second = Victim::Start(binary_.path());
  ASSERT_NE(second, nullptr);
  EXPECT_LT(first->start_time(), second->start_time());
  EXPECT_EQ(ReadProcess(first->pid())->start_time, first->start_time());
}

TEST_F(ProcessTest, MissingPidIsNotFound) {
  EXPECT_EQ(ReadProcess(0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadProcess(-5).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadProcess(0x7ffffff0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ProcessTest, ReapedVictimIsNotFound) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  pid_t pid = victim->pid();
  victim->KillAndReap();
  EXPECT_EQ(ReadProcess(pid).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ProcessTest, ZombieIsReadableWithStateZ) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  ASSERT_EQ(kill(victim->pid(), SIGKILL), 0);
  ASSERT_TRUE(victim->WaitForState([](char s) { return s == 'Z'; }, seconds(3)));
  absl::StatusOr<ProcessInfo> info = ReadProcess(victim->pid());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->start_time, victim->start_time());
  EXPECT_TRUE(info->cmdline.empty());
  victim->KillAndReap();
}

TEST_F(ProcessTest, KernelThreadIsFlagged) {
  absl::StatusOr<std::vector<ProcessInfo>> all = ListProcesses();
  ASSERT_TRUE(all.ok()) << all.status();
  auto kthreadd = std::find_if(all->begin(), all->end(),
                               [](const ProcessInfo& p) { return p.comm == "kthreadd"; });
  if (kthreadd == all->end()) GTEST_SKIP() << "no kthreadd in this pid namespace";
  EXPECT_TRUE(kthreadd->kernel_thread);
  EXPECT_TRUE(kthreadd->cmdline.empty());
  absl::StatusOr<ProcessInfo> self = ReadProcess(getpid());
  ASSERT_TRUE(self.ok());
  EXPECT_FALSE(self->kernel_thread);
}

TEST_F(ProcessTest, ListsProcessesButNotThreads) {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread thread([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    while (!done) std::this_thread::sleep_for(milliseconds(1));
  });
  while (tid == 0) std::this_thread::sleep_for(milliseconds(1));
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);

  absl::StatusOr<std::vector<ProcessInfo>> all = ListProcesses();
  EXPECT_TRUE(IsThreadGroupLeader(getpid()));
  EXPECT_TRUE(IsThreadGroupLeader(victim->pid()));
  EXPECT_FALSE(IsThreadGroupLeader(tid.load()));
  EXPECT_FALSE(IsThreadGroupLeader(4'194'304));
  done = true;
  thread.join();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(Listed(*all, getpid()));
  EXPECT_TRUE(Listed(*all, 1));
  EXPECT_TRUE(Listed(*all, victim->pid()));
  EXPECT_FALSE(Listed(*all, tid.load()));
  victim->KillAndReap();
}

TEST_F(ProcessTest, AncestorsRunFromSelfToInit) {
  std::vector<pid_t> chain = AncestorsOf(getpid());
  ASSERT_GE(chain.size(), 2u);
  EXPECT_EQ(chain.front(), getpid());
  EXPECT_EQ(chain[1], getppid());
  EXPECT_EQ(chain.back(), 1);

  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  std::vector<pid_t> victim_chain = AncestorsOf(victim->pid());
  ASSERT_GE(victim_chain.size(), 2u);
  EXPECT_EQ(victim_chain[0], victim->pid());
  EXPECT_EQ(victim_chain[1], getpid());
  victim->KillAndReap();

  EXPECT_EQ(AncestorsOf(1), std::vector<pid_t>{1});
}

TEST_F(ProcessTest, PidFdSignalsTheExactProcess) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  absl::StatusOr<PidFd> fd = PidFd::Open(victim->pid(), victim->start_time());
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(fd->pid(), victim->pid());
  EXPECT_GE(fd->fd(), 0);
  EXPECT_FALSE(fd->Exited());
  ASSERT_TRUE(fd->Signal(SIGTERM).ok());
  std::optional<int> status = victim->WaitExit(seconds(5));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGTERM);
  EXPECT_TRUE(fd->Exited());
  EXPECT_EQ(fd->Signal(SIGKILL).code(), absl::StatusCode::kNotFound);
}

TEST_F(ProcessTest, PidFdReportsExitOfZombie) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  absl::StatusOr<PidFd> fd = PidFd::Open(victim->pid(), victim->start_time());
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_TRUE(fd->Signal(SIGKILL).ok());
  ASSERT_TRUE(victim->WaitForState([](char s) { return s == 'Z'; }, seconds(3)));
  EXPECT_TRUE(fd->Exited());
  victim->KillAndReap();
}

// The reused-pid guard: a start time that does not match means "not the
// process we meant", whatever currently holds the pid.
TEST_F(ProcessTest, PidFdOpenWithWrongStartTimeIsNotFound) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  absl::StatusOr<PidFd> fd = PidFd::Open(victim->pid(), victim->start_time() + 1);
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kNotFound) << fd.status();
  std::optional<int> status = victim->WaitExit(milliseconds(50));
  EXPECT_FALSE(status.has_value()) << "victim died";
  victim->KillAndReap();
}

TEST_F(ProcessTest, PidFdOpenOfGoneProcessIsNotFound) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  pid_t pid = victim->pid();
  uint64_t start_time = victim->start_time();
  victim->KillAndReap();
  EXPECT_EQ(PidFd::Open(pid, start_time).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ProcessTest, PidFdOpenOfThreadIdIsNotFound) {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread thread([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    while (!done) std::this_thread::sleep_for(milliseconds(1));
  });
  while (tid == 0) std::this_thread::sleep_for(milliseconds(1));
  absl::StatusOr<ProcessInfo> info = ReadProcess(tid);
  absl::StatusOr<PidFd> fd =
      PidFd::Open(tid, info.ok() ? info->start_time : 0);
  done = true;
  thread.join();
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kNotFound) << fd.status();
  EXPECT_EQ(fd.status().message(), absl::StrCat("pid ", tid.load(), " is not a process (thread id?)"));
}

TEST_F(ProcessTest, StopAndContinueShowInState) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  absl::StatusOr<PidFd> fd = PidFd::Open(victim->pid(), victim->start_time());
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_TRUE(fd->Signal(SIGSTOP).ok());
  EXPECT_TRUE(victim->WaitStopped());
  EXPECT_EQ(ReadProcess(victim->pid())->state, 'T');
  ASSERT_TRUE(fd->Signal(SIGCONT).ok());
  EXPECT_TRUE(victim->WaitRunning());
  victim->KillAndReap();
}

TEST(ClockTicksTest, IsPositive) { EXPECT_GT(ClockTicksPerSecond(), 0); }

}  // namespace
}  // namespace faultline::agent
