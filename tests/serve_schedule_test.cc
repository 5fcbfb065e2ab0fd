// `faultline serve` as CI and game days use it, through the real CLI: submit
// --wait returns the run's exit code; a schedule fired (through the same path
// as its cron) while a run of the same experiment is active with
// `concurrency: forbid` is skipped and journaled as a skipped run; notes,
// status and abort reach the run through serve; a bad config is refused with
// file:line:col.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/serve_harness.h"

namespace faultline::testing {
namespace {

using ::testing::HasSubstr;
using std::chrono::seconds;

std::string Experiment(const std::string& name, const std::string& body) {
  // The target is never used by a fault, so no agent is needed.
  return "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: " + name +
         "}\ntargets:\n  unused: {agents: [\"127.0.0.1:9\"]}\n" + body;
}

// The run id in "run <id> submitted to ..." (first line of submit --wait).
std::string SubmittedRunId(const std::string& log) {
  auto pos = log.find("run ");
  if (pos == std::string::npos) return "";
  auto end = log.find(" submitted", pos);
  if (end == std::string::npos) return "";
  return log.substr(pos + 4, end - pos - 4);
}

class ServeScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    slow_ = WriteFile(dir_, "slow.yaml", Experiment("slow", "method:\n  - wait: 60s\n"));
    pass_ = WriteFile(dir_, "pass.yaml", Experiment("pass", "method:\n  - wait: 100ms\n"));
    deviate_ = WriteFile(
        dir_, "deviate.yaml",
        Experiment("deviate",
                   "steady_state:\n  - {name: down, http: {url: \"http://127.0.0.1:9/health\", "
                   "status: 200}, timeout: 500ms}\nmethod:\n  - wait: 100ms\n"));
    config_ = WriteFile(dir_, "serve.yaml", R"(listen: 127.0.0.1:0
journal: journal.db
embedded_dir: embedded
schedules:
  - experiment: slow.yaml
    schedule: {cron: "0 0 1 1 *", timezone: Europe/Berlin}
    concurrency: forbid
)");
    serve_ = StartServe(dir_, config_, dir_.File("serve.log"));
    ASSERT_FALSE(serve_.address.empty()) << ReadFile(dir_.File("serve.log"));
  }
  void TearDown() override { StopServe(serve_); }

  int Cli(std::vector<std::string> args, std::string* out) {
    args.push_back("--server");
    args.push_back(serve_.address);
    return Faultline(args, out);
  }

  TempDir dir_;
  std::string slow_, pass_, deviate_, config_;
  ServeProcess serve_;
};

TEST_F(ServeScheduleTest, ForbidSkipsAFireWhileTheSameExperimentRuns) {
  // CI-style: submit --wait in the background; it streams progress.
  Child waiting({BinDir() + "/faultline", "submit", slow_, "--wait", "--server", serve_.address},
                dir_.File("wait.log"));
  std::string run_id;
  ASSERT_TRUE(Eventually(
      [&] {
        run_id = SubmittedRunId(ReadFile(dir_.File("wait.log")));
        return !run_id.empty();
      },
      seconds(20)))
      << ReadFile(dir_.File("wait.log"));

  std::string out;
  EXPECT_EQ(Cli({"fire", "slow"}, &out), 3) << out;
  EXPECT_THAT(out, HasSubstr("skipped: concurrency forbid: run " + run_id +
                             " of experiment slow is still active (journaled as run "));
  std::string skipped_id = out.substr(out.rfind("journaled as run ") + 17);
  skipped_id = skipped_id.substr(0, skipped_id.find(')'));

  const std::string journal = dir_.File("journal.db");
  ASSERT_EQ(Faultline({"runs", "--journal", journal}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr(skipped_id));
  EXPECT_THAT(out, HasSubstr("skipped"));
  ASSERT_EQ(Faultline({"show", skipped_id, "--journal", journal}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("schedule.skipped"));
  EXPECT_THAT(out, HasSubstr("concurrency forbid"));
  ASSERT_EQ(Cli({"status", skipped_id}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("status:     skipped"));
  ASSERT_EQ(Cli({"schedules"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("slow"));
  EXPECT_THAT(out, HasSubstr("skipped: concurrency forbid"));

  // People steer the run through serve.
  ASSERT_EQ(Cli({"note", run_id, "fire was refused, as expected", "--author", "ci"}, &out), 0)
      << out;
  ASSERT_EQ(Cli({"status", run_id}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("status:     running"));
  EXPECT_THAT(out, HasSubstr("[running in faultline serve]"));
  ASSERT_EQ(Cli({"abort", run_id, "--reason", "test over"}, &out), 0) << out;
  int status = waiting.Wait(seconds(20));
  ASSERT_GE(status, 0) << "submit --wait did not return after the abort";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << ReadFile(dir_.File("wait.log"));
  std::string log = ReadFile(dir_.File("wait.log"));
  EXPECT_THAT(log, HasSubstr("verdict: aborted"));
  EXPECT_THAT(log, HasSubstr("test over"));

  // Local journal view agrees.
  ASSERT_EQ(Faultline({"status", run_id, "--journal", journal}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("status:     aborted (exit 3)"));
  ASSERT_EQ(Faultline({"show", run_id, "--journal", journal}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("fire was refused, as expected"));

  // With the run gone, the schedule fires.
  ASSERT_EQ(Cli({"fire", "slow"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("started run "));
}

TEST_F(ServeScheduleTest, SubmitWaitReturnsTheRunsExitCode) {
  std::string out;
  EXPECT_EQ(Cli({"submit", pass_, "--wait"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("run.started"));
  EXPECT_THAT(out, HasSubstr("verdict: passed"));
  EXPECT_EQ(Cli({"submit", deviate_, "--wait"}, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("verdict: deviated"));

  // Without --wait: just the id, at once.
  ASSERT_EQ(Cli({"submit", pass_}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("-pass-"));

  // Invalid experiments never reach serve; an unreachable serve is exit 3.
  std::string bad = WriteFile(dir_, "bad.yaml", "apiVersion: faultline/v1\nkind: Experiment\n");
  EXPECT_EQ(Cli({"submit", bad}, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("bad.yaml:1:1: missing required field"));
  EXPECT_EQ(Faultline({"submit", pass_, "--server", "127.0.0.1:9"}, &out), 3) << out;
  EXPECT_THAT(out, HasSubstr("cannot reach faultline serve at 127.0.0.1:9"));
}

// Without a server, note/status/continue/abort work on the local journal,
// which a `faultline run` polls.
TEST(LocalJournalControlTest, ContinueAndNoteReachAFaultlineRun) {
  unsetenv("FAULTLINE_SERVER");
  TempDir dir;
  const std::string journal = dir.File("journal.db");
  std::string gate = WriteFile(
      dir, "gate.yaml",
      Experiment("gate", "method:\n  - pause: {message: \"look at the dashboards\", timeout: "
                         "1m}\n  - wait: 100ms\n"));
  Child run({BinDir() + "/faultline", "run", gate, "--journal", journal, "--json"},
            dir.File("run.log"));
  std::string run_id;
  ASSERT_TRUE(Eventually(
      [&] {
        std::string log = ReadFile(dir.File("run.log"));
        auto pos = log.find("\"gate.waiting\"");
        if (pos == std::string::npos) return false;
        auto id = log.rfind("\"run_id\":\"", pos);
        if (id == std::string::npos) return false;
        id += 10;
        run_id = log.substr(id, log.find('"', id) - id);
        return true;
      },
      seconds(20)))
      << ReadFile(dir.File("run.log"));

  std::string out;
  ASSERT_EQ(Faultline({"status", run_id, "--journal", journal}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("waiting:    at pause gate 1: look at the dashboards"));
  EXPECT_THAT(out, HasSubstr("faultline continue " + run_id));
  ASSERT_EQ(Faultline({"note", run_id, "all green", "--journal", journal}, &out), 0) << out;
  ASSERT_EQ(Faultline({"continue", run_id, "--journal", journal, "--by", "sre"}, &out), 0) << out;
  int status = run.Wait(seconds(20));
  ASSERT_GE(status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir.File("run.log"));
  ASSERT_EQ(Faultline({"show", run_id, "--journal", journal}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("all green"));
  EXPECT_THAT(out, HasSubstr("gate.continued"));
  // A finished run takes no more control events.
  EXPECT_EQ(Faultline({"abort", run_id, "--journal", journal}, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("already ended (passed)"));
}

TEST(ServeConfigCliTest, BadConfigIsRefusedWithLineAndColumn) {
  TempDir dir;
  std::string config = WriteFile(dir, "serve.yaml",
                                 "listen: 127.0.0.1:0\nschedules:\n  - experiment: x.yaml\n"
                                 "    schedule: {cron: \"0 25 * * *\"}\n");
  std::string out;
  EXPECT_EQ(Faultline({"serve", "--config", config}, &out, seconds(30)), 2) << out;
  EXPECT_THAT(out, HasSubstr("serve.yaml:4:22: cron \"0 25 * * *\": hour \"25\": 25 is out of "
                             "range 0-23"));
  // A schedule whose experiment does not exist is refused at start.
  config = WriteFile(dir, "serve2.yaml",
                     "listen: 127.0.0.1:0\njournal: j.db\nschedules:\n  - experiment: missing.yaml\n"
                     "    schedule: {cron: \"@daily\"}\n");
  EXPECT_EQ(Faultline({"serve", "--config", config, "--check"}, &out, seconds(30)), 2) << out;
  EXPECT_THAT(out, HasSubstr("missing.yaml"));
}

}  // namespace
}  // namespace faultline::testing
