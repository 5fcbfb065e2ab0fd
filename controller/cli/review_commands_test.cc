// `faultline runs / report / compare` as a user calls them: flags parsed,
// a real SQLite journal read, output and exit codes checked.
#include "controller/cli/review_commands.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "controller/run/runner.h"
#include "controller/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1'795'789'381'000;  // 2026-11-27 14:23:01 UTC
constexpr int64_t kDay = 86'400'000;

TEST(ParseSinceTest, SpansAndUtcDates) {
  EXPECT_EQ(*ParseSince("90s", kNow), kNow - 90'000);
  EXPECT_EQ(*ParseSince("30m", kNow), kNow - 1'800'000);
  EXPECT_EQ(*ParseSince("24h", kNow), kNow - kDay);
  EXPECT_EQ(*ParseSince("7d", kNow), kNow - 7 * kDay);
  EXPECT_EQ(*ParseSince("2w", kNow), kNow - 14 * kDay);
  EXPECT_EQ(*ParseSince("2026-11-20", kNow), 1'795'132'800'000);
  EXPECT_EQ(*ParseSince("2026-11-20T14:00", kNow), 1'795'132'800'000 + 14 * 3'600'000);
  EXPECT_EQ(*ParseSince("2026-11-20 14:00", kNow), 1'795'132'800'000 + 14 * 3'600'000);
  EXPECT_EQ(*ParseSince("2026-11-20T14:00:05Z", kNow), 1'795'132'800'000 + 14 * 3'600'000 + 5000);
  for (const char* bad : {"", "7", "d", "0h", "-5m", "7y", "1.5h", "2026-13-01", "2026-02-30",
                          "2026-11-20T25:00", "2026-11-20T14", "20261120", "2026-1-20",
                          "2026-11-20X14:00", " 2026-11-20", "yesterday", "9999999999d"}) {
    absl::StatusOr<int64_t> parsed = ParseSince(bad, kNow);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("--since")) << bad;
  }
  EXPECT_THAT(ParseSince("7y", kNow).status().message(), HasSubstr("24h, 7d"));
}

TEST(ParseTagsTest, KeyValueAndPresence) {
  auto tags = ParseTags({"team=payments", "tier", "env=a=b"});
  ASSERT_TRUE(tags.ok()) << tags.status();
  EXPECT_EQ(tags->at("team"), "payments");
  EXPECT_EQ(tags->at("tier"), "");
  EXPECT_EQ(tags->at("env"), "a=b");
  EXPECT_TRUE(ParseTags({"team=x", "team=x"}).ok());
  EXPECT_EQ(ParseTags({"=x"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTags({"team="}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ParseTags({"team=a", "team=b"}).status().message(), HasSubstr("given twice"));
}

class ReviewCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fl-cli-review-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    journal_ = dir_ + "/journal.db";
    auto store = OpenSqliteStore(journal_);
    ASSERT_TRUE(store.ok()) << store.status();
    // Two runs of "checkout" (one passed a week ago, one deviated now, both
    // team=payments) and one of "search" (passed, team=search, tier=1).
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    Add(**store, "old-checkout", "checkout", now - 7 * kDay - 3'600'000, RunStatus::kPassed,
        {{"team", "payments"}});
    Add(**store, "new-checkout", "checkout", now - 60'000, RunStatus::kDeviated, {{"team", "payments"}});
    Add(**store, "new-search", "search", now - 30'000, RunStatus::kPassed, {{"team", "search"}, {"tier", "1"}});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static void Add(JournalStore& store, const std::string& id, const std::string& experiment,
                  int64_t started, RunStatus status, std::map<std::string, std::string> labels) {
    RunRecord run;
    run.run_id = id;
    run.experiment = experiment;
    run.started_unix_ms = started;
    run.kind = "Experiment";
    run.labels = std::move(labels);
    ASSERT_TRUE(store.CreateRun(run).ok());
    ASSERT_TRUE(store.Append(id, "run.started", {{"experiment", experiment},
                                                 {"hypothesis", "checkout stays up"},
                                                 {"roles", {{"scribe", "bob"}}}})
                    .ok());
    ASSERT_TRUE(store.Append(id, "probe.result", {{"probe", "health"}, {"phase", "before"},
                                                  {"ok", status == RunStatus::kPassed}})
                    .ok());
    ASSERT_TRUE(store.FinishRun(id, status, status == RunStatus::kPassed ? 0 : 1).ok());
  }

  // Runs `command` with --journal; stdout and stderr captured.
  int Run(int (*command)(const std::vector<std::string>&), std::vector<std::string> args) {
    args.push_back("--journal");
    args.push_back(journal_);
    std::stringstream out, err;
    std::streambuf* old_out = std::cout.rdbuf(out.rdbuf());
    std::streambuf* old_err = std::cerr.rdbuf(err.rdbuf());
    int code = command(args);
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    out_ = out.str();
    err_ = err.str();
    return code;
  }

  std::string dir_, journal_, out_, err_;
};

TEST_F(ReviewCommandsTest, RunsFilters) {
  ASSERT_EQ(Run(RunsCommand, {}), 0) << err_;
  EXPECT_THAT(out_, HasSubstr("old-checkout"));
  EXPECT_THAT(out_, HasSubstr("new-search"));

  ASSERT_EQ(Run(RunsCommand, {"--since", "24h"}), 0) << err_;
  EXPECT_THAT(out_, Not(HasSubstr("old-checkout")));
  EXPECT_THAT(out_, HasSubstr("new-checkout"));

  ASSERT_EQ(Run(RunsCommand, {"--experiment", "checkout", "--status", "deviated"}), 0) << err_;
  EXPECT_THAT(out_, HasSubstr("new-checkout"));
  EXPECT_THAT(out_, Not(HasSubstr("old-checkout")));
  EXPECT_THAT(out_, Not(HasSubstr("new-search")));

  ASSERT_EQ(Run(RunsCommand, {"--tag", "team=payments", "--limit", "1"}), 0) << err_;
  EXPECT_THAT(out_, HasSubstr("new-checkout"));  // new-search is newer but not payments
  EXPECT_THAT(out_, Not(HasSubstr("old-checkout")));
  EXPECT_THAT(out_, Not(HasSubstr("new-search")));

  ASSERT_EQ(Run(RunsCommand, {"--tag", "tier", "--tag", "team=search"}), 0) << err_;
  EXPECT_THAT(out_, HasSubstr("new-search"));
  EXPECT_THAT(out_, Not(HasSubstr("checkout")));

  ASSERT_EQ(Run(RunsCommand, {"--tag", "team=nobody"}), 0) << err_;
  EXPECT_EQ(out_, "No runs found.\n");
}

TEST_F(ReviewCommandsTest, RunsRejectsBadValuesWithExitTwo) {
  EXPECT_EQ(Run(RunsCommand, {"--since", "yesterday"}), kExitInvalid);
  EXPECT_THAT(err_, HasSubstr("--since \"yesterday\""));
  EXPECT_EQ(Run(RunsCommand, {"--status", "green"}), kExitInvalid);
  EXPECT_THAT(err_, HasSubstr("--status"));
  EXPECT_THAT(err_, HasSubstr("deviated"));
  EXPECT_EQ(Run(RunsCommand, {"--tag", "=x"}), kExitInvalid);
  EXPECT_THAT(err_, HasSubstr("--tag \"=x\""));
  EXPECT_EQ(Run(RunsCommand, {"--limit", "-1"}), kExitInvalid);
  EXPECT_EQ(Run(RunsCommand, {"--limit", "many"}), kExitInvalid);
}

TEST_F(ReviewCommandsTest, ReportHtmlPostmortemAndCompare) {
  const std::string html = dir_ + "/r.html";
  ASSERT_EQ(Run(ReportCommand, {"new-checkout", "--format", "html", "--out", html}), 0) << err_;
  std::ifstream in(html);
  std::stringstream page;
  page << in.rdbuf();
  EXPECT_THAT(page.str(), HasSubstr("<svg class=\"timeline\""));
  EXPECT_THAT(page.str(), HasSubstr("checkout stays up"));

  ASSERT_EQ(Run(ReportCommand, {"new-checkout", "--postmortem"}), 0) << err_;
  EXPECT_THAT(out_, HasSubstr("# Post-mortem: checkout"));
  EXPECT_THAT(out_, HasSubstr("- scribe: bob"));
  ASSERT_EQ(Run(ReportCommand, {"new-checkout", "--postmortem", "--format", "json"}), 0);
  EXPECT_THAT(out_, HasSubstr("# Post-mortem"));
  EXPECT_THAT(err_, HasSubstr("--format json is ignored"));
  EXPECT_EQ(Run(ReportCommand, {"new-checkout", "--format", "pdf"}), kExitInvalid);

  ASSERT_EQ(Run(CompareCommand, {"old-checkout", "new-checkout"}), 0) << err_;
  EXPECT_THAT(out_, ::testing::ContainsRegex("status +passed +deviated +changed"));
  EXPECT_THAT(out_, ::testing::ContainsRegex("probe failures +0 +1 +\\+1"));
  EXPECT_EQ(err_, "");
  ASSERT_EQ(Run(CompareCommand, {"old-checkout", "new-search", "--format", "md"}), 0) << err_;
  EXPECT_THAT(err_, HasSubstr("warning: comparing runs of different experiments"));
  EXPECT_THAT(out_, HasSubstr("> **Warning:** runs are of different experiments"));
  EXPECT_EQ(Run(CompareCommand, {"old-checkout"}), kExitInvalid);
  EXPECT_EQ(Run(CompareCommand, {"old-checkout", "no-such-run"}), kExitInvalid);
  EXPECT_EQ(Run(CompareCommand, {"old-checkout", "new-search", "--format", "xml"}), kExitInvalid);
}

}  // namespace
}  // namespace faultline::controller
