#include "controller/store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fl-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/nested/dir/journal.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<JournalStore> Open() {
    absl::StatusOr<std::unique_ptr<JournalStore>> store = OpenSqliteStore(path_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static RunRecord Run(const std::string& experiment, const std::string& id = "") {
    RunRecord run;
    run.run_id = id;
    run.experiment = experiment;
    run.experiment_path = "experiments/" + experiment + ".yaml";
    run.source_text = "apiVersion: faultline/v1\nmetadata: {name: " + experiment + "}\n";
    return run;
  }

  // A pid that certainly names no process: a child that has exited and been reaped.
  static int ReapedPid() {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    int status = 0;
    waitpid(pid, &status, 0);
    return pid;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, CreateRunFillsDefaultsAndGetReturnsIt) {
  auto store = Open();
  RunRecord in = Run("Quick Start!");
  in.dry_run = true;
  absl::StatusOr<RunRecord> created = store->CreateRun(in);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(std::regex_match(created->run_id,
                               std::regex(R"(\d{8}-\d{6}-quick-start-[0-9a-f]{4})")))
      << created->run_id;
  EXPECT_EQ(created->controller_pid, getpid());
  EXPECT_FALSE(created->host.empty());
  EXPECT_GT(created->started_unix_ms, 1'600'000'000'000);
  EXPECT_EQ(created->status, RunStatus::kRunning);

  absl::StatusOr<RunRecord> got = store->GetRun(created->run_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->run_id, created->run_id);
  EXPECT_EQ(got->experiment, "Quick Start!");
  EXPECT_EQ(got->experiment_path, in.experiment_path);
  EXPECT_EQ(got->source_text, in.source_text);
  EXPECT_EQ(got->status, RunStatus::kRunning);
  EXPECT_EQ(got->exit_code, -1);
  EXPECT_EQ(got->started_unix_ms, created->started_unix_ms);
  EXPECT_EQ(got->ended_unix_ms, 0);
  EXPECT_EQ(got->controller_pid, created->controller_pid);
  EXPECT_EQ(got->host, created->host);
  EXPECT_TRUE(got->dry_run);
}

TEST_F(SqliteStoreTest, SuppliedRunIdIsKeptOnceAndValidated) {
  auto store = Open();
  ASSERT_TRUE(store->CreateRun(Run("a", "my-run.1")).ok());
  EXPECT_EQ(store->CreateRun(Run("a", "my-run.1")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->CreateRun(Run("a", "bad id; drop table runs")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, GeneratedIdsAreUniqueWithinOneSecond) {
  auto store = Open();
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    RunRecord run = Run("same");
    run.started_unix_ms = 1'790'000'000'000;
    absl::StatusOr<RunRecord> created = store->CreateRun(run);
    ASSERT_TRUE(created.ok()) << created.status();
    ids.insert(created->run_id);
  }
  EXPECT_THAT(ids, SizeIs(50));
}

TEST_F(SqliteStoreTest, EventsComeBackInAppendOrderPerRun) {
  auto store = Open();
  RunRecord a = *store->CreateRun(Run("a"));
  RunRecord b = *store->CreateRun(Run("b"));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store->Append(a.run_id, "step.started", {{"index", i}}).ok());
    ASSERT_TRUE(store->Append(b.run_id, "note", {{"text", std::to_string(i)}}).ok());
  }
  absl::StatusOr<std::vector<Event>> events = store->Events(a.run_id);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_THAT(*events, SizeIs(20));
  for (int i = 0; i < 20; ++i) {
    const Event& e = (*events)[i];
    EXPECT_EQ(e.run_id, a.run_id);
    EXPECT_EQ(e.type, "step.started");
    EXPECT_EQ(e.data["index"], i);
    if (i > 0) {
      EXPECT_GT(e.seq, (*events)[i - 1].seq);
      EXPECT_GE(e.unix_ms, (*events)[i - 1].unix_ms);
    }
  }
  EXPECT_THAT(*store->Events(b.run_id), SizeIs(20));

  // A poller asks only for what it has not seen.
  const int64_t tenth = (*events)[9].seq;
  absl::StatusOr<std::vector<Event>> rest = store->Events(a.run_id, tenth);
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_THAT(*rest, SizeIs(10));
  EXPECT_EQ((*rest)[0].seq, (*events)[10].seq);
  EXPECT_THAT(*store->Events(a.run_id, events->back().seq), SizeIs(0));
}

TEST_F(SqliteStoreTest, AppendKeepsArbitraryJsonAndRepairsBadUtf8) {
  auto store = Open();
  RunRecord run = *store->CreateRun(Run("a"));
  nlohmann::json data = {{"params", {{"load", 80}, {"cores", {0, 1}}}},
                         {"detail", "quote \" and <tag> & \n newline"},
                         {"ok", false},
                         {"latency_ms", 12.5}};
  ASSERT_TRUE(store->Append(run.run_id, "probe.result", data).ok());
  ASSERT_TRUE(store->Append(run.run_id, "probe.result", {{"detail", "bad \xff\xfe bytes"}}).ok());
  ASSERT_TRUE(store->Append(run.run_id, "wait.finished", nullptr).ok());
  std::vector<Event> events = *store->Events(run.run_id);
  ASSERT_THAT(events, SizeIs(3));
  EXPECT_EQ(events[0].data, data);
  EXPECT_THAT(events[1].data["detail"].get<std::string>(), HasSubstr("bad "));
  EXPECT_TRUE(events[2].data.is_null());
}

TEST_F(SqliteStoreTest, AppendAndEventsOnUnknownRunAreNotFound) {
  auto store = Open();
  EXPECT_EQ(store->Append("nope", "note", {}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Events("nope").status().code(), absl::StatusCode::kNotFound);
  RunRecord run = *store->CreateRun(Run("a"));
  EXPECT_EQ(store->Append(run.run_id, "", {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(*store->Events(run.run_id), IsEmpty());
}

TEST_F(SqliteStoreTest, FinishRunRecordsOutcomeOnce) {
  auto store = Open();
  RunRecord run = *store->CreateRun(Run("a"));
  ASSERT_TRUE(store->FinishRun(run.run_id, RunStatus::kDeviated, 1).ok());
  RunRecord got = *store->GetRun(run.run_id);
  EXPECT_EQ(got.status, RunStatus::kDeviated);
  EXPECT_EQ(got.exit_code, 1);
  EXPECT_GE(got.ended_unix_ms, got.started_unix_ms);

  EXPECT_TRUE(store->FinishRun(run.run_id, RunStatus::kDeviated, 1).ok());  // idempotent
  EXPECT_EQ(store->FinishRun(run.run_id, RunStatus::kPassed, 0).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->FinishRun(run.run_id, RunStatus::kRunning, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->FinishRun("nope", RunStatus::kPassed, 0).code(), absl::StatusCode::kNotFound);
  // Notes may still be added after the run.
  EXPECT_TRUE(store->Append(run.run_id, "note", {{"author", "sre"}, {"text", "later"}}).ok());
}

TEST_F(SqliteStoreTest, GetRunByPrefixSuffixAmbiguousAndUnknown) {
  auto store = Open();
  ASSERT_TRUE(store->CreateRun(Run("q", "20261127-142301-quickstart-3f9a")).ok());
  ASSERT_TRUE(store->CreateRun(Run("q", "20261127-150000-quickstart-77b0")).ok());
  ASSERT_TRUE(store->CreateRun(Run("c", "20261128-090000-cpu-0001")).ok());

  EXPECT_EQ(store->GetRun("20261127-14")->run_id, "20261127-142301-quickstart-3f9a");
  EXPECT_EQ(store->GetRun("20261128")->run_id, "20261128-090000-cpu-0001");
  EXPECT_EQ(store->GetRun("3f9a")->run_id, "20261127-142301-quickstart-3f9a");
  EXPECT_EQ(store->GetRun("quickstart-77b0")->run_id, "20261127-150000-quickstart-77b0");

  absl::StatusOr<RunRecord> ambiguous = store->GetRun("20261127");
  EXPECT_EQ(ambiguous.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ambiguous.status().message(), HasSubstr("20261127-142301-quickstart-3f9a"));
  EXPECT_THAT(ambiguous.status().message(), HasSubstr("20261127-150000-quickstart-77b0"));

  EXPECT_EQ(store->GetRun("2027").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetRun("").status().code(), absl::StatusCode::kInvalidArgument);
  // LIKE-style wildcards are not wildcards here.
  EXPECT_EQ(store->GetRun("%").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, ListRunsFiltersAndOrdersNewestFirst) {
  auto store = Open();
  for (int i = 0; i < 6; ++i) {
    RunRecord run = Run(i % 2 == 0 ? "even" : "odd", "run-" + std::to_string(i));
    run.started_unix_ms = 1'790'000'000'000 + i * 1000;
    ASSERT_TRUE(store->CreateRun(run).ok());
  }
  ASSERT_TRUE(store->FinishRun("run-2", RunStatus::kPassed, 0).ok());
  ASSERT_TRUE(store->FinishRun("run-3", RunStatus::kPassed, 0).ok());

  // (GCC 12 warns on partial designated initializers under -Wextra.)
  auto filter = [](std::string experiment, std::optional<RunStatus> status, int limit) {
    RunFilter f;
    f.experiment = std::move(experiment);
    f.status = status;
    f.limit = limit;
    return f;
  };
  auto ids = [](const std::vector<RunRecord>& runs) {
    std::vector<std::string> out;
    for (const RunRecord& r : runs) out.push_back(r.run_id);
    return out;
  };
  EXPECT_THAT(ids(*store->ListRuns({})),
              ElementsAre("run-5", "run-4", "run-3", "run-2", "run-1", "run-0"));
  EXPECT_THAT(ids(*store->ListRuns(filter("even", std::nullopt, 50))), ElementsAre("run-4", "run-2", "run-0"));
  EXPECT_THAT(ids(*store->ListRuns(filter("", RunStatus::kPassed, 50))), ElementsAre("run-3", "run-2"));
  EXPECT_THAT(ids(*store->ListRuns(filter("odd", RunStatus::kRunning, 50))),
              ElementsAre("run-5", "run-1"));
  EXPECT_THAT(ids(*store->ListRuns(filter("", std::nullopt, 2))), ElementsAre("run-5", "run-4"));
  EXPECT_THAT(ids(*store->ListRuns(filter("", std::nullopt, 0))), SizeIs(6));
  EXPECT_THAT(*store->ListRuns(filter("none", std::nullopt, 50)), IsEmpty());
}

TEST_F(SqliteStoreTest, KindAndLabelsRoundTrip) {
  auto store = Open();
  RunRecord run = Run("drill-a", "drill-1");
  run.kind = "Drill";
  run.labels = {{"team", "payments"}, {"tier", "1"}, {"quote", "a\"b'c"}};
  ASSERT_TRUE(store->CreateRun(run).ok());
  absl::StatusOr<RunRecord> got = store->GetRun("drill-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->kind, "Drill");
  EXPECT_EQ(got->labels, run.labels);
  // No labels at all is stored as an empty object and read back empty.
  ASSERT_TRUE(store->CreateRun(Run("plain", "plain-1")).ok());
  EXPECT_TRUE(store->GetRun("plain-1")->labels.empty());
  EXPECT_EQ(store->GetRun("plain-1")->kind, "");
}

TEST_F(SqliteStoreTest, ListRunsFiltersBySinceAndLabelsThenLimits) {
  auto store = Open();
  // run-0 .. run-9, one second apart; even runs carry team=payments, every
  // third one tier=1, run-9 team=search.
  for (int i = 0; i < 10; ++i) {
    RunRecord run = Run("exp", "run-" + std::to_string(i));
    run.started_unix_ms = 1'790'000'000'000 + i * 1000;
    if (i % 2 == 0) run.labels["team"] = "payments";
    if (i % 3 == 0) run.labels["tier"] = "1";
    if (i == 9) run.labels["team"] = "search";
    ASSERT_TRUE(store->CreateRun(run).ok());
  }
  auto ids = [&](const RunFilter& f) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<RunRecord>> runs = store->ListRuns(f);
    EXPECT_TRUE(runs.ok()) << runs.status();
    for (const RunRecord& r : *runs) out.push_back(r.run_id);
    return out;
  };
  RunFilter since;
  since.since_unix_ms = 1'790'000'000'000 + 7000;
  EXPECT_THAT(ids(since), ElementsAre("run-9", "run-8", "run-7"));

  RunFilter team;
  team.labels = {{"team", "payments"}};
  EXPECT_THAT(ids(team), ElementsAre("run-8", "run-6", "run-4", "run-2", "run-0"));
  // The limit applies to the matches, not to the rows before matching:
  // the newest two rows (run-9, run-8) hold only one match.
  team.limit = 2;
  EXPECT_THAT(ids(team), ElementsAre("run-8", "run-6"));

  RunFilter both;
  both.labels = {{"team", "payments"}, {"tier", "1"}};
  EXPECT_THAT(ids(both), ElementsAre("run-6", "run-0"));

  RunFilter has_key;  // value "" = the key is present
  has_key.labels = {{"tier", ""}};
  EXPECT_THAT(ids(has_key), ElementsAre("run-9", "run-6", "run-3", "run-0"));
  has_key.since_unix_ms = 1'790'000'000'000 + 5000;
  EXPECT_THAT(ids(has_key), ElementsAre("run-9", "run-6"));

  RunFilter none;
  none.labels = {{"team", "nobody"}};
  EXPECT_THAT(ids(none), IsEmpty());
}

// A journal written by the schema-1 build (no kind/labels columns) opens,
// is migrated in place, keeps its runs and events, and takes new runs.
TEST_F(SqliteStoreTest, MigratesSchemaOneJournal) {
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const char* v1 = R"sql(
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY NOT NULL, experiment TEXT NOT NULL, experiment_path TEXT NOT NULL,
  source_text TEXT NOT NULL, status TEXT NOT NULL, exit_code INTEGER NOT NULL,
  started_unix_ms INTEGER NOT NULL, ended_unix_ms INTEGER NOT NULL,
  controller_pid INTEGER NOT NULL, host TEXT NOT NULL, dry_run INTEGER NOT NULL);
CREATE INDEX runs_by_start ON runs(started_unix_ms);
CREATE INDEX runs_by_status ON runs(status);
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL,
  unix_ms INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX events_by_run ON events(run_id, seq);
INSERT INTO runs VALUES('old-1', 'legacy', 'legacy.yaml', 'src', 'passed', 0,
  1790000000000, 1790000005000, 123, 'h', 0);
INSERT INTO events(run_id, unix_ms, type, data) VALUES('old-1', 1790000001000, 'note',
  '{"author":"a","text":"kept"}');
PRAGMA user_version = 1;
)sql";
  char* error = nullptr;
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, &error), SQLITE_OK) << error;
  sqlite3_close(db);

  auto store = Open();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<RunRecord> old = store->GetRun("old-1");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->status, RunStatus::kPassed);
  EXPECT_EQ(old->kind, "");
  EXPECT_TRUE(old->labels.empty());
  EXPECT_THAT(*store->Events("old-1"), SizeIs(1));

  RunRecord run = Run("fresh", "new-1");
  run.kind = "Experiment";
  run.labels = {{"team", "x"}};
  ASSERT_TRUE(store->CreateRun(run).ok());
  RunFilter f;
  f.labels = {{"team", "x"}};
  absl::StatusOr<std::vector<RunRecord>> listed = store->ListRuns(f);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_THAT(*listed, SizeIs(1));
  EXPECT_EQ((*listed)[0].kind, "Experiment");
  store.reset();

  // The file now says version 2, and a second open does not migrate again.
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kJournalSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  auto again = Open();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->GetRun("new-1")->labels.at("team"), "x");
}

TEST_F(SqliteStoreTest, ReopenKeepsEverything) {
  std::string id;
  {
    auto store = Open();
    id = store->CreateRun(Run("a"))->run_id;
    ASSERT_TRUE(store->Append(id, "note", {{"text", "x"}}).ok());
    ASSERT_TRUE(store->FinishRun(id, RunStatus::kPassed, 0).ok());
  }
  auto store = Open();
  EXPECT_EQ(store->GetRun(id)->status, RunStatus::kPassed);
  EXPECT_THAT(*store->Events(id), SizeIs(1));
}

// Durability smoke test: a writer that dies without closing (no destructors,
// no checkpoint) loses nothing it was told was written.
TEST_F(SqliteStoreTest, EventsSurviveWriterExitingWithoutClose) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    auto store = OpenSqliteStore(path_);
    if (!store.ok()) _exit(10);
    absl::StatusOr<RunRecord> run = (*store)->CreateRun(Run("crashy"));
    if (!run.ok()) _exit(11);
    for (int i = 0; i < 40; ++i) {
      if (!(*store)->Append(run->run_id, "step.started", {{"index", i}}).ok()) _exit(12);
    }
    std::string id = run->run_id + "\n";
    if (write(pipe_fds[1], id.data(), id.size()) != static_cast<ssize_t>(id.size())) _exit(13);
    _exit(0);  // the store is never closed
  }
  close(pipe_fds[1]);
  char buf[256] = {};
  ssize_t n = read(pipe_fds[0], buf, sizeof(buf) - 1);
  close(pipe_fds[0]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  ASSERT_GT(n, 1);
  std::string id(buf, static_cast<size_t>(n - 1));

  auto store = Open();
  std::vector<Event> events = *store->Events(id);
  ASSERT_THAT(events, SizeIs(40));
  EXPECT_EQ(events.back().data["index"], 39);
  RunRecord run = *store->GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kRunning);
  EXPECT_EQ(run.controller_pid, child);

  // The child (its controller) is gone: the next start marks the run.
  absl::StatusOr<std::vector<RunRecord>> marked = store->MarkInterrupted();
  ASSERT_TRUE(marked.ok()) << marked.status();
  ASSERT_THAT(*marked, SizeIs(1));
  EXPECT_EQ((*marked)[0].run_id, id);
  EXPECT_EQ((*marked)[0].status, RunStatus::kInterrupted);
  EXPECT_EQ((*marked)[0].ended_unix_ms, events.back().unix_ms);
}

TEST_F(SqliteStoreTest, MarkInterruptedOnlyTouchesDeadControllersOnThisHost) {
  auto store = Open();
  RunRecord live = Run("live", "live");
  live.controller_pid = getpid();
  RunRecord dead = Run("dead", "dead");
  dead.controller_pid = ReapedPid();
  RunRecord reused = Run("reused", "reused");  // our pid, but we started long after it
  reused.controller_pid = getpid();
  reused.started_unix_ms = 1'000'000;
  RunRecord remote = Run("remote", "remote");
  remote.controller_pid = ReapedPid();
  remote.host = "some-other-host.invalid";
  RunRecord done = Run("done", "done");
  done.controller_pid = ReapedPid();
  for (const RunRecord& r : {live, dead, reused, remote, done}) {
    ASSERT_TRUE(store->CreateRun(r).ok());
  }
  ASSERT_TRUE(store->FinishRun("done", RunStatus::kPassed, 0).ok());
  ASSERT_TRUE(store->Append("dead", "fault.applied", {{"fault_id", "f1"}}).ok());

  absl::StatusOr<std::vector<RunRecord>> marked = store->MarkInterrupted();
  ASSERT_TRUE(marked.ok()) << marked.status();
  std::vector<std::string> ids;
  for (const RunRecord& r : *marked) ids.push_back(r.run_id);
  EXPECT_THAT(ids, ElementsAre("reused", "dead"));  // oldest first

  EXPECT_EQ(store->GetRun("live")->status, RunStatus::kRunning);
  EXPECT_EQ(store->GetRun("remote")->status, RunStatus::kRunning);
  EXPECT_EQ(store->GetRun("done")->status, RunStatus::kPassed);
  EXPECT_EQ(store->GetRun("dead")->status, RunStatus::kInterrupted);
  std::vector<Event> events = *store->Events("dead");
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[1].type, "run.interrupted");
  EXPECT_EQ(events[1].data["controller_pid"], dead.controller_pid);
  EXPECT_THAT(events[1].data["reason"].get<std::string>(), HasSubstr("exited"));

  EXPECT_THAT(*store->MarkInterrupted(), IsEmpty());  // idempotent
  // A controller that was alive after all may still record its outcome.
  EXPECT_TRUE(store->FinishRun("dead", RunStatus::kAborted, 3).ok());
  EXPECT_EQ(store->GetRun("dead")->status, RunStatus::kAborted);
}

TEST_F(SqliteStoreTest, ConcurrentWritersThreadsAndConnections) {
  auto first = Open();
  auto second = Open();  // a second connection, as another process would have
  std::string id = first->CreateRun(Run("busy"))->run_id;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      JournalStore* store = t % 2 == 0 ? first.get() : second.get();
      for (int i = 0; i < 25; ++i) {
        absl::Status s = store->Append(id, "note", {{"thread", t}, {"i", i}});
        if (!s.ok()) {
          ADD_FAILURE() << s;
          ++failures;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_THAT(*first->Events(id), SizeIs(100));
}

// Group commit: many threads appending at once share transactions, yet each
// event is stored exactly once, in each thread's order, and an append to a
// missing run fails alone without taking its batch-mates down.
TEST_F(SqliteStoreTest, GroupCommitKeepsEveryEventAndPerThreadOrder) {
  for (JournalDurability durability : {JournalDurability::kFull, JournalDurability::kNormal}) {
    std::filesystem::remove_all(dir_ + "/nested");
    auto opened = OpenSqliteStore(path_, JournalOptions{durability});
    ASSERT_TRUE(opened.ok()) << opened.status();
    std::unique_ptr<JournalStore> store = std::move(*opened);
    std::string id = store->CreateRun(Run("batch"))->run_id;
    constexpr int kThreads = 8;
    constexpr int kPerThread = 50;
    std::atomic<int> failures{0};
    std::atomic<int> missing_ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          if (!store->Append(id, "note", {{"thread", t}, {"i", i}}).ok()) ++failures;
          if (i % 10 == 0 &&
              absl::IsNotFound(store->Append("no-such-run", "note", {{"thread", t}}))) {
            ++missing_ok;
          }
        }
      });
    }
    for (std::thread& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(missing_ok.load(), kThreads * (kPerThread / 10));
    absl::StatusOr<std::vector<Event>> events = store->Events(id);
    ASSERT_TRUE(events.ok()) << events.status();
    ASSERT_THAT(*events, SizeIs(kThreads * kPerThread));
    std::vector<int> next(kThreads, 0);
    int64_t last_seq = 0;
    for (const Event& e : *events) {
      EXPECT_GT(e.seq, last_seq);
      last_seq = e.seq;
      int t = e.data["thread"].get<int>();
      EXPECT_EQ(e.data["i"].get<int>(), next[t]++) << "thread " << t;
    }
  }
}

TEST(JournalDurabilityTest, ParsesFullAndNormalOnly) {
  EXPECT_EQ(*ParseJournalDurability("full"), JournalDurability::kFull);
  EXPECT_EQ(*ParseJournalDurability("normal"), JournalDurability::kNormal);
  EXPECT_EQ(ParseJournalDurability("off").status().message(),
            "journal durability must be full or normal, got \"off\"");
}

TEST_F(SqliteStoreTest, RefusesNewerSchemaAndNonDatabases) {
  { Open(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  absl::StatusOr<std::unique_ptr<JournalStore>> newer = OpenSqliteStore(path_);
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(newer.status().message(), HasSubstr(path_));

  std::string junk = dir_ + "/junk.db";
  std::ofstream(junk) << std::string(8192, 'x');
  EXPECT_EQ(OpenSqliteStore(junk).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SqliteStoreTest, UnwritableDirectoryIsPermissionDenied) {
  std::string locked = dir_ + "/locked";
  std::filesystem::create_directory(locked);
  std::filesystem::permissions(locked, std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_exec |
                                           std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec);
  auto check = [&locked]() {
    return OpenSqliteStore(locked + "/sub/journal.db").status().code() ==
               absl::StatusCode::kPermissionDenied &&
           OpenSqliteStore(locked + "/journal.db").status().code() ==
               absl::StatusCode::kPermissionDenied;
  };
  if (geteuid() != 0) {
    EXPECT_TRUE(check());
  } else {
    // Root ignores directory permissions: check as nobody in a child.
    std::filesystem::permissions(dir_, std::filesystem::perms::others_exec,
                                 std::filesystem::perm_options::add);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(2);
      _exit(check() ? 0 : 1);
    }
    int wstatus = 0;
    ASSERT_EQ(waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFEXITED(wstatus));
    EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "1: wrong codes, 2: could not drop privileges";
  }
  std::filesystem::permissions(locked, std::filesystem::perms::owner_all);
}

TEST_F(SqliteStoreTest, InMemoryStoreWorks) {
  absl::StatusOr<std::unique_ptr<JournalStore>> store = OpenSqliteStore(":memory:");
  ASSERT_TRUE(store.ok()) << store.status();
  std::string id = (*store)->CreateRun(Run("m"))->run_id;
  EXPECT_TRUE((*store)->Append(id, "note", {}).ok());
}

TEST(DefaultJournalPathTest, EnvironmentOverridesAndFallbacks) {
  auto saved = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  std::optional<std::string> journal = saved("FAULTLINE_JOURNAL");
  std::optional<std::string> xdg = saved("XDG_STATE_HOME");

  setenv("FAULTLINE_JOURNAL", "/tmp/x/j.db", 1);
  EXPECT_EQ(DefaultJournalPath(), "/tmp/x/j.db");
  unsetenv("FAULTLINE_JOURNAL");
  setenv("XDG_STATE_HOME", "/tmp/state", 1);
  if (geteuid() == 0) {
    EXPECT_EQ(DefaultJournalPath(), "/var/lib/faultline/journal.db");
  } else {
    EXPECT_EQ(DefaultJournalPath(), "/tmp/state/faultline/journal.db");
    setenv("XDG_STATE_HOME", "relative", 1);
    EXPECT_THAT(DefaultJournalPath(), HasSubstr("/.local/state/faultline/journal.db"));
  }

  if (journal) setenv("FAULTLINE_JOURNAL", journal->c_str(), 1);
  if (xdg) {
    setenv("XDG_STATE_HOME", xdg->c_str(), 1);
  } else {
    unsetenv("XDG_STATE_HOME");
  }
}

TEST(RunStatusTest, NamesRoundTrip) {
  for (RunStatus s : {RunStatus::kRunning, RunStatus::kPassed, RunStatus::kDeviated,
                      RunStatus::kAborted, RunStatus::kFailed, RunStatus::kInterrupted}) {
    EXPECT_EQ(*ParseRunStatus(RunStatusName(s)), s);
  }
  EXPECT_EQ(RunStatusName(RunStatus::kInterrupted), "interrupted");
  EXPECT_EQ(ParseRunStatus("PASSED").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace faultline::controller
