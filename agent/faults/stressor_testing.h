// Test helpers shared by cpu_pressure_test.cc and memory_pressure_test.cc:
// unique fault contexts, probes of the real host (is the stressor still
// there, is its cgroup still there) and the conformance checks both
// stressor faults must pass. Test-only; not thread-safe.
#ifndef FAULTLINE_AGENT_FAULTS_STRESSOR_TESTING_H_
#define FAULTLINE_AGENT_FAULTS_STRESSOR_TESTING_H_

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/faults/fault.h"
#include "agent/faults/fault_factory.h"
#include "agent/host/cgroup.h"
#include "agent/host/process.h"
#include "agent/host/spawn.h"
#include "gtest/gtest.h"

#ifndef FAULTLINE_STRESSOR_PATH
#error "FAULTLINE_STRESSOR_PATH must name the faultline-stressor binary"
#endif

namespace faultline::agent::testing {

using MakeFn = std::function<std::unique_ptr<Fault>(const FaultContext&)>;

// A context with an id unique to this test process and `name`.
inline FaultContext TestContext(absl::string_view name) {
  FaultContext context;
  context.fault_id = absl::StrCat("test-", getpid(), "-", name);
  context.stressor_path = FAULTLINE_STRESSOR_PATH;
  context.cgroup_parent = "faultline";
  return context;
}

// True while (pid, start_time) exists at all, zombie included.
inline bool ProcessExists(pid_t pid, uint64_t start_time) {
  auto info = ReadProcess(pid);
  return info.ok() && info->start_time == start_time;
}

inline bool PathExists(const std::string& path) {
  struct stat st {};
  return !path.empty() && stat(path.c_str(), &st) == 0;
}

// Stressor processes whose parent is this test process (zombies too).
inline std::vector<pid_t> OurStressors() {
  std::vector<pid_t> out;
  auto all = ListProcesses();
  if (!all.ok()) return out;
  for (const ProcessInfo& p : *all) {
    if (p.ppid == getpid() && absl::StartsWith(p.comm, "faultline-stres")) out.push_back(p.pid);
  }
  return out;
}

// Every `<hierarchy base>/faultline/<fault_id>` that exists.
inline std::vector<std::string> LeftoverCgroups(const std::string& fault_id) {
  std::vector<std::string> out;
  auto layout = DetectCgroups();
  if (!layout.ok()) return out;
  for (const CgroupHierarchy& h : layout->hierarchies()) {
    std::string path = FaultCgroupPath(h, "faultline", fault_id);
    if (PathExists(path)) out.push_back(path);
  }
  return out;
}

// Waits until `pred` holds or `timeout` passes; returns pred().
inline bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline SpawnedProcess StressorOf(const Fault& fault) {
  v1::RevertState state = fault.revert_state();
  if (state.processes_size() == 0) return {};
  return {state.processes(0).pid(), state.processes(0).start_time()};
}

// The end-of-test check: nothing of ours is left on the host.
inline void ExpectNothingLeft(const std::string& fault_id) {
  EXPECT_TRUE(OurStressors().empty()) << "stressor processes left behind";
  EXPECT_TRUE(LeftoverCgroups(fault_id).empty())
      << "cgroups left behind: " << absl::StrJoin(LeftoverCgroups(fault_id), ", ");
}

// --- conformance checks, shared by every stressor fault -------------------

inline void CheckApplyRevertLeavesNothing(const MakeFn& make, const std::string& name) {
  FaultContext context = TestContext(name);
  std::unique_ptr<Fault> fault = make(context);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  SpawnedProcess p = StressorOf(*fault);
  std::string cgroup = fault->revert_state().cgroup();
  ASSERT_GT(p.pid, 0);
  EXPECT_TRUE(ProcessExists(p.pid, p.start_time));
  if (!cgroup.empty()) {
    auto pids = CgroupPids(cgroup);
    ASSERT_TRUE(pids.ok()) << pids.status();
    EXPECT_EQ(*pids, std::vector<pid_t>{p.pid}) << "stressor is not alone in " << cgroup;
  }
  ASSERT_TRUE(fault->Revert().ok());
  EXPECT_FALSE(ProcessExists(p.pid, p.start_time)) << "stressor still there (or a zombie)";
  EXPECT_FALSE(PathExists(cgroup)) << cgroup;
  EXPECT_TRUE(fault->Revert().ok()) << "second revert";
  EXPECT_TRUE(fault->Observe().empty());
  ExpectNothingLeft(context.fault_id);
}

inline void CheckRevertWithoutApply(const MakeFn& make, const std::string& name) {
  FaultContext context = TestContext(name);
  std::unique_ptr<Fault> fresh = make(context);
  EXPECT_TRUE(fresh->Revert().ok()) << "revert without prepare";
  std::unique_ptr<Fault> prepared = make(context);
  ASSERT_TRUE(prepared->Prepare().ok());
  EXPECT_TRUE(prepared->Revert().ok()) << "revert after prepare only";
  EXPECT_TRUE(prepared->Revert().ok());
  ExpectNothingLeft(context.fault_id);
}

inline void CheckFailedApplyLeavesNothing(const MakeFn& make, const std::string& name) {
  FaultContext context = TestContext(name);
  context.stressor_path = "/nonexistent/faultline-stressor";
  std::unique_ptr<Fault> fault = make(context);
  ASSERT_TRUE(fault->Prepare().ok());
  absl::Status applied = fault->Apply();
  EXPECT_EQ(applied.code(), absl::StatusCode::kNotFound) << applied;
  EXPECT_EQ(fault->revert_state().processes_size(), 0);
  ExpectNothingLeft(context.fault_id);
  EXPECT_TRUE(fault->Revert().ok());

  // A binary that exits at once (bad flags) is a failed Apply too.
  context = TestContext(name + "-false");
  context.stressor_path = "/bin/false";
  fault = make(context);
  ASSERT_TRUE(fault->Prepare().ok());
  applied = fault->Apply();
  EXPECT_EQ(applied.code(), absl::StatusCode::kInternal) << applied;
  EXPECT_TRUE(absl::StrContains(applied.message(), "exit status 1")) << applied;
  ExpectNothingLeft(context.fault_id);
}

inline void CheckCrashRecovery(const MakeFn& make, const std::string& name) {
  FaultContext context = TestContext(name);
  std::unique_ptr<Fault> first = make(context);
  ASSERT_TRUE(first->Prepare().ok());
  v1::RevertState before_apply = first->revert_state();
  EXPECT_FALSE(before_apply.cgroup().empty()) << "cgroup path known after Prepare";
  ASSERT_TRUE(first->Apply().ok());
  v1::RevertState state = first->revert_state();
  ASSERT_EQ(state.processes_size(), 1);
  EXPECT_EQ(state.cgroup(), before_apply.cgroup());
  SpawnedProcess p = StressorOf(*first);

  // A "fresh process": only the spec and the persisted state survive.
  std::unique_ptr<Fault> second = make(context);
  second->Restore(state);
  ASSERT_TRUE(second->Revert().ok());
  EXPECT_FALSE(ProcessExists(p.pid, p.start_time)) << "stressor survived recovery";
  EXPECT_FALSE(PathExists(state.cgroup()));
  // The crashed instance's late revert must be harmless too.
  EXPECT_TRUE(first->Revert().ok());
  ExpectNothingLeft(context.fault_id);
}

// Recovery when everything vanished on its own, and with a pid that was
// reused by an unrelated process: that process must survive.
inline void CheckRevertSparesReusedPid(const MakeFn& make, const std::string& name) {
  FaultContext context = TestContext(name);
  pid_t bystander = fork();
  ASSERT_GE(bystander, 0);
  if (bystander == 0) {
    pause();
    _exit(0);
  }
  auto info = ReadProcess(bystander);
  ASSERT_TRUE(info.ok());
  v1::RevertState state;
  v1::RevertState::Process* p = state.add_processes();
  p->set_pid(bystander);
  p->set_start_time(info->start_time + 1);  // "our" stressor had another start time
  std::unique_ptr<Fault> fault = make(context);
  fault->Restore(state);
  EXPECT_TRUE(fault->Revert().ok());
  EXPECT_TRUE(ProcessExists(bystander, info->start_time)) << "revert killed a bystander";
  kill(bystander, SIGKILL);
  waitpid(bystander, nullptr, 0);
}

// The stressor must exit when the process that spawned it dies, even though
// that process never reverts: spawn it from a forked intermediate process
// and SIGKILL that.
inline void CheckStressorDiesWithParent(const MakeFn& make, const std::string& name) {
  FaultContext context = TestContext(name);
  // Orphans are re-parented to us, so the test can reap the stressor.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t middle = fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    close(fds[0]);
    std::unique_ptr<Fault> fault = make(context);
    if (!fault->Prepare().ok() || !fault->Apply().ok()) _exit(1);
    std::string state = fault->revert_state().SerializeAsString();
    uint32_t size = static_cast<uint32_t>(state.size());
    if (write(fds[1], &size, sizeof(size)) != sizeof(size)) _exit(1);
    if (write(fds[1], state.data(), state.size()) != static_cast<ssize_t>(state.size())) _exit(1);
    pause();
    _exit(0);
  }
  close(fds[1]);
  uint32_t size = 0;
  ASSERT_EQ(read(fds[0], &size, sizeof(size)), static_cast<ssize_t>(sizeof(size)));
  std::string bytes(size, '\0');
  ASSERT_EQ(read(fds[0], bytes.data(), size), static_cast<ssize_t>(size));
  close(fds[0]);
  v1::RevertState state;
  ASSERT_TRUE(state.ParseFromString(bytes));
  ASSERT_EQ(state.processes_size(), 1);
  const pid_t pid = state.processes(0).pid();
  const uint64_t start = state.processes(0).start_time();
  auto pidfd = PidFd::Open(pid, start);
  ASSERT_TRUE(pidfd.ok()) << pidfd.status();

  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(middle, SIGKILL), 0);
  ASSERT_EQ(waitpid(middle, nullptr, 0), middle);
  pollfd p{pidfd->fd(), POLLIN, 0};
  const bool exited = poll(&p, 1, 1000) == 1;
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed_at);
  EXPECT_TRUE(exited) << "stressor " << pid << " still running 1s after its parent died";
  ::testing::Test::RecordProperty("stressor_exit_after_parent_ms", static_cast<int>(took.count()));
  std::printf("stressor exited %lld ms after its parent was killed\n",
              static_cast<long long>(took.count()));

  // Clean up as recovery would: the cgroup of the dead agent, and the
  // orphaned stressor (reaped by us as subreaper).
  std::unique_ptr<Fault> recovery = make(context);
  recovery->Restore(state);
  EXPECT_TRUE(recovery->Revert().ok());
  EXPECT_FALSE(ProcessExists(pid, start));
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
  ExpectNothingLeft(context.fault_id);
}

}  // namespace faultline::agent::testing

#endif  // FAULTLINE_AGENT_FAULTS_STRESSOR_TESTING_H_
