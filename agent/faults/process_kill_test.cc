// Real-host tests for process.kill: every victim is a child of this test
// started from a uniquely named copy of /bin/sleep (victim_testing.h), so
// the fault can only ever match processes the test owns.
#include "agent/faults/process_kill.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/faults/fault_factory.h"
#include "agent/host/victim_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr milliseconds kExitTimeout{5000};
// How long a victim that must survive is watched.
constexpr milliseconds kSurvival{400};

v1::ProcessKill KillByName(const std::string& name, int signal = 0) {
  v1::ProcessKill spec;
  spec.mutable_target()->set_name(name);
  spec.set_signal(signal);
  return spec;
}

bool KilledBy(std::optional<int> status, int signal) {
  return status.has_value() && WIFSIGNALED(*status) && WTERMSIG(*status) == signal;
}

class ProcessKillTest : public ::testing::Test {
 protected:
  std::unique_ptr<Fault> Make(const v1::ProcessKill& spec) {
    absl::StatusOr<std::unique_ptr<Fault>> fault = MakeProcessKillFault(spec, context_);
    EXPECT_TRUE(fault.ok()) << fault.status();
    return fault.ok() ? std::move(*fault) : nullptr;
  }

  void TearDown() override {
    for (const VictimBinary* b : {&binary_, &other_}) {
      for (const ProcessInfo& p : ProcessesNamed(b->comm())) {
        ADD_FAILURE() << "victim left behind: pid " << p.pid << " state " << p.state;
      }
    }
  }

  FaultContext context_ = [] {
    FaultContext c;
    c.fault_id = "kill-test";
    return c;
  }();
  VictimBinary binary_;
  VictimBinary other_;
};

TEST_F(ProcessKillTest, KillByNameKillsExactlyTheMatchingProcesses) {
  auto a = Victim::Start(binary_.path());
  auto b = Victim::Start(binary_.path());
  auto bystander = Victim::Start(other_.path());
  ASSERT_TRUE(a && b && bystander);

  auto fault = Make(KillByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  EXPECT_EQ(fault->kind(), "process.kill");
  EXPECT_FALSE(fault->reversible());
  ASSERT_TRUE(fault->Prepare().ok());
  EXPECT_EQ(a->WaitExit(milliseconds(0)), std::nullopt) << "prepare must not signal";
  ASSERT_TRUE(fault->Apply().ok());

  EXPECT_TRUE(KilledBy(a->WaitExit(kExitTimeout), SIGKILL));
  EXPECT_TRUE(KilledBy(b->WaitExit(kExitTimeout), SIGKILL));
  EXPECT_EQ(bystander->WaitExit(kSurvival), std::nullopt);

  Observation obs = fault->Observe();
  EXPECT_EQ(obs["signals_sent"], 2);
  EXPECT_EQ(obs["processes_matched"], 2);
  EXPECT_EQ(obs["rounds"], 1);
  EXPECT_EQ(fault->target(), absl::StrCat("pids ", a->pid(), ",", b->pid(),
                                          " (name=", binary_.comm(), ")"));
  EXPECT_TRUE(fault->Revert().ok());
  EXPECT_EQ(fault->revert_state().processes_size(), 0);
}

TEST_F(ProcessKillTest, KillByCmdlineRegex) {
  std::string marker = "0.0001" + std::to_string(getpid());
  auto target = Victim::Start(binary_.path(), marker);
  auto bystander = Victim::Start(binary_.path(), "0.0002");
  ASSERT_TRUE(target && bystander);

  v1::ProcessKill spec;
  std::string escaped = marker;
  escaped.replace(1, 1, "\\.");
  spec.mutable_target()->set_cmdline(absl::StrCat(" 600 ", escaped, "$"));
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());

  EXPECT_TRUE(KilledBy(target->WaitExit(kExitTimeout), SIGKILL));
  EXPECT_EQ(bystander->WaitExit(kSurvival), std::nullopt);
  EXPECT_EQ(fault->Observe()["signals_sent"], 1);
  EXPECT_TRUE(fault->Revert().ok());
}

TEST_F(ProcessKillTest, KillByPid) {
  auto target = Victim::Start(binary_.path());
  auto bystander = Victim::Start(binary_.path());
  ASSERT_TRUE(target && bystander);

  v1::ProcessKill spec;
  spec.mutable_target()->set_pid(target->pid());
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_TRUE(KilledBy(target->WaitExit(kExitTimeout), SIGKILL));
  EXPECT_EQ(bystander->WaitExit(kSurvival), std::nullopt);
  EXPECT_EQ(fault->target(), absl::StrCat("pids ", target->pid(), " (pid=", target->pid(), ")"));
}

TEST_F(ProcessKillTest, CountOnePicksTheOldest) {
  std::vector<std::unique_ptr<Victim>> victims;
  for (int i = 0; i < 3; ++i) {
    victims.push_back(Victim::Start(binary_.path()));
    ASSERT_NE(victims.back(), nullptr);
    std::this_thread::sleep_for(milliseconds(30));  // distinct start times
  }
  v1::ProcessKill spec = KillByName(binary_.comm());
  spec.set_count(1);
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_TRUE(KilledBy(victims[0]->WaitExit(kExitTimeout), SIGKILL));
  EXPECT_EQ(victims[1]->WaitExit(kSurvival), std::nullopt);
  EXPECT_EQ(victims[2]->WaitExit(milliseconds(0)), std::nullopt);
  Observation obs = fault->Observe();
  EXPECT_EQ(obs["signals_sent"], 1);
  EXPECT_EQ(obs["processes_matched"], 3);
}

TEST_F(ProcessKillTest, PercentRoundsUpOverMatches) {
  std::vector<std::unique_ptr<Victim>> victims;
  for (int i = 0; i < 3; ++i) {
    victims.push_back(Victim::Start(binary_.path()));
    ASSERT_NE(victims.back(), nullptr);
    std::this_thread::sleep_for(milliseconds(30));
  }
  v1::ProcessKill spec = KillByName(binary_.comm());
  spec.set_percent(50);  // 1.5 of 3 -> 2
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_TRUE(KilledBy(victims[0]->WaitExit(kExitTimeout), SIGKILL));
  EXPECT_TRUE(KilledBy(victims[1]->WaitExit(kExitTimeout), SIGKILL));
  EXPECT_EQ(victims[2]->WaitExit(kSurvival), std::nullopt);
}

TEST_F(ProcessKillTest, SignalTermVersusDefaultKill) {
  auto term_victim = Victim::Start(binary_.path());
  auto kill_victim = Victim::Start(other_.path());
  ASSERT_TRUE(term_victim && kill_victim);

  auto term = Make(KillByName(binary_.comm(), SIGTERM));
  auto kill = Make(KillByName(other_.comm(), 0));
  ASSERT_TRUE(term && kill);
  ASSERT_TRUE(term->Prepare().ok());
  ASSERT_TRUE(kill->Prepare().ok());
  ASSERT_TRUE(term->Apply().ok());
  ASSERT_TRUE(kill->Apply().ok());
  EXPECT_TRUE(KilledBy(term_victim->WaitExit(kExitTimeout), SIGTERM));
  EXPECT_TRUE(KilledBy(kill_victim->WaitExit(kExitTimeout), SIGKILL));
}

TEST_F(ProcessKillTest, IntervalKillsNewcomersUntilReverted) {
  auto first = Victim::Start(binary_.path());
  ASSERT_NE(first, nullptr);
  v1::ProcessKill spec = KillByName(binary_.comm());
  spec.set_interval_ms(100);
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_TRUE(KilledBy(first->WaitExit(kExitTimeout), SIGKILL));

  auto newcomer = Victim::Start(binary_.path());
  ASSERT_NE(newcomer, nullptr);
  EXPECT_TRUE(KilledBy(newcomer->WaitExit(kExitTimeout), SIGKILL));

  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(fault->Revert().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(500));
  Observation obs = fault->Observe();
  EXPECT_EQ(obs["signals_sent"], 2);
  EXPECT_EQ(obs["processes_matched"], 2);
  EXPECT_GE(obs["rounds"], 2);

  auto survivor = Victim::Start(binary_.path());
  ASSERT_NE(survivor, nullptr);
  EXPECT_EQ(survivor->WaitExit(milliseconds(3 * spec.interval_ms())), std::nullopt);
  EXPECT_EQ(fault->Observe()["signals_sent"], 2);
  EXPECT_TRUE(fault->Revert().ok());  // twice
}

TEST_F(ProcessKillTest, RevertIsPromptWithLongInterval) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  v1::ProcessKill spec = KillByName(binary_.comm());
  spec.set_interval_ms(60'000);
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_TRUE(KilledBy(victim->WaitExit(kExitTimeout), SIGKILL));
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(fault->Revert().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(200));
}

TEST_F(ProcessKillTest, DestroyingTheFaultStopsTheRepeatThread) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  v1::ProcessKill spec = KillByName(binary_.comm());
  spec.set_interval_ms(100);
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_TRUE(KilledBy(victim->WaitExit(kExitTimeout), SIGKILL));
  fault.reset();
  auto survivor = Victim::Start(binary_.path());
  ASSERT_NE(survivor, nullptr);
  EXPECT_EQ(survivor->WaitExit(kSurvival), std::nullopt);
}

TEST_F(ProcessKillTest, RepeatRoundsNeverSignalProtectedProcesses) {
  // A protected match at Prepare refuses the fault; one that appears during
  // the repeat rounds is skipped, never signalled.
  auto victim = Victim::Start(binary_.path());
  ASSERT_TRUE(victim);
  context_.protected_processes = {"cmdline:600 0.000777"};
  v1::ProcessKill spec = KillByName(binary_.comm());
  spec.set_interval_ms(100);
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_TRUE(KilledBy(victim->WaitExit(kExitTimeout), SIGKILL));
  auto protected_victim = Victim::Start(binary_.path(), "0.000777");
  ASSERT_TRUE(protected_victim);
  EXPECT_EQ(protected_victim->WaitExit(milliseconds(500)), std::nullopt);
  ASSERT_TRUE(fault->Revert().ok());
  EXPECT_GE(fault->Observe()["rounds"], 3);
  EXPECT_EQ(fault->Observe()["signals_sent"], 1);
}

TEST_F(ProcessKillTest, ProtectedPidsArePermissionDenied) {
  auto check = [&](pid_t pid, const std::string& reason) {
    v1::ProcessKill spec;
    spec.mutable_target()->set_pid(pid);
    auto fault = Make(spec);
    ASSERT_NE(fault, nullptr);
    absl::Status status = fault->Prepare();
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << pid;
    EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("process.kill: policy protected_processes: pid ",
                                                         pid, " (")));
    EXPECT_THAT(status.message(), HasSubstr(absl::StrCat(") is always protected (", reason, ")")));
    EXPECT_EQ(fault->Apply().code(), absl::StatusCode::kFailedPrecondition);
  };
  check(1, "init");
  check(getpid(), "the agent itself");
  check(getppid(), "an ancestor of the agent");

  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  context_.protected_pids = {victim->pid()};
  check(victim->pid(), "listed in protected_pids");

  auto by_name = Make(KillByName(binary_.comm()));
  ASSERT_NE(by_name, nullptr);
  absl::Status status = by_name->Prepare();
  // A name that matches a protected process refuses the fault.
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            absl::StrCat("process.kill: policy protected_processes: pid ", victim->pid(), " (",
                         binary_.comm(), ") is always protected (listed in protected_pids)"));
  EXPECT_EQ(victim->WaitExit(milliseconds(100)), std::nullopt);
}

TEST_F(ProcessKillTest, NoMatchIsNotFound) {
  auto fault = Make(KillByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  absl::Status status = fault->Prepare();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(),
            absl::StrCat("process.kill: no process matches name \"", binary_.comm(), "\""));
}

TEST_F(ProcessKillTest, ReapedPidIsNotFound) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  pid_t pid = victim->pid();
  victim->KillAndReap();
  v1::ProcessKill spec;
  spec.mutable_target()->set_pid(pid);
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  // The pid may have been reused by an unrelated process meanwhile; only a
  // NotFound proves the test's point, anything else means reuse.
  absl::Status status = fault->Prepare();
  if (!absl::IsNotFound(status)) GTEST_SKIP() << "pid " << pid << " was reused";
  EXPECT_EQ(status.message(), absl::StrCat("process.kill: no process matches pid ", pid));
}

TEST_F(ProcessKillTest, VictimsThatExitBeforeApplyAreSkipped) {
  auto gone = Victim::Start(binary_.path());
  auto stays = Victim::Start(binary_.path());
  ASSERT_TRUE(gone && stays);
  v1::ProcessKill spec = KillByName(binary_.comm(), SIGTERM);
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  gone->KillAndReap();
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_TRUE(KilledBy(stays->WaitExit(kExitTimeout), SIGTERM));
  EXPECT_EQ(fault->Observe()["signals_sent"], 1);
}

TEST_F(ProcessKillTest, AllVictimsGoneBeforeApplyIsNotFound) {
  auto gone = Victim::Start(binary_.path());
  ASSERT_NE(gone, nullptr);
  auto fault = Make(KillByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  gone->KillAndReap();
  absl::Status status = fault->Apply();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("every selected process exited before apply"));
  EXPECT_EQ(fault->Observe()["signals_sent"], 0);
}

TEST_F(ProcessKillTest, RevertWithoutApplyIsOk) {
  auto fault = Make(KillByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  EXPECT_TRUE(fault->Revert().ok());
  EXPECT_TRUE(fault->Revert().ok());
}

TEST_F(ProcessKillTest, BuiltThroughTheFactory) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  v1::FaultSpec spec;
  *spec.mutable_process_kill() = KillByName(binary_.comm(), SIGTERM);
  EXPECT_EQ(KindName(spec), "process.kill");
  absl::StatusOr<std::unique_ptr<Fault>> fault = MakeFault(spec, context_);
  ASSERT_TRUE(fault.ok()) << fault.status();
  EXPECT_EQ((*fault)->engine(), "pidfd");
  ASSERT_TRUE((*fault)->Prepare().ok());
  ASSERT_TRUE((*fault)->Apply().ok());
  EXPECT_TRUE(KilledBy(victim->WaitExit(kExitTimeout), SIGTERM));
}

}  // namespace
}  // namespace faultline::agent
