#include "agent/manager/state_file.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace faultline::agent {
namespace {

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ =
        (std::filesystem::temp_directory_path() / "faultline-state-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(StateFileTest, MissingFileIsEmptyState) {
  StateFile file(dir_);
  absl::StatusOr<v1::AgentState> state = file.Read();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->faults_size(), 0);
}

TEST_F(StateFileTest, WriteThenReadRoundTripsAndLeavesNoTempFile) {
  StateFile file(dir_);
  v1::AgentState state;
  v1::FaultRecord* record = state.add_faults();
  record->mutable_request()->set_fault_id("f1");
  record->mutable_request()->mutable_spec()->mutable_cpu_pressure()->set_load_pct(50);
  record->mutable_revert()->set_cgroup("faultline/f1");
  record->mutable_revert()->add_processes()->set_pid(12);
  record->set_deadline_unix_ms(1'700'000'010'000);
  ASSERT_TRUE(file.Write(state).ok());

  absl::StatusOr<v1::AgentState> read = file.Read();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), state.SerializeAsString());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "state.json.tmp"));
  auto perms = std::filesystem::status(file.path()).permissions() & std::filesystem::perms::all;
  EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  ASSERT_TRUE(file.Write(v1::AgentState()).ok());
  read = file.Read();
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->faults_size(), 0);
}

TEST_F(StateFileTest, CorruptOrEmptyFileIsDataLoss) {
  StateFile file(dir_);
  std::ofstream(file.path()) << "[1, 2";
  EXPECT_EQ(file.Read().status().code(), absl::StatusCode::kDataLoss);
  std::ofstream(file.path(), std::ios::trunc).flush();
  EXPECT_EQ(file.Read().status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(StateFileTest, MoveAsideRenames) {
  StateFile file(dir_);
  std::ofstream(file.path()) << "garbage";
  absl::StatusOr<std::filesystem::path> aside = file.MoveAside(42);
  ASSERT_TRUE(aside.ok()) << aside.status();
  EXPECT_EQ(*aside, dir_ / "state.json.corrupt-42");
  EXPECT_TRUE(std::filesystem::exists(*aside));
  EXPECT_FALSE(std::filesystem::exists(file.path()));
  EXPECT_EQ(file.MoveAside(43).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StateFileTest, WriteIntoMissingDirIsNotFound) {
  StateFile file(dir_ / "missing");
  EXPECT_EQ(file.Write(v1::AgentState()).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(file.EnsureDir().ok());
  EXPECT_TRUE(file.Write(v1::AgentState()).ok());
}

}  // namespace
}  // namespace faultline::agent
