// Real-host tests for process.pause: victims are children of this test,
// started from a uniquely named copy of /bin/sleep (victim_testing.h); the
// proof is the state letter in /proc/PID/stat. Every test ends with no
// stopped and no remaining victims (checked in TearDown).
#include "agent/faults/process_pause.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/host/victim_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

v1::ProcessPause PauseByName(const std::string& name) {
  v1::ProcessPause spec;
  spec.mutable_target()->set_name(name);
  return spec;
}

bool Stopped(char state) { return state == 'T' || state == 't'; }

class ProcessPauseTest : public ::testing::Test {
 protected:
  std::unique_ptr<Fault> Make(const v1::ProcessPause& spec) {
    absl::StatusOr<std::unique_ptr<Fault>> fault = MakeProcessPauseFault(spec, context_);
    EXPECT_TRUE(fault.ok()) << fault.status();
    return fault.ok() ? std::move(*fault) : nullptr;
  }

  void TearDown() override {
    for (const ProcessInfo& p : ProcessesNamed(binary_.comm())) {
      ADD_FAILURE() << "victim left behind: pid " << p.pid << " state " << p.state;
    }
  }

  FaultContext context_ = [] {
    FaultContext c;
    c.fault_id = "pause-test";
    return c;
  }();
  VictimBinary binary_;
};

TEST_F(ProcessPauseTest, ApplyStopsAndRevertResumes) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  auto fault = Make(PauseByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  EXPECT_EQ(fault->kind(), "process.pause");
  EXPECT_TRUE(fault->reversible());
  EXPECT_EQ(fault->engine(), "pidfd");

  ASSERT_TRUE(fault->Prepare().ok());
  // Write-ahead: recorded before anything is stopped.
  v1::RevertState prepared = fault->revert_state();
  ASSERT_EQ(prepared.processes_size(), 1);
  EXPECT_EQ(prepared.processes(0).pid(), victim->pid());
  EXPECT_EQ(prepared.processes(0).start_time(), victim->start_time());
  EXPECT_FALSE(Stopped(victim->State()));

  ASSERT_TRUE(fault->Apply().ok());
  // Apply waits for the stop to show in /proc.
  EXPECT_EQ(ReadProcess(victim->pid())->state, 'T');
  Observation obs = fault->Observe();
  EXPECT_EQ(obs["paused"], 1);
  EXPECT_EQ(obs["targets"], 1);
  EXPECT_EQ(fault->target(), absl::StrCat("pids ", victim->pid(), " (name=", binary_.comm(), ")"));
  EXPECT_EQ(fault->revert_state().processes_size(), 1);

  ASSERT_TRUE(fault->Revert().ok());
  EXPECT_TRUE(victim->WaitRunning());
  EXPECT_EQ(fault->Observe()["paused"], 0);
  ASSERT_TRUE(fault->Revert().ok());  // twice
  EXPECT_TRUE(victim->WaitRunning());
  victim->KillAndReap();
}

TEST_F(ProcessPauseTest, PausesByPidAndByCmdline) {
  std::string marker = "0.0003" + std::to_string(getpid());
  auto by_pid = Victim::Start(binary_.path());
  auto by_cmdline = Victim::Start(binary_.path(), marker);
  auto bystander = Victim::Start(binary_.path(), "0.0004");
  ASSERT_TRUE(by_pid && by_cmdline && bystander);

  v1::ProcessPause pid_spec;
  pid_spec.mutable_target()->set_pid(by_pid->pid());
  v1::ProcessPause cmdline_spec;
  std::string escaped = marker;
  escaped.replace(1, 1, "\\.");
  cmdline_spec.mutable_target()->set_cmdline(absl::StrCat(" ", escaped, "$"));
  auto f1 = Make(pid_spec);
  auto f2 = Make(cmdline_spec);
  ASSERT_TRUE(f1 && f2);
  ASSERT_TRUE(f1->Prepare().ok());
  ASSERT_TRUE(f2->Prepare().ok());
  ASSERT_TRUE(f1->Apply().ok());
  ASSERT_TRUE(f2->Apply().ok());
  EXPECT_EQ(by_pid->State(), 'T');
  EXPECT_EQ(by_cmdline->State(), 'T');
  EXPECT_FALSE(Stopped(bystander->State()));
  ASSERT_TRUE(f1->Revert().ok());
  ASSERT_TRUE(f2->Revert().ok());
  EXPECT_TRUE(by_pid->WaitRunning());
  EXPECT_TRUE(by_cmdline->WaitRunning());
}

TEST_F(ProcessPauseTest, CountPicksTheOldest) {
  std::vector<std::unique_ptr<Victim>> victims;
  for (int i = 0; i < 3; ++i) {
    victims.push_back(Victim::Start(binary_.path()));
    ASSERT_NE(victims.back(), nullptr);
    std::this_thread::sleep_for(milliseconds(30));
  }
  v1::ProcessPause spec = PauseByName(binary_.comm());
  spec.set_count(1);
  auto fault = Make(spec);
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_EQ(victims[0]->State(), 'T');
  EXPECT_FALSE(Stopped(victims[1]->State()));
  EXPECT_FALSE(Stopped(victims[2]->State()));
  EXPECT_EQ(fault->Observe()["targets"], 1);
  ASSERT_TRUE(fault->Revert().ok());
  EXPECT_TRUE(victims[0]->WaitRunning());
}

TEST_F(ProcessPauseTest, RevertWithoutApplyIsOk) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  auto fresh = Make(PauseByName(binary_.comm()));
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(fresh->Revert().ok());

  auto prepared = Make(PauseByName(binary_.comm()));
  ASSERT_NE(prepared, nullptr);
  ASSERT_TRUE(prepared->Prepare().ok());
  EXPECT_TRUE(prepared->Revert().ok());
  EXPECT_TRUE(prepared->Revert().ok());
  EXPECT_FALSE(Stopped(victim->State()));
}

// Without Apply this process never stopped anything, so Revert must not
// resume a process that someone else stopped after our Prepare.
TEST_F(ProcessPauseTest, RevertWithoutApplyLeavesOthersStopsAlone) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  auto fault = Make(PauseByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_EQ(kill(victim->pid(), SIGSTOP), 0);
  ASSERT_TRUE(victim->WaitStopped());
  ASSERT_TRUE(fault->Revert().ok());
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(victim->State(), 'T');
  victim->KillAndReap();
}

TEST_F(ProcessPauseTest, CrashRecoveryAfterApply) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  v1::RevertState state;
  {
    auto first = Make(PauseByName(binary_.comm()));
    ASSERT_NE(first, nullptr);
    ASSERT_TRUE(first->Prepare().ok());
    ASSERT_TRUE(first->Apply().ok());
    state = first->revert_state();
    // "Crash": the fault object disappears without Revert.
  }
  ASSERT_EQ(victim->State(), 'T');

  auto second = Make(PauseByName(binary_.comm()));
  ASSERT_NE(second, nullptr);
  second->Restore(state);
  EXPECT_EQ(second->target(), absl::StrCat("pids ", victim->pid(), " (name=", binary_.comm(), ")"));
  EXPECT_EQ(second->Observe()["paused"], 1);
  ASSERT_TRUE(second->Revert().ok());
  EXPECT_TRUE(victim->WaitRunning());
  ASSERT_TRUE(second->Revert().ok());
}

// The state persisted after Prepare (before Apply) is enough to recover from
// a crash in the middle of Apply.
TEST_F(ProcessPauseTest, CrashRecoveryFromWriteAheadState) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  v1::RevertState write_ahead;
  {
    auto first = Make(PauseByName(binary_.comm()));
    ASSERT_NE(first, nullptr);
    ASSERT_TRUE(first->Prepare().ok());
    write_ahead = first->revert_state();
    ASSERT_TRUE(first->Apply().ok());
  }
  ASSERT_EQ(victim->State(), 'T');
  auto second = Make(PauseByName(binary_.comm()));
  ASSERT_NE(second, nullptr);
  second->Restore(write_ahead);
  ASSERT_TRUE(second->Revert().ok());
  EXPECT_TRUE(victim->WaitRunning());
}

TEST_F(ProcessPauseTest, RestoredStateNeverResumesAReusedPid) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  ASSERT_EQ(kill(victim->pid(), SIGSTOP), 0);
  ASSERT_TRUE(victim->WaitStopped());
  v1::RevertState state;
  v1::RevertState::Process* p = state.add_processes();
  p->set_pid(victim->pid());
  p->set_start_time(victim->start_time() + 1);  // another process that had this pid
  auto fault = Make(PauseByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  fault->Restore(state);
  EXPECT_EQ(fault->Observe()["paused"], 0);
  ASSERT_TRUE(fault->Revert().ok());
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(victim->State(), 'T');
  victim->KillAndReap();
}

TEST_F(ProcessPauseTest, VictimExitingWhilePausedIsFine) {
  auto reaped = Victim::Start(binary_.path());
  auto zombie = Victim::Start(binary_.path());
  ASSERT_TRUE(reaped && zombie);
  auto fault = Make(PauseByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_EQ(fault->Observe()["paused"], 2);
  reaped->KillAndReap();
  ASSERT_EQ(kill(zombie->pid(), SIGKILL), 0);
  ASSERT_TRUE(zombie->WaitForState([](char s) { return s == 'Z'; }, std::chrono::seconds(3)));
  EXPECT_EQ(fault->Observe()["paused"], 0);
  EXPECT_TRUE(fault->Revert().ok());
  zombie->KillAndReap();
  EXPECT_TRUE(fault->Revert().ok());
}

TEST_F(ProcessPauseTest, TargetThatExitsAfterPrepareIsSkipped) {
  auto gone = Victim::Start(binary_.path());
  auto stays = Victim::Start(binary_.path());
  ASSERT_TRUE(gone && stays);
  auto fault = Make(PauseByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  EXPECT_EQ(fault->revert_state().processes_size(), 2);
  gone->KillAndReap();
  ASSERT_TRUE(fault->Apply().ok());
  EXPECT_EQ(stays->State(), 'T');
  v1::RevertState state = fault->revert_state();
  ASSERT_EQ(state.processes_size(), 1);
  EXPECT_EQ(state.processes(0).pid(), stays->pid());
  EXPECT_EQ(fault->Observe()["targets"], 1);
  ASSERT_TRUE(fault->Revert().ok());
  EXPECT_TRUE(stays->WaitRunning());
}

TEST_F(ProcessPauseTest, AllTargetsGoneBeforeApplyIsNotFound) {
  auto gone = Victim::Start(binary_.path());
  ASSERT_NE(gone, nullptr);
  auto fault = Make(PauseByName(binary_.comm()));
  ASSERT_NE(fault, nullptr);
  ASSERT_TRUE(fault->Prepare().ok());
  gone->KillAndReap();
  absl::Status status = fault->Apply();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("every selected process exited before apply"));
  EXPECT_TRUE(fault->Revert().ok());
}

TEST_F(ProcessPauseTest, ProcessesStoppedBySomeoneElseAreNotTargets) {
  auto victim = Victim::Start(binary_.path());
  ASSERT_NE(victim, nullptr);
  ASSERT_EQ(kill(victim->pid(), SIGSTOP), 0);
  ASSERT_TRUE(victim->WaitStopped());

  auto by_name = Make(PauseByName(binary_.comm()));
  ASSERT_NE(by_name, nullptr);
  absl::Status status = by_name->Prepare();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("already stopped by someone else"));

  v1::ProcessPause spec;
  spec.mutable_target()->set_pid(victim->pid());
  auto by_pid = Make(spec);
  ASSERT_NE(by_pid, nullptr);
  EXPECT_EQ(by_pid->Prepare().code(), absl::StatusCode::kFailedPrecondition);
  victim->KillAndReap();
}

TEST_F(ProcessPauseTest, ProtectedAndMissingTargets) {
  for (pid_t pid : {1, getpid(), getppid()}) {
    v1::ProcessPause spec;
    spec.mutable_target()->set_pid(pid);
    auto fault = Make(spec);
    ASSERT_NE(fault, nullptr);
    absl::Status status = fault->Prepare();
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << pid;
    EXPECT_THAT(status.message(),
                HasSubstr(absl::StrCat("process.pause: policy protected_processes: pid ", pid)));
    EXPECT_THAT(status.message(), HasSubstr("is always protected"));
    EXPECT_EQ(fault->Apply().code(), absl::StatusCode::kFailedPrecondition);
  }
  auto none = Make(PauseByName(binary_.comm()));
  ASSERT_NE(none, nullptr);
  absl::Status status = none->Prepare();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(),
            absl::StrCat("process.pause: no process matches name \"", binary_.comm(), "\""));
}

}  // namespace
}  // namespace faultline::agent
