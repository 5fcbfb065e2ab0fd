#include "controller/serve/serve_state.h"

#include <cstdlib>
#include <filesystem>

#include "controller/store/sqlite_store.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

class ServeStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fl-serve-state-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/journal.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::string path_;
};

TEST_F(ServeStateTest, SchedulesAndHaltSurviveReopening) {
  // Shares the file with the journal, which keeps working.
  auto journal = OpenSqliteStore(path_);
  ASSERT_TRUE(journal.ok()) << journal.status();
  {
    auto state = ServeState::Open(path_);
    ASSERT_TRUE(state.ok()) << state.status();
    auto loaded = (*state)->LoadSchedules();
    ASSERT_TRUE(loaded.ok());
    EXPECT_TRUE(loaded->empty());
    auto halt = (*state)->LoadHalt();
    ASSERT_TRUE(halt.ok());
    EXPECT_FALSE(halt->halted);

    ASSERT_TRUE((*state)->SaveSchedule({"nightly", 1000, 900, "run-1", "started"}).ok());
    ASSERT_TRUE((*state)->SaveSchedule({"nightly", 2000, 1900, "run-2", "skipped: x"}).ok());
    ASSERT_TRUE((*state)->SaveSchedule({"other", 5, 0, "", ""}).ok());
    ASSERT_TRUE((*state)->SaveHalt({true, "alice", "db on fire", 1234}).ok());
  }
  auto state = ServeState::Open(path_);
  ASSERT_TRUE(state.ok());
  auto loaded = (*state)->LoadSchedules();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 2u);
  const ScheduleState& nightly = loaded->at("nightly");
  EXPECT_EQ(nightly.covered_unix_ms, 2000);
  EXPECT_EQ(nightly.last_fire_unix_ms, 1900);
  EXPECT_EQ(nightly.last_run_id, "run-2");
  EXPECT_EQ(nightly.last_outcome, "skipped: x");
  auto halt = (*state)->LoadHalt();
  ASSERT_TRUE(halt.ok());
  EXPECT_TRUE(halt->halted);
  EXPECT_EQ(halt->by, "alice");
  EXPECT_EQ(halt->reason, "db on fire");
  EXPECT_EQ(halt->unix_ms, 1234);

  ASSERT_TRUE((*state)->SaveHalt({}).ok());
  ASSERT_TRUE((*state)->SaveHalt({}).ok());  // idempotent
  halt = (*state)->LoadHalt();
  ASSERT_TRUE(halt.ok());
  EXPECT_FALSE(halt->halted);

  // The journal still opens (its schema version is untouched) and works.
  auto reopened = OpenSqliteStore(path_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  RunRecord run;
  run.experiment = "x";
  run.status = RunStatus::kSkipped;
  auto created = (*reopened)->CreateRun(run);
  ASSERT_TRUE(created.ok()) << created.status();
  auto got = (*reopened)->GetRun(created->run_id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, RunStatus::kSkipped);
  EXPECT_EQ(RunStatusName(RunStatus::kSkipped), "skipped");
  EXPECT_EQ(*ParseRunStatus("skipped"), RunStatus::kSkipped);
  EXPECT_TRUE(IsFinal(RunStatus::kSkipped));
}

TEST_F(ServeStateTest, UnwritableDirectoryIsAnError) {
  auto state = ServeState::Open(dir_ + "/missing/dir/journal.db");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace faultline::controller
