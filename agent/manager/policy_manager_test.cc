// FaultManager + Policy: a refused request touches nothing (no factory call,
// no Prepare, no state-file entry, no process, no cgroup), dry runs are
// refused the same way, and protected processes survive a process.kill that
// would otherwise kill them (the same request without the protection does).
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/host/victim_testing.h"
#include "agent/manager/fake_fault.h"
#include "agent/manager/fault_manager.h"
#include "agent/manager/request_validation.h"
#include "agent/manager/state_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

std::filesystem::path TempDir() {
  std::string templ =
      (std::filesystem::temp_directory_path() / "faultline-policy-test-XXXXXX").string();
  EXPECT_NE(::mkdtemp(templ.data()), nullptr);
  return templ;
}

v1::ApplyRequest Request(const std::string& id, bool dry_run = false) {
  v1::ApplyRequest request;
  request.set_fault_id(id);
  request.set_run_id("run1");
  request.set_duration_ms(10'000);
  request.set_lease_ttl_ms(600'000);
  request.set_dry_run(dry_run);
  return request;
}

v1::ApplyRequest Cpu(const std::string& id, uint32_t load, bool dry_run = false) {
  v1::ApplyRequest request = Request(id, dry_run);
  request.mutable_spec()->mutable_cpu_pressure()->set_load_pct(load);
  request.mutable_spec()->mutable_cpu_pressure()->set_workers(1);
  return request;
}

v1::ApplyRequest Kill(const std::string& id, const v1::ProcessTarget& target,
                      bool dry_run = false) {
  v1::ApplyRequest request = Request(id, dry_run);
  *request.mutable_spec()->mutable_process_kill()->mutable_target() = target;
  return request;
}

v1::ProcessTarget ByName(const std::string& name) {
  v1::ProcessTarget t;
  t.set_name(name);
  return t;
}
v1::ProcessTarget ByPid(pid_t pid) {
  v1::ProcessTarget t;
  t.set_pid(pid);
  return t;
}
v1::ProcessTarget ByCmdline(const std::string& regex) {
  v1::ProcessTarget t;
  t.set_cmdline(regex);
  return t;
}

size_t StateEntries(const std::filesystem::path& dir) {
  absl::StatusOr<v1::AgentState> state = StateFile(dir).Read();
  EXPECT_TRUE(state.ok()) << state.status();
  return state.ok() ? static_cast<size_t>(state->faults_size()) : 0;
}

// Children of this process, from every thread's children list.
std::set<std::string> Children() {
  std::set<std::string> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "children");
    std::string pid;
    while (in >> pid) out.insert(pid);
  }
  return out;
}

// Directories named `name` up to two levels below /sys/fs/cgroup (the
// per-fault cgroup parent in v2, or in any v1 hierarchy).
int CgroupDirsNamed(const std::string& name) {
  int found = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           "/sys/fs/cgroup", std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() >= 2) it.disable_recursion_pending();
    if (it->is_directory(ec) && it->path().filename() == name) ++found;
  }
  return found;
}

class PolicyManagerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    manager_.reset();
    for (const auto& dir : dirs_) std::filesystem::remove_all(dir);
  }

  FaultManager& Start(const Policy& policy, FaultFactory factory = MakeFault) {
    ManagerOptions options;
    options.state_dir = TempDir();
    dirs_.push_back(options.state_dir);
    options.policy = policy;
    options.fault_context.cgroup_parent = cgroup_parent_;
    options.fault_context.stressor_path = "/bin/true";
    manager_ = std::make_unique<FaultManager>(options, &clock_, std::move(factory));
    auto recovered = manager_->Recover();
    EXPECT_TRUE(recovered.ok()) << recovered.status();
    return *manager_;
  }

  FakeClock clock_;
  std::unique_ptr<FaultManager> manager_;
  std::vector<std::filesystem::path> dirs_;
  const std::string cgroup_parent_ = absl::StrCat("fl-policy-test-", getpid());
};

TEST_F(PolicyManagerTest, RefusalComesBeforeTheFactoryAndThePersistForDryRunsToo) {
  auto host = std::make_shared<FakeHost>();
  Policy policy;
  policy.max_cpu_pct = 50;
  FaultManager& manager = Start(policy, MakeFakeFactory(host));
  for (bool dry_run : {false, true}) {
    absl::StatusOr<v1::ApplyResponse> r = manager.Apply(Cpu("f1", 80, dry_run));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(r.status().message(),
              "fault f1: policy max_cpu_pct (50%) refuses cpu.pressure load of 80%");
  }
  EXPECT_TRUE(host->calls().empty());  // not even built
  EXPECT_EQ(StateEntries(dirs_.back()), 0u);
  // Bad requests stay InvalidArgument with the same messages as before.
  v1::ApplyRequest bad = Cpu("f1", 80);
  bad.set_duration_ms(0);
  EXPECT_EQ(manager.Apply(bad).status().message(), "fault f1: duration_ms must be > 0");
  ASSERT_TRUE(manager.Apply(Cpu("f1", 50)).ok());
  EXPECT_TRUE(host->IsApplied("f1"));
  ASSERT_TRUE(manager.Revert("f1").ok());
}

TEST_F(PolicyManagerTest, MaxConcurrentFaultsIsPermissionDenied) {
  auto host = std::make_shared<FakeHost>();
  Policy policy;
  policy.max_concurrent_faults = 2;
  FaultManager& manager = Start(policy, MakeFakeFactory(host));
  ASSERT_TRUE(manager.Apply(Cpu("f1", 10)).ok());
  ASSERT_TRUE(manager.Apply(Cpu("f2", 10)).ok());
  for (bool dry_run : {false, true}) {
    absl::Status s = manager.Apply(Cpu("f3", 10, dry_run)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(s.message(),
              "fault f3: policy max_concurrent_faults (2) refuses another fault: 2 active");
  }
  EXPECT_EQ(host->Count("prepare f3"), 0);
  // A retry of an active fault is not another fault.
  absl::StatusOr<v1::ApplyResponse> again = manager.Apply(Cpu("f1", 10));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_active());
  ASSERT_TRUE(manager.Revert("f1").ok());
  ASSERT_TRUE(manager.Apply(Cpu("f3", 10)).ok());
  EXPECT_EQ(StateEntries(dirs_.back()), 2u);
  manager.Halt("test");
}

// The real cpu.pressure fault: over the limit nothing reaches the host (no
// stressor child, no cgroup, no state-file entry); the same request under a
// looser policy passes every check (dry run: Prepare picks an engine).
TEST_F(PolicyManagerTest, CpuPressureOverTheLimitChangesNothingOnTheHost) {
  const std::set<std::string> children_before = Children();
  const int cgroups_before = CgroupDirsNamed(cgroup_parent_);
  Policy strict;
  strict.max_cpu_pct = 20;
  FaultManager& manager = Start(strict);
  for (bool dry_run : {true, false}) {
    absl::Status s = manager.Apply(Cpu("cpu1", 90, dry_run)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(s.message(), HasSubstr("policy max_cpu_pct (20%) refuses cpu.pressure load of 90%"));
  }
  EXPECT_EQ(manager.active_count(), 0u);
  EXPECT_EQ(StateEntries(dirs_.back()), 0u);
  EXPECT_EQ(Children(), children_before);
  EXPECT_EQ(CgroupDirsNamed(cgroup_parent_), cgroups_before);
  EXPECT_EQ(cgroups_before, 0);

  Policy loose;
  loose.max_cpu_pct = 90;
  FaultManager& other = Start(loose);
  absl::StatusOr<v1::ApplyResponse> dry = other.Apply(Cpu("cpu1", 90, /*dry_run=*/true));
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->fault().state(), v1::FAULT_STATE_DRY_RUN);
}

TEST_F(PolicyManagerTest, ProtectedProcessSurvivesWhatWouldKillIt) {
  VictimBinary binary;
  auto victim = Victim::Start(binary.path(), "0.000424242");
  ASSERT_NE(victim, nullptr);
  const std::string pid = absl::StrCat(victim->pid());

  struct Case {
    std::string entry;
    v1::ProcessTarget target;
    std::string error;
  };
  const std::vector<Case> cases = {
      // By name through a regex: only the resolution on the host sees it.
      {binary.comm(), ByCmdline(binary.comm() + " 600"),
       absl::StrCat("process.kill: policy protected_processes (", binary.comm(), ") refuses pid ",
                    pid, " (", binary.comm(), ")")},
      {"cmdline:600 0.000424242", ByName(binary.comm()),
       absl::StrCat("process.kill: policy protected_processes (cmdline:600 0.000424242) refuses "
                    "pid ", pid, " (", binary.comm(), ")")},
      {binary.comm(), ByPid(victim->pid()),
       absl::StrCat("policy protected_processes (", binary.comm(), ") refuses pid ", pid)},
      // Named outright: refused by the request check already.
      {binary.comm(), ByName(binary.comm()),
       absl::StrCat("policy protected_processes (", binary.comm(), ") refuses process.kill of "
                    "name ", binary.comm())},
  };
  for (const Case& c : cases) {
    Policy policy;
    policy.protected_processes = {c.entry};
    FaultManager& manager = Start(policy);
    for (bool dry_run : {true, false}) {
      absl::Status s = manager.Apply(Kill("k1", c.target, dry_run)).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << c.entry << ": " << s;
      EXPECT_THAT(s.message(), HasSubstr(c.error));
    }
    EXPECT_EQ(StateEntries(dirs_.back()), 0u);
  }
  EXPECT_EQ(victim->WaitExit(milliseconds(50)), std::nullopt);

  // The same fault without the entry kills it: the refusal above was real.
  FaultManager& manager = Start(Policy{});
  ASSERT_TRUE(manager.Apply(Kill("k1", ByName(binary.comm()))).ok());
  std::optional<int> exit = victim->WaitExit(seconds(5));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(WIFSIGNALED(*exit) && WTERMSIG(*exit) == SIGKILL);
  manager.Halt("test");
}

TEST_F(PolicyManagerTest, TheAgentAndItsAncestorsAreAlwaysProtected) {
  FaultManager& manager = Start(Policy{});
  struct Case {
    v1::ProcessTarget target;
    std::string error;
  };
  const std::vector<Case> cases = {
      {ByPid(getpid()), absl::StrCat("policy protected_processes: pid ", getpid())},
      {ByPid(getppid()), absl::StrCat("policy protected_processes: pid ", getppid())},
      {ByPid(1), "policy protected_processes: pid 1 is always protected (init)"},
      // Our own cmdline: this very process (and maybe ctest above it).
      {ByCmdline("policy_manager_test|fault_manager_test"), "is always protected"},
  };
  for (const Case& c : cases) {
    for (bool dry_run : {true, false}) {
      absl::Status s = manager.Apply(Kill("k1", c.target, dry_run)).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
      EXPECT_THAT(s.message(), HasSubstr(c.error));
    }
  }
  absl::Status self = manager.Apply(Kill("k1", ByPid(getpid()))).status();
  EXPECT_THAT(self.message(), HasSubstr("is always protected (the agent itself)"));
  absl::Status parent = manager.Apply(Kill("k1", ByPid(getppid()))).status();
  EXPECT_THAT(parent.message(), HasSubstr("is always protected (an ancestor of the agent)"));
  v1::ApplyRequest pause = Request("p1");
  *pause.mutable_spec()->mutable_process_pause()->mutable_target() = ByPid(getppid());
  EXPECT_EQ(manager.Apply(pause).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager.active_count(), 0u);
}

TEST(RequestValidationTest, MatchesTheManagersChecks) {
  const milliseconds max = std::chrono::hours(24);
  v1::ApplyRequest ok = Cpu("f1", 50);
  EXPECT_TRUE(ValidateApplyRequest(ok, max).ok());
  struct Case {
    std::function<void(v1::ApplyRequest*)> edit;
    std::string error;
  };
  const std::vector<Case> cases = {
      {[](v1::ApplyRequest* r) { r->set_fault_id("bad id"); },
       "fault_id must match [A-Za-z0-9._-]{1,128}, got \"bad id\""},
      {[](v1::ApplyRequest* r) { r->set_run_id(""); }, "fault f1: run_id must match"},
      {[](v1::ApplyRequest* r) { r->set_duration_ms(0); }, "fault f1: duration_ms must be > 0"},
      {[](v1::ApplyRequest* r) { r->set_ttl_ms(5); }, "fault f1: ttl_ms must be >= duration_ms"},
      {[](v1::ApplyRequest* r) { r->set_lease_ttl_ms(UINT64_MAX); },
       "fault f1: lease_ttl_ms must be at most 86400000"},
      {[](v1::ApplyRequest* r) { r->clear_spec(); }, "fault f1: spec names no fault kind"},
      {[](v1::ApplyRequest* r) { r->mutable_spec()->mutable_cpu_pressure()->set_load_pct(0); },
       "fault f1: cpu.pressure: load_pct must be"},
      {[](v1::ApplyRequest* r) {
         r->mutable_spec()->mutable_process_kill()->mutable_target()->set_cmdline("(?=x)");
       },
       "fault f1: process.kill: cmdline is not a valid RE2 regex"},
  };
  for (const Case& c : cases) {
    v1::ApplyRequest r = ok;
    c.edit(&r);
    absl::Status s = ValidateApplyRequest(r, max);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.error;
    EXPECT_THAT(s.message(), HasSubstr(c.error));
  }
}

}  // namespace
}  // namespace faultline::agent
