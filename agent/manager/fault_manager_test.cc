#include "agent/manager/fault_manager.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "agent/manager/fake_fault.h"
#include "agent/manager/state_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

std::filesystem::path MakeTempDir() {
  std::string templ =
      (std::filesystem::temp_directory_path() / "faultline-manager-test-XXXXXX").string();
  char* made = ::mkdtemp(templ.data());
  EXPECT_NE(made, nullptr);
  return templ;
}

v1::ApplyRequest Request(const std::string& id, const std::string& run = "run1",
                         uint64_t duration_ms = 10'000, uint64_t lease_ttl_ms = 600'000) {
  v1::ApplyRequest request;
  request.set_fault_id(id);
  request.set_run_id(run);
  request.mutable_spec()->mutable_cpu_pressure()->set_load_pct(50);
  request.set_duration_ms(duration_ms);
  request.set_lease_ttl_ms(lease_ttl_ms);
  return request;
}

v1::AgentState ReadState(const std::filesystem::path& dir) {
  absl::StatusOr<v1::AgentState> state = StateFile(dir).Read();
  EXPECT_TRUE(state.ok()) << state.status();
  return state.ok() ? *state : v1::AgentState();
}

std::vector<std::string> StateIds(const std::filesystem::path& dir) {
  std::vector<std::string> ids;
  const v1::AgentState state = ReadState(dir);
  for (const v1::FaultRecord& record : state.faults()) {
    ids.push_back(record.request().fault_id());
  }
  return ids;
}

class FaultManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    host_ = std::make_shared<FakeHost>();
    manager_ = NewManager(dir_, host_);
    auto recovered = manager_->Recover();
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    EXPECT_TRUE(recovered->empty());
  }

  void TearDown() override {
    // Envoy-style: every test ends with nothing active, in the manager and on
    // the (fake) host, without relying on the destructor's safety net.
    if (manager_ != nullptr) {
      EXPECT_EQ(manager_->active_count(), 0u);
    }
    EXPECT_TRUE(host_->applied().empty());
    manager_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<FaultManager> NewManager(const std::filesystem::path& dir,
                                           std::shared_ptr<FakeHost> host,
                                           size_t max_faults = 32) {
    ManagerOptions options;
    options.state_dir = dir;
    options.max_faults = max_faults;
    options.default_lease_ttl = seconds(15);
    options.ttl_grace = seconds(30);
    return std::make_unique<FaultManager>(options, &clock_, MakeFakeFactory(std::move(host)));
  }

  v1::ApplyResponse MustApply(const v1::ApplyRequest& request) {
    absl::StatusOr<v1::ApplyResponse> response = manager_->Apply(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::ApplyResponse();
  }

  FakeClock clock_;
  std::filesystem::path dir_;
  std::shared_ptr<FakeHost> host_;
  std::unique_ptr<FaultManager> manager_;
};

TEST_F(FaultManagerTest, ApplyListRevertWithObservedFigures) {
  v1::ApplyResponse applied = MustApply(Request("f1"));
  EXPECT_FALSE(applied.already_active());
  EXPECT_EQ(applied.fault().state(), v1::FAULT_STATE_ACTIVE);
  EXPECT_EQ(applied.fault().kind(), "cpu.pressure");
  EXPECT_EQ(applied.fault().engine(), "fake");
  EXPECT_EQ(applied.fault().target(), "fake f1");
  EXPECT_EQ(applied.fault().applied_unix_ms(), ToUnixMillis(clock_.Now()));
  EXPECT_EQ(applied.fault().expires_unix_ms(), ToUnixMillis(clock_.Now()) + 10'000);
  EXPECT_TRUE(host_->IsApplied("f1"));
  EXPECT_EQ(manager_->active_count(), 1u);

  v1::ListResponse listed = manager_->List("");
  ASSERT_EQ(listed.faults_size(), 1);
  EXPECT_EQ(listed.faults(0).fault_id(), "f1");
  EXPECT_EQ(listed.faults(0).observed().at("fake_load_pct"), 42.0);
  EXPECT_EQ(manager_->List("other-run").faults_size(), 0);

  absl::StatusOr<v1::RevertResponse> reverted = manager_->Revert("f1");
  ASSERT_TRUE(reverted.ok()) << reverted.status();
  EXPECT_TRUE(reverted->was_active());
  EXPECT_EQ(reverted->fault().state(), v1::FAULT_STATE_REVERTED);
  EXPECT_EQ(reverted->fault().revert_reason(), "request");
  EXPECT_EQ(reverted->fault().observed().at("applies"), 1.0);
  EXPECT_FALSE(host_->IsApplied("f1"));
  EXPECT_TRUE(StateIds(dir_).empty());
}

TEST_F(FaultManagerTest, DurationExpiryRevertsOnTick) {
  MustApply(Request("f1", "run1", 10'000));
  clock_.Advance(milliseconds(9'999));
  EXPECT_TRUE(manager_->Tick().empty());
  EXPECT_TRUE(host_->IsApplied("f1"));

  clock_.Advance(milliseconds(1));
  std::vector<v1::FaultStatus> reverted = manager_->Tick();
  ASSERT_EQ(reverted.size(), 1u);
  EXPECT_EQ(reverted[0].fault_id(), "f1");
  EXPECT_EQ(reverted[0].revert_reason(), "duration");
  EXPECT_FALSE(host_->IsApplied("f1"));
  EXPECT_TRUE(StateIds(dir_).empty());

  // The controller's Revert, arriving a moment later, still gets the final
  // status with the agent's reason.
  absl::StatusOr<v1::RevertResponse> late = manager_->Revert("f1");
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_FALSE(late->was_active());
  EXPECT_EQ(late->fault().fault_id(), "f1");
  EXPECT_EQ(late->fault().state(), v1::FAULT_STATE_REVERTED);
  EXPECT_EQ(late->fault().revert_reason(), "duration");
}

TEST_F(FaultManagerTest, TtlEqualToDurationIsTheHardBound) {
  v1::ApplyRequest request = Request("f1", "run1", 5'000);
  request.set_ttl_ms(5'000);
  MustApply(request);
  clock_.Advance(milliseconds(5'000));
  std::vector<v1::FaultStatus> reverted = manager_->Tick();
  ASSERT_EQ(reverted.size(), 1u);
  EXPECT_EQ(reverted[0].revert_reason(), "ttl");
}

TEST_F(FaultManagerTest, StateFileRecordsDeadlineAndRequest) {
  MustApply(Request("f1", "run1", 5'000));
  v1::AgentState state = ReadState(dir_);
  ASSERT_EQ(state.faults_size(), 1);
  EXPECT_EQ(state.faults(0).request().run_id(), "run1");
  EXPECT_EQ(state.faults(0).deadline_unix_ms(), ToUnixMillis(clock_.Now()) + 5'000);
  EXPECT_EQ(state.faults(0).applied_unix_ms(), ToUnixMillis(clock_.Now()));
  ASSERT_TRUE(manager_->Revert("f1").ok());
}

TEST_F(FaultManagerTest, LeaseExpiryRevertsOnlyThatRun) {
  MustApply(Request("a1", "run-a", 60'000, 5'000));
  MustApply(Request("a2", "run-a", 60'000, 5'000));
  MustApply(Request("b1", "run-b", 60'000, 30'000));

  clock_.Advance(milliseconds(4'999));
  EXPECT_TRUE(manager_->Tick().empty());
  clock_.Advance(milliseconds(1));
  std::vector<v1::FaultStatus> reverted = manager_->Tick();
  ASSERT_EQ(reverted.size(), 2u);
  for (const v1::FaultStatus& status : reverted) {
    EXPECT_EQ(status.run_id(), "run-a");
    EXPECT_EQ(status.revert_reason(), "lease");
  }
  EXPECT_FALSE(host_->IsApplied("a1"));
  EXPECT_FALSE(host_->IsApplied("a2"));
  EXPECT_TRUE(host_->IsApplied("b1"));
  EXPECT_EQ(manager_->List("run-b").faults_size(), 1);
  EXPECT_EQ(StateIds(dir_), std::vector<std::string>{"b1"});

  ASSERT_TRUE(manager_->Revert("b1").ok());
}

TEST_F(FaultManagerTest, RenewLeaseKeepsFaultsAlive) {
  MustApply(Request("f1", "run1", 60'000, 5'000));
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(milliseconds(4'000));
    absl::StatusOr<v1::RenewLeaseResponse> renewed = manager_->RenewLease("run1", seconds(5));
    ASSERT_TRUE(renewed.ok()) << renewed.status();
    EXPECT_EQ(renewed->active_faults(), 1u);
    EXPECT_EQ(renewed->expires_unix_ms(), ToUnixMillis(clock_.Now()) + 5'000);
    EXPECT_TRUE(manager_->Tick().empty());
  }
  EXPECT_TRUE(host_->IsApplied("f1"));
  // Stop renewing: the switch fires.
  clock_.Advance(milliseconds(5'000));
  ASSERT_EQ(manager_->Tick().size(), 1u);
  EXPECT_FALSE(host_->IsApplied("f1"));
}

TEST_F(FaultManagerTest, RenewLeaseZeroTtlUsesDefaultAndCreatesLease) {
  absl::StatusOr<v1::RenewLeaseResponse> renewed =
      manager_->RenewLease("fresh-run", milliseconds(0));
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(renewed->expires_unix_ms(), ToUnixMillis(clock_.Now()) + 15'000);
  EXPECT_EQ(renewed->active_faults(), 0u);
}

TEST_F(FaultManagerTest, RenewAfterExpiryIsFailedPrecondition) {
  MustApply(Request("f1", "run1", 60'000, 5'000));
  clock_.Advance(milliseconds(5'000));
  ASSERT_EQ(manager_->Tick().size(), 1u);

  absl::StatusOr<v1::RenewLeaseResponse> renewed = manager_->RenewLease("run1", seconds(5));
  EXPECT_EQ(renewed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(renewed.status().message(),
              HasSubstr("lease for run run1 expired; its faults were reverted"));
  absl::StatusOr<v1::ApplyResponse> applied = manager_->Apply(Request("f2", "run1"));
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(host_->IsApplied("f2"));
}

TEST_F(FaultManagerTest, ExpiredLeaseFiresEvenBeforeTheReaperRuns) {
  MustApply(Request("f1", "run1", 60'000, 5'000));
  clock_.Advance(milliseconds(6'000));
  // No Tick: the renewal itself finds the lease dead and reverts the run.
  absl::StatusOr<v1::RenewLeaseResponse> renewed = manager_->RenewLease("run1", seconds(5));
  EXPECT_EQ(renewed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(host_->IsApplied("f1"));
  EXPECT_TRUE(StateIds(dir_).empty());
}

TEST_F(FaultManagerTest, SameIdSameSpecIsIdempotent) {
  v1::ApplyResponse first = MustApply(Request("f1"));
  clock_.Advance(milliseconds(1'000));
  v1::ApplyRequest again = Request("f1");
  again.set_lease_ttl_ms(1);  // lease and dry-run flags are not part of identity
  v1::ApplyResponse second = MustApply(again);
  EXPECT_TRUE(second.already_active());
  EXPECT_EQ(second.fault().applied_unix_ms(), first.fault().applied_unix_ms());
  EXPECT_EQ(host_->Count("apply f1"), 1);
  EXPECT_EQ(host_->Count("prepare f1"), 1);
  EXPECT_EQ(manager_->active_count(), 1u);
  ASSERT_TRUE(manager_->Revert("f1").ok());
}

TEST_F(FaultManagerTest, SameIdDifferentSpecIsAlreadyExists) {
  MustApply(Request("f1"));
  v1::ApplyRequest other = Request("f1");
  other.mutable_spec()->mutable_cpu_pressure()->set_load_pct(90);
  absl::StatusOr<v1::ApplyResponse> response = manager_->Apply(other);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(response.status().message(), HasSubstr("fault f1 is already active"));
  EXPECT_THAT(response.status().message(), HasSubstr("different spec"));

  v1::ApplyRequest longer = Request("f1", "run1", 20'000);
  EXPECT_EQ(manager_->Apply(longer).status().code(), absl::StatusCode::kAlreadyExists);
  v1::ApplyRequest other_run = Request("f1", "run2");
  EXPECT_EQ(manager_->Apply(other_run).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(host_->Count("apply f1"), 1);
  ASSERT_TRUE(manager_->Revert("f1").ok());
}

TEST(FaultManagerCapTest, CapIsResourceExhausted) {
  FakeClock clock;
  std::filesystem::path dir = MakeTempDir();
  auto host = std::make_shared<FakeHost>();
  {
    ManagerOptions options;
    options.state_dir = dir;
    options.max_faults = 2;
    FaultManager manager(options, &clock, MakeFakeFactory(host));
    ASSERT_TRUE(manager.Recover().ok());
    ASSERT_TRUE(manager.Apply(Request("f1")).ok());
    ASSERT_TRUE(manager.Apply(Request("f2")).ok());
    absl::StatusOr<v1::ApplyResponse> third = manager.Apply(Request("f3"));
    EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(third.status().message(), "agent fault cap reached: 2 active (max_faults)");
    EXPECT_EQ(host->Count("prepare f3"), 0);
    // A replay of an active fault is not a new fault.
    absl::StatusOr<v1::ApplyResponse> replay = manager.Apply(Request("f2"));
    ASSERT_TRUE(replay.ok()) << replay.status();
    EXPECT_TRUE(replay->already_active());
    // Room again after a revert.
    ASSERT_TRUE(manager.Revert("f1").ok());
    ASSERT_TRUE(manager.Apply(Request("f3")).ok());
    EXPECT_EQ(manager.Halt("test").reverted_size(), 2);
    EXPECT_EQ(manager.active_count(), 0u);
  }
  EXPECT_TRUE(host->applied().empty());
  std::filesystem::remove_all(dir);
}

TEST_F(FaultManagerTest, FailedPrepareLeavesNothing) {
  host_->FailPrepare("f1", absl::NotFoundError("no process named worker"));
  absl::StatusOr<v1::ApplyResponse> response = manager_->Apply(Request("f1"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(response.status().message(),
            "prepare cpu.pressure id=f1: no process named worker");
  EXPECT_EQ(host_->Count("apply f1"), 0);
  EXPECT_TRUE(StateIds(dir_).empty());
  EXPECT_EQ(manager_->active_count(), 0u);
}

TEST_F(FaultManagerTest, FailedApplyLeavesNothingAndCreatesNoLease) {
  host_->FailApply("f1", absl::PermissionDeniedError("write cgroup: permission denied"));
  absl::StatusOr<v1::ApplyResponse> response =
      manager_->Apply(Request("f1", "run1", 60'000, 1'000));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(response.status().message(),
            "apply cpu.pressure id=f1: write cgroup: permission denied");
  EXPECT_EQ(host_->Count("revert f1"), 1);  // belt and braces
  EXPECT_TRUE(StateIds(dir_).empty());
  EXPECT_EQ(manager_->active_count(), 0u);
  // No lease was created for the failed call, so nothing expires later.
  clock_.Advance(milliseconds(2'000));
  manager_->Tick();
  host_->FailApply("f1", absl::OkStatus());
  ASSERT_TRUE(manager_->Apply(Request("f1", "run1")).ok());
  ASSERT_TRUE(manager_->Revert("f1").ok());
}

TEST_F(FaultManagerTest, FailedApplyWhoseCleanupFailsIsRetried) {
  host_->FailApply("f1", absl::InternalError("boom"));
  host_->FailRevert("f1", absl::UnavailableError("busy"));
  absl::StatusOr<v1::ApplyResponse> response = manager_->Apply(Request("f1"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(response.status().message(), HasSubstr("cleanup revert failed"));
  ASSERT_EQ(manager_->List("").faults_size(), 1);
  EXPECT_EQ(manager_->List("").faults(0).state(), v1::FAULT_STATE_FAILED);
  EXPECT_EQ(StateIds(dir_), std::vector<std::string>{"f1"});

  host_->FailRevert("f1", absl::OkStatus());
  std::vector<v1::FaultStatus> reverted = manager_->Tick();
  ASSERT_EQ(reverted.size(), 1u);
  EXPECT_EQ(reverted[0].revert_reason(), "apply failed");
  EXPECT_TRUE(StateIds(dir_).empty());
}

TEST_F(FaultManagerTest, StateFileIsWrittenBeforeApply) {
  bool checked = false;
  host_->OnApply([&](const std::string& id) {
    v1::AgentState state = ReadState(dir_);
    ASSERT_EQ(state.faults_size(), 1);
    EXPECT_EQ(state.faults(0).request().fault_id(), id);
    // The pre-Apply revert state, from Prepare.
    EXPECT_EQ(state.faults(0).revert().cgroup(), "faultline/" + id);
    EXPECT_EQ(state.faults(0).revert().processes_size(), 0);
    checked = true;
  });
  MustApply(Request("f1"));
  EXPECT_TRUE(checked);
  // Rewritten after Apply with what Apply touched.
  v1::AgentState state = ReadState(dir_);
  ASSERT_EQ(state.faults_size(), 1);
  ASSERT_EQ(state.faults(0).revert().processes_size(), 1);
  EXPECT_EQ(state.faults(0).revert().processes(0).pid(), 4242);
  host_->OnApply(nullptr);
  ASSERT_TRUE(manager_->Revert("f1").ok());
}

TEST_F(FaultManagerTest, RecoverRevertsWhatACrashedManagerLeft) {
  manager_.reset();  // releases the state dir lock
  // A child process applies two faults and dies without any cleanup, like
  // kill -9: no destructors, no Halt.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto host = std::make_shared<FakeHost>();
    auto* leaked = NewManager(dir_, host).release();
    bool ok = leaked->Apply(Request("f1")).ok() && leaked->Apply(Request("f2", "run2")).ok();
    ::_exit(ok ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  EXPECT_EQ(StateIds(dir_), (std::vector<std::string>{"f1", "f2"}));

  auto host2 = std::make_shared<FakeHost>();
  std::unique_ptr<FaultManager> manager2 = NewManager(dir_, host2);
  absl::StatusOr<std::vector<v1::FaultStatus>> recovered = manager2->Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_EQ(recovered->size(), 2u);
  for (const v1::FaultStatus& status : *recovered) {
    EXPECT_EQ(status.state(), v1::FAULT_STATE_REVERTED);
    EXPECT_EQ(status.revert_reason(), "recovery");
  }
  v1::RevertState restored;
  ASSERT_TRUE(host2->restored("f1", &restored));
  ASSERT_EQ(restored.processes_size(), 1);
  EXPECT_EQ(restored.processes(0).pid(), 4242);
  EXPECT_EQ(restored.cgroup(), "faultline/f1");
  EXPECT_EQ(host2->calls(), (std::vector<std::string>{"make f1", "restore f1", "revert f1",
                                                      "make f2", "restore f2", "revert f2"}));
  EXPECT_EQ(host2->Count("apply f1"), 0);
  EXPECT_TRUE(StateIds(dir_).empty());
  EXPECT_EQ(manager2->active_count(), 0u);
}

TEST_F(FaultManagerTest, RecoverKeepsAFailedRevertAndRetriesIt) {
  MustApply(Request("f1"));
  // Copy the state as it was while f1 was applied, then clean up normally.
  std::filesystem::path dir2 = MakeTempDir();
  std::filesystem::copy_file(dir_ / "state.json", dir2 / "state.json");
  ASSERT_TRUE(manager_->Revert("f1").ok());

  auto host2 = std::make_shared<FakeHost>();
  host2->FailRevert("f1", absl::UnavailableError("cgroup busy"));
  std::unique_ptr<FaultManager> manager2 = NewManager(dir2, host2);
  absl::StatusOr<std::vector<v1::FaultStatus>> recovered = manager2->Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ((*recovered)[0].state(), v1::FAULT_STATE_FAILED);
  EXPECT_EQ(manager2->active_count(), 1u);
  EXPECT_EQ(manager2->List("").faults(0).state(), v1::FAULT_STATE_FAILED);
  EXPECT_EQ(StateIds(dir2), std::vector<std::string>{"f1"});
  EXPECT_TRUE(manager2->Tick().empty());  // still failing

  host2->FailRevert("f1", absl::OkStatus());
  std::vector<v1::FaultStatus> reverted = manager2->Tick();
  ASSERT_EQ(reverted.size(), 1u);
  EXPECT_EQ(reverted[0].revert_reason(), "recovery");
  EXPECT_TRUE(StateIds(dir2).empty());
  EXPECT_EQ(manager2->active_count(), 0u);
  manager2.reset();
  std::filesystem::remove_all(dir2);
}

TEST_F(FaultManagerTest, RecoverKeepsRecordsItCannotRebuild) {
  MustApply(Request("f1"));
  std::filesystem::path dir2 = MakeTempDir();
  std::filesystem::copy_file(dir_ / "state.json", dir2 / "state.json");
  ASSERT_TRUE(manager_->Revert("f1").ok());

  auto host2 = std::make_shared<FakeHost>();
  host2->FailFactory("f1", absl::UnimplementedError("cpu.pressure: not in this build"));
  {
    std::unique_ptr<FaultManager> manager2 = NewManager(dir2, host2);
    absl::StatusOr<std::vector<v1::FaultStatus>> recovered = manager2->Recover();
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    ASSERT_EQ(recovered->size(), 1u);
    EXPECT_EQ((*recovered)[0].state(), v1::FAULT_STATE_FAILED);
    EXPECT_EQ(manager2->active_count(), 0u);
    // Later writes keep the record for an agent that can revert it.
    ASSERT_TRUE(manager2->Apply(Request("f2")).ok());
    ASSERT_TRUE(manager2->Revert("f2").ok());
    EXPECT_EQ(StateIds(dir2), std::vector<std::string>{"f1"});
  }
  auto host3 = std::make_shared<FakeHost>();
  std::unique_ptr<FaultManager> manager3 = NewManager(dir2, host3);
  absl::StatusOr<std::vector<v1::FaultStatus>> recovered = manager3->Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ((*recovered)[0].state(), v1::FAULT_STATE_REVERTED);
  EXPECT_TRUE(StateIds(dir2).empty());
  manager3.reset();
  std::filesystem::remove_all(dir2);
}

TEST_F(FaultManagerTest, CorruptStateIsDataLossAndMovedAside) {
  manager_.reset();
  {
    std::ofstream out(dir_ / "state.json");
    out << "{\"faults\": [ {not json";
  }
  manager_ = NewManager(dir_, host_);
  absl::StatusOr<std::vector<v1::FaultStatus>> recovered = manager_->Recover();
  EXPECT_EQ(recovered.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(recovered.status().message(), HasSubstr("state.json.corrupt-1700000000"));
  std::filesystem::path aside = dir_ / "state.json.corrupt-1700000000";
  ASSERT_TRUE(std::filesystem::exists(aside));
  std::ifstream in(aside);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "{\"faults\": [ {not json");
  // A fresh, valid state file replaces it and the manager keeps working.
  EXPECT_TRUE(StateIds(dir_).empty());
  MustApply(Request("f1"));
  EXPECT_EQ(StateIds(dir_), std::vector<std::string>{"f1"});
  ASSERT_TRUE(manager_->Revert("f1").ok());
}

TEST_F(FaultManagerTest, RecoverCreatesTheStateDirPrivate) {
  std::filesystem::path nested = dir_ / "a" / "b";
  auto host2 = std::make_shared<FakeHost>();
  std::unique_ptr<FaultManager> manager2 = NewManager(nested, host2);
  ASSERT_TRUE(manager2->Recover().ok());
  auto perms = std::filesystem::status(nested).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all, std::filesystem::perms::owner_all);
  EXPECT_TRUE(std::filesystem::exists(nested / "state.json"));
}

TEST_F(FaultManagerTest, SecondManagerOnTheSameStateDirIsRefused) {
  MustApply(Request("f1"));
  auto host2 = std::make_shared<FakeHost>();
  std::unique_ptr<FaultManager> manager2 = NewManager(dir_, host2);
  absl::StatusOr<std::vector<v1::FaultStatus>> recovered = manager2->Recover();
  EXPECT_EQ(recovered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(recovered.status().message(), HasSubstr("in use by another agent"));
  // It did not revert the first manager's fault.
  EXPECT_EQ(host2->Count("revert f1"), 0);
  EXPECT_TRUE(host_->IsApplied("f1"));
  manager2.reset();
  ASSERT_TRUE(manager_->Revert("f1").ok());
}

TEST_F(FaultManagerTest, RecoverFailsWhenStateDirCannotBeCreated) {
  std::filesystem::path blocker = dir_ / "file";
  std::ofstream(blocker) << "x";
  std::unique_ptr<FaultManager> manager2 = NewManager(blocker / "sub", host_);
  absl::StatusOr<std::vector<v1::FaultStatus>> recovered = manager2->Recover();
  EXPECT_FALSE(recovered.ok());
  EXPECT_NE(recovered.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(recovered.status().message(), HasSubstr("create state dir"));
}

TEST_F(FaultManagerTest, DryRunChangesNothing) {
  v1::ApplyRequest request = Request("f1", "run1", 10'000, 1'000);
  request.set_dry_run(true);
  absl::StatusOr<v1::ApplyResponse> response = manager_->Apply(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->fault().state(), v1::FAULT_STATE_DRY_RUN);
  EXPECT_EQ(response->fault().target(), "fake f1");
  EXPECT_EQ(host_->calls(), (std::vector<std::string>{"make f1", "prepare f1"}));
  EXPECT_EQ(manager_->active_count(), 0u);
  EXPECT_TRUE(StateIds(dir_).empty());
  // No lease was created either: it would have expired by now.
  clock_.Advance(milliseconds(5'000));
  manager_->Tick();
  ASSERT_TRUE(manager_->RenewLease("run1", seconds(5)).ok());
}

TEST_F(FaultManagerTest, DryRunReportsPrepareErrors) {
  host_->FailPrepare("f1", absl::NotFoundError("no process named worker"));
  v1::ApplyRequest request = Request("f1");
  request.set_dry_run(true);
  EXPECT_EQ(manager_->Apply(request).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FaultManagerTest, HaltRevertsAllAndCollectsErrors) {
  MustApply(Request("f1", "run1"));
  MustApply(Request("f2", "run2"));
  MustApply(Request("f3", "run2"));
  host_->FailRevert("f2", absl::InternalError("stuck"));
  v1::HaltResponse halted = manager_->Halt("halt");
  EXPECT_EQ(halted.reverted_size(), 2);
  ASSERT_EQ(halted.errors_size(), 1);
  EXPECT_EQ(halted.errors(0), "revert cpu.pressure id=f2: stuck");
  for (const v1::FaultStatus& status : halted.reverted()) {
    EXPECT_EQ(status.revert_reason(), "halt");
  }
  EXPECT_EQ(manager_->active_count(), 1u);
  EXPECT_EQ(StateIds(dir_), std::vector<std::string>{"f2"});

  host_->FailRevert("f2", absl::OkStatus());
  halted = manager_->Halt("halt");
  EXPECT_EQ(halted.reverted_size(), 1);
  EXPECT_EQ(halted.errors_size(), 0);
  EXPECT_TRUE(StateIds(dir_).empty());
}

TEST_F(FaultManagerTest, DestructorRevertsAll) {
  MustApply(Request("f1", "run1"));
  MustApply(Request("f2", "run2"));
  manager_.reset();
  EXPECT_TRUE(host_->applied().empty());
  EXPECT_TRUE(StateIds(dir_).empty());
}

TEST_F(FaultManagerTest, DestructorRetriesAFaultWhoseRevertFailedEarlier) {
  MustApply(Request("f1"));
  host_->FailRevert("f1", absl::InternalError("stuck"));
  // Halt fails, the record stays in the state file for the next start.
  auto* manager = manager_.get();
  EXPECT_EQ(manager->Halt("halt").errors_size(), 1);
  host_->FailRevert("f1", absl::OkStatus());
  manager_.reset();
  EXPECT_FALSE(host_->IsApplied("f1"));
}

TEST_F(FaultManagerTest, RevertOfUnknownIdSucceeds) {
  absl::StatusOr<v1::RevertResponse> response = manager_->Revert("never-applied");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_FALSE(response->was_active());
  MustApply(Request("f1"));
  ASSERT_TRUE(manager_->Revert("f1").ok());
  response = manager_->Revert("f1");  // twice
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_FALSE(response->was_active());
  EXPECT_EQ(manager_->Revert("bad id").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FaultManagerTest, RevertErrorKeepsTheFaultAndTickRetries) {
  MustApply(Request("f1"));
  host_->FailRevert("f1", absl::UnavailableError("cgroup busy"));
  absl::StatusOr<v1::RevertResponse> response = manager_->Revert("f1");
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(response.status().message(), "revert cpu.pressure id=f1: cgroup busy");
  EXPECT_EQ(manager_->active_count(), 1u);
  EXPECT_TRUE(manager_->Tick().empty());
  EXPECT_TRUE(manager_->Tick().empty());
  host_->FailRevert("f1", absl::OkStatus());
  std::vector<v1::FaultStatus> reverted = manager_->Tick();
  ASSERT_EQ(reverted.size(), 1u);
  EXPECT_EQ(reverted[0].revert_reason(), "request");
}

TEST_F(FaultManagerTest, ValidationErrorsAreInvalidArgumentBeforeAnySideEffect) {
  struct Case {
    std::string name;
    std::function<void(v1::ApplyRequest*)> mutate;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"empty id", [](v1::ApplyRequest* r) { r->set_fault_id(""); },
       "fault_id must match [A-Za-z0-9._-]{1,128}, got \"\""},
      {"id with space", [](v1::ApplyRequest* r) { r->set_fault_id("a b"); },
       "fault_id must match [A-Za-z0-9._-]{1,128}, got \"a b\""},
      {"long id", [](v1::ApplyRequest* r) { r->set_fault_id(std::string(129, 'x')); },
       "fault_id must match"},
      {"empty run", [](v1::ApplyRequest* r) { r->set_run_id(""); },
       "fault f1: run_id must match"},
      {"slash in run", [](v1::ApplyRequest* r) { r->set_run_id("a/b"); },
       "fault f1: run_id must match"},
      {"zero duration", [](v1::ApplyRequest* r) { r->set_duration_ms(0); },
       "fault f1: duration_ms must be > 0"},
      {"long duration", [](v1::ApplyRequest* r) { r->set_duration_ms(86'400'001); },
       "fault f1: duration_ms must be at most 86400000 (max_duration), got 86400001"},
      {"ttl below duration", [](v1::ApplyRequest* r) { r->set_ttl_ms(9'999); },
       "fault f1: ttl_ms must be >= duration_ms (10000), got 9999"},
      {"no kind", [](v1::ApplyRequest* r) { r->clear_spec(); },
       "fault f1: spec names no fault kind"},
  };
  for (const Case& c : cases) {
    v1::ApplyRequest request = Request("f1");
    c.mutate(&request);
    absl::StatusOr<v1::ApplyResponse> response = manager_->Apply(request);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(response.status().message(), HasSubstr(c.message)) << c.name;
  }
  EXPECT_TRUE(host_->calls().empty());
  EXPECT_EQ(manager_->active_count(), 0u);

  // A spec the factory rejects: its InvalidArgument, named by fault.
  host_->FailFactory("f1", absl::InvalidArgumentError("cpu.pressure: load_pct must be 1..100"));
  absl::StatusOr<v1::ApplyResponse> response = manager_->Apply(Request("f1"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(), "fault f1: cpu.pressure: load_pct must be 1..100");
  EXPECT_EQ(host_->Count("prepare f1"), 0);

  EXPECT_EQ(manager_->RenewLease("", seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->RenewLease("r", std::chrono::hours(25)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(FaultManagerTest, ExpiredRunsAreRememberedBoundedly) {
  // 1030 runs expire; the oldest are forgotten, the newest still refused.
  for (int i = 0; i < 1030; ++i) {
    ASSERT_TRUE(manager_->RenewLease("r" + std::to_string(i), milliseconds(1)).ok());
  }
  clock_.Advance(milliseconds(1));
  manager_->Tick();
  EXPECT_TRUE(manager_->RenewLease("r0", seconds(1)).ok());
  EXPECT_EQ(manager_->RenewLease("r1029", seconds(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(FaultManagerTest, ReaperThreadRevertsExpiredFaults) {
  MustApply(Request("f1", "run1", 1'000));
  manager_->StartReaper(milliseconds(1));
  manager_->StartReaper(milliseconds(1));  // idempotent
  clock_.Advance(milliseconds(1'000));
  // The reaper runs on real time; wait for it with a generous bound.
  for (int i = 0; i < 5'000 && manager_->active_count() > 0; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(manager_->active_count(), 0u);
  manager_->StopReaper();
  manager_->StopReaper();
}

TEST_F(FaultManagerTest, ConcurrentCallsAreSerialised) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 20; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(manager_->Apply(Request(id, "run" + std::to_string(t))).ok());
        manager_->List("");
        manager_->Tick();
        EXPECT_TRUE(manager_->Revert(id).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(manager_->active_count(), 0u);
}

}  // namespace
}  // namespace faultline::agent
