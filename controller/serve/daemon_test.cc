// ServeDaemon in-process with a fake clock: scheduled fires through the
// window/blackout/concurrency/halt checks, skipped runs in the journal, missed
// fires across a restart, the halt flag across a restart, control events and
// the watch stream. Experiments only wait (their one target is never used),
// so no agent is needed; real agents are in tests/serve_*_test.cc.
#include "controller/serve/daemon.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::HasSubstr;

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << rfc3339 << error;
  return t;
}

std::string Experiment(const std::string& name, const std::string& wait) {
  return "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: " + name +
         "}\ntargets:\n  unused: {agents: [\"127.0.0.1:9\"]}\nmethod:\n  - wait: " + wait + "\n";
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fl-serve-daemon-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Write("slow.yaml", Experiment("slow", "30s"));
    Write("quick.yaml", Experiment("quick", "200ms"));
    now_ms_ = absl::ToUnixMillis(At("2026-11-27T12:00:30Z"));  // a Friday
  }
  void TearDown() override {
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }

  absl::Time Now() const { return absl::FromUnixMillis(now_ms_.load()); }
  void SetNow(absl::Time t) { now_ms_ = absl::ToUnixMillis(t); }

  // Starts a daemon on `config_yaml` (paths relative to the temp dir).
  void StartDaemon(const std::string& config_yaml, bool run_scheduler = false) {
    daemon_.reset();
    Write("serve.yaml", "listen: 127.0.0.1:0\nembedded_dir: " + dir_ + "/embedded\n" +
                            config_yaml);
    std::vector<Diagnostic> diagnostics;
    absl::StatusOr<ServeConfig> config = LoadServeConfig(dir_ + "/serve.yaml", &diagnostics);
    ASSERT_TRUE(config.ok()) << config.status();
    DaemonOptions options;
    options.journal_path = dir_ + "/journal.db";
    options.run_scheduler = run_scheduler;
    options.now = [this] { return Now(); };
    auto daemon = ServeDaemon::Create(*config, options, &diagnostics);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    absl::StatusOr<std::string> address = daemon_->Start();
    ASSERT_TRUE(address.ok()) << address.status();
  }

  absl::StatusOr<std::string> Submit(const std::string& file) {
    std::ifstream in(dir_ + "/" + file);
    std::stringstream text;
    text << in.rdbuf();
    v1::SubmitRunRequest request;
    request.set_experiment_text(text.str());
    request.set_experiment_path(dir_ + "/" + file);
    request.set_submitted_by("test");
    v1::SubmitRunResponse response;
    absl::Status status = daemon_->SubmitRun(request, &response);
    if (!status.ok()) return status;
    return response.run_id();
  }

  std::vector<RunRecord> Runs(std::optional<RunStatus> status) {
    RunFilter filter;
    filter.status = status;
    auto runs = daemon_->store()->ListRuns(filter);
    EXPECT_TRUE(runs.ok());
    return runs.ok() ? *runs : std::vector<RunRecord>{};
  }

  // The data of the first event of `type` in `run_id`.
  nlohmann::json EventData(const std::string& run_id, const std::string& type) {
    auto events = daemon_->store()->Events(run_id);
    EXPECT_TRUE(events.ok());
    if (!events.ok()) return nullptr;
    for (const Event& e : *events) {
      if (e.type == type) return e.data;
    }
    return nullptr;
  }

  std::string dir_;
  std::atomic<int64_t> now_ms_{0};
  std::unique_ptr<ServeDaemon> daemon_;
};

TEST_F(DaemonTest, SubmitRunsToTheEndAndWatchStreamsEveryEvent) {
  StartDaemon("");
  absl::StatusOr<std::string> run_id = Submit("quick.yaml");
  ASSERT_TRUE(run_id.ok()) << run_id.status();
  EXPECT_THAT(*run_id, HasSubstr("-quick-"));

  std::vector<std::string> types;
  v1::RunSummary final_run;
  v1::WatchRunRequest request;
  request.set_run_id(*run_id);
  absl::Status watched = daemon_->WatchRun(
      request,
      [&](const v1::WatchRunResponse& m) {
        if (m.finished()) {
          final_run = m.run();
        } else {
          types.push_back(m.event().type());
        }
        return true;
      },
      [] { return false; });
  ASSERT_TRUE(watched.ok()) << watched;
  EXPECT_EQ(final_run.status(), "passed");
  EXPECT_EQ(final_run.exit_code(), 0);
  EXPECT_EQ(final_run.run_id(), *run_id);
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.front(), "run.started");
  EXPECT_EQ(types.back(), "run.finished");
  EXPECT_NE(std::find(types.begin(), types.end(), "run.trigger"), types.end());
  nlohmann::json trigger = EventData(*run_id, "run.trigger");
  EXPECT_EQ(trigger["trigger"], "submit");
  EXPECT_EQ(trigger["by"], "test");

  // GetRun pages from a seq.
  v1::GetRunRequest get;
  get.set_run_id(run_id->substr(run_id->size() - 4));  // unique suffix
  v1::GetRunResponse got;
  ASSERT_TRUE(daemon_->GetRun(get, &got).ok());
  EXPECT_EQ(got.run().status(), "passed");
  EXPECT_EQ(got.run().verdict(), "steady state held");
  ASSERT_GE(got.events_size(), 2);
  get.set_since_seq(got.events(got.events_size() - 2).seq());
  v1::GetRunResponse tail;
  ASSERT_TRUE(daemon_->GetRun(get, &tail).ok());
  ASSERT_EQ(tail.events_size(), 1);
  EXPECT_EQ(tail.events(0).type(), "run.finished");
}

TEST_F(DaemonTest, InvalidSubmissionsNameTheProblem) {
  StartDaemon("");
  v1::SubmitRunRequest request;
  request.set_experiment_text("apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: x}\n");
  request.set_experiment_path("/tmp/x.yaml");
  v1::SubmitRunResponse response;
  absl::Status status = daemon_->SubmitRun(request, &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("/tmp/x.yaml:1:1: missing required field \"method\""));
}

TEST_F(DaemonTest, ForbidSkipsAFireWhileTheExperimentRuns) {
  StartDaemon(
      "schedules:\n  - experiment: slow.yaml\n    schedule: {cron: \"* * * * *\"}\n"
      "    concurrency: forbid\n");
  absl::StatusOr<std::string> active = Submit("slow.yaml");
  ASSERT_TRUE(active.ok()) << active.status();

  SetNow(At("2026-11-27T12:01:00Z"));
  daemon_->Tick(Now());
  std::vector<RunRecord> skipped = Runs(RunStatus::kSkipped);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].experiment, "slow");
  nlohmann::json data = EventData(skipped[0].run_id, "schedule.skipped");
  EXPECT_EQ(data["schedule"], "slow");
  EXPECT_EQ(data["trigger"], "schedule");
  EXPECT_EQ(data["fire_unix_ms"], absl::ToUnixMillis(At("2026-11-27T12:01:00Z")));
  EXPECT_EQ(data["reason"], "concurrency forbid: run " + *active +
                                " of experiment slow is still active");
  EXPECT_EQ(EventData(skipped[0].run_id, "run.finished")["status"], "skipped");

  // The schedule state remembers it; a manual fire takes the same path.
  v1::ListSchedulesResponse schedules;
  ASSERT_TRUE(daemon_->ListSchedules({}, &schedules).ok());
  ASSERT_EQ(schedules.schedules_size(), 1);
  EXPECT_EQ(schedules.schedules(0).last_run_id(), skipped[0].run_id);
  EXPECT_THAT(schedules.schedules(0).last_outcome(), HasSubstr("skipped: concurrency forbid"));
  EXPECT_EQ(schedules.schedules(0).next_fire_unix_ms(),
            absl::ToUnixMillis(At("2026-11-27T12:02:00Z")));
  v1::FireScheduleRequest fire;
  fire.set_name("slow");
  v1::FireScheduleResponse fired;
  ASSERT_TRUE(daemon_->FireSchedule(fire, &fired).ok());
  EXPECT_FALSE(fired.started());
  EXPECT_THAT(fired.skipped_reason(), HasSubstr("concurrency forbid"));

  // Once the run is aborted, the next fire starts a run.
  v1::AbortRunRequest abort;
  abort.set_run_id(*active);
  abort.set_by("test");
  v1::ControlResponse control;
  ASSERT_TRUE(daemon_->AbortRun(abort, &control).ok());
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(20)));
  auto aborted = daemon_->store()->GetRun(*active);
  ASSERT_TRUE(aborted.ok());
  EXPECT_EQ(aborted->status, RunStatus::kAborted);
  EXPECT_EQ(aborted->exit_code, 3);

  SetNow(At("2026-11-27T12:02:00Z"));
  daemon_->Tick(Now());
  std::vector<std::string> active_ids = daemon_->ActiveRunIds();
  ASSERT_EQ(active_ids.size(), 1u);
  EXPECT_EQ(EventData(active_ids[0], "run.trigger")["trigger"], "schedule");
  v1::FireScheduleRequest unknown;
  unknown.set_name("nope");
  EXPECT_EQ(daemon_->FireSchedule(unknown, &fired).code(), absl::StatusCode::kNotFound);
}

TEST_F(DaemonTest, SchedulerThreadFiresWhenTheClockReachesTheCronTime) {
  SetNow(At("2026-11-27T12:00:59.900Z"));
  StartDaemon("schedules:\n  - experiment: quick.yaml\n    schedule: {cron: \"* * * * *\"}\n",
              /*run_scheduler=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(Runs(std::nullopt).empty());  // 12:00:59.9: not yet
  SetNow(At("2026-11-27T12:01:00Z"));
  bool fired = false;
  for (int i = 0; i < 200 && !fired; ++i) {
    fired = !Runs(std::nullopt).empty();
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(fired) << "the scheduler thread did not fire within 5 s";
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(20)));
  std::vector<RunRecord> runs = Runs(std::nullopt);
  ASSERT_EQ(runs.size(), 1u);  // once, however often the loop wakes
  EXPECT_EQ(runs[0].status, RunStatus::kPassed);
  EXPECT_EQ(EventData(runs[0].run_id, "run.trigger")["fire_unix_ms"],
            absl::ToUnixMillis(At("2026-11-27T12:01:00Z")));
}

TEST_F(DaemonTest, WindowAndBlackoutSkipWithTheReason) {
  StartDaemon(R"(schedules:
  - experiment: quick.yaml
    schedule: {cron: "0 * * * *", timezone: Europe/Berlin}
window: {days: [mon-fri], from: "09:00", to: "17:00", timezone: Europe/Berlin}
blackout:
  - {from: 2026-11-27T14:30:00Z, to: 2026-11-27T15:30:00Z, reason: release freeze}
)");
  SetNow(At("2026-11-27T13:00:00Z"));  // 14:00 Berlin: inside the window
  daemon_->Tick(Now());
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Runs(RunStatus::kPassed).size(), 1u);

  SetNow(At("2026-11-27T15:00:00Z"));  // blackout
  daemon_->Tick(Now());
  SetNow(At("2026-11-27T17:00:00Z"));  // 18:00 Berlin: outside
  daemon_->Tick(Now());
  std::vector<RunRecord> skipped = Runs(RunStatus::kSkipped);
  ASSERT_EQ(skipped.size(), 2u);  // newest first
  EXPECT_EQ(EventData(skipped[0].run_id, "schedule.skipped")["reason"],
            "outside the window mon,tue,wed,thu,fri 09:00-17:00 Europe/Berlin (Fri 18:00 local)");
  EXPECT_EQ(EventData(skipped[1].run_id, "schedule.skipped")["reason"],
            "inside blackout 2026-11-27T14:30:00Z..2026-11-27T15:30:00Z: release freeze");
  v1::GetRunRequest get;
  get.set_run_id(skipped[1].run_id);
  v1::GetRunResponse got;
  ASSERT_TRUE(daemon_->GetRun(get, &got).ok());
  EXPECT_EQ(got.run().status(), "skipped");
  EXPECT_THAT(got.run().verdict(), HasSubstr("skipped: inside blackout"));
}

TEST_F(DaemonTest, HaltRefusesRunsAcrossARestartUntilReleased) {
  StartDaemon("schedules:\n  - experiment: quick.yaml\n    schedule: {cron: \"@hourly\"}\n");
  absl::StatusOr<std::string> slow = Submit("slow.yaml");
  ASSERT_TRUE(slow.ok());

  v1::HaltFleetRequest halt;
  halt.set_by("alice");
  halt.set_reason("checkout is down");
  v1::HaltFleetResponse halted;
  ASSERT_TRUE(daemon_->Halt(halt, &halted).ok());
  ASSERT_EQ(halted.stopped_runs_size(), 1);
  EXPECT_EQ(halted.stopped_runs(0), *slow);
  // No inventory: the halt reaches the agents the active run may use.
  ASSERT_EQ(halted.hosts_size(), 1);
  EXPECT_EQ(halted.hosts(0).host(), "127.0.0.1:9");
  EXPECT_FALSE(halted.hosts(0).ok());  // nothing listens there
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(20)));
  auto stopped = daemon_->store()->GetRun(*slow);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->status, RunStatus::kAborted);
  EXPECT_EQ(stopped->exit_code, 3);

  const std::string expected =
      "halted by alice at 2026-11-27T12:00:30Z: checkout is down; run faultline halt --release";
  absl::StatusOr<std::string> refused = Submit("quick.yaml");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(), expected);
  SetNow(At("2026-11-27T13:00:00Z"));
  daemon_->Tick(Now());
  std::vector<RunRecord> skipped = Runs(RunStatus::kSkipped);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(EventData(skipped[0].run_id, "schedule.skipped")["reason"], expected);

  // A new daemon on the same journal is still halted.
  daemon_->Shutdown("test restart");
  StartDaemon("schedules:\n  - experiment: quick.yaml\n    schedule: {cron: \"@hourly\"}\n");
  refused = Submit("quick.yaml");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  v1::ListSchedulesResponse schedules;
  ASSERT_TRUE(daemon_->ListSchedules({}, &schedules).ok());
  EXPECT_TRUE(schedules.halted());
  EXPECT_EQ(schedules.halted_reason(), expected);

  v1::ReleaseRequest release;
  release.set_by("alice");
  v1::ReleaseResponse released;
  ASSERT_TRUE(daemon_->Release(release, &released).ok());
  EXPECT_TRUE(released.was_halted());
  EXPECT_EQ(released.halted_by(), "alice");
  ASSERT_TRUE(daemon_->Release(release, &released).ok());
  EXPECT_FALSE(released.was_halted());
  absl::StatusOr<std::string> allowed = Submit("quick.yaml");
  EXPECT_TRUE(allowed.ok()) << allowed.status();
}

TEST_F(DaemonTest, MissedFiresAreJournaledOrRunOnceAfterARestart) {
  const std::string config = R"(schedules:
  - experiment: quick.yaml
    schedule: {cron: "*/10 * * * *"}
  - name: catch-up
    experiment: quick.yaml
    schedule: {cron: "0 * * * *"}
    missed: run-once
)";
  StartDaemon(config);  // 12:00:30
  daemon_->Shutdown("down for maintenance");
  SetNow(At("2026-11-27T14:05:00Z"));
  StartDaemon(config);
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(20)));

  std::vector<RunRecord> skipped = Runs(RunStatus::kSkipped);
  ASSERT_EQ(skipped.size(), 1u);
  nlohmann::json missed = EventData(skipped[0].run_id, "schedule.missed");
  EXPECT_EQ(missed["schedule"], "quick");
  EXPECT_EQ(missed["missed"], 12);  // 12:10 .. 14:00
  EXPECT_EQ(missed["policy"], "skip");
  EXPECT_EQ(missed["reason"],
            "missed 12 fires while serve was down (2026-11-27T12:10:00Z..2026-11-27T14:00:00Z); "
            "missed: skip");

  std::vector<RunRecord> passed = Runs(RunStatus::kPassed);
  ASSERT_EQ(passed.size(), 1u);
  nlohmann::json trigger = EventData(passed[0].run_id, "run.trigger");
  EXPECT_EQ(trigger["trigger"], "missed");
  EXPECT_EQ(trigger["schedule"], "catch-up");
  EXPECT_EQ(trigger["missed"], 2);  // 13:00, 14:00
  EXPECT_EQ(trigger["fire_unix_ms"], absl::ToUnixMillis(At("2026-11-27T14:00:00Z")));

  // Nothing is reported twice.
  daemon_->Shutdown("again");
  StartDaemon(config);
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(20)));
  EXPECT_EQ(Runs(RunStatus::kSkipped).size(), 1u);
  EXPECT_EQ(Runs(RunStatus::kPassed).size(), 1u);
}

TEST_F(DaemonTest, NotesContinueAndAbortAreJournalEvents) {
  Write("gate.yaml", "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: gate}\n"
                     "targets:\n  unused: {agents: [\"127.0.0.1:9\"]}\nmethod:\n"
                     "  - pause: {message: \"check dashboards\", timeout: 1m}\n  - wait: 100ms\n");
  StartDaemon("");
  absl::StatusOr<std::string> run_id = Submit("gate.yaml");
  ASSERT_TRUE(run_id.ok()) << run_id.status();
  v1::GetRunRequest get;
  get.set_run_id(*run_id);
  v1::GetRunResponse got;
  for (int i = 0; i < 100 && got.waiting_gate().empty(); ++i) {
    ASSERT_TRUE(daemon_->GetRun(get, &got).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(got.waiting_gate(), "1");
  EXPECT_EQ(got.waiting_message(), "check dashboards");

  v1::AddNoteRequest note;
  note.set_run_id(*run_id);
  note.set_text("latency graph spiking");
  note.set_author("bob");
  v1::ControlResponse control;
  ASSERT_TRUE(daemon_->AddNote(note, &control).ok());
  EXPECT_EQ(control.run_id(), *run_id);
  note.set_text("");
  EXPECT_EQ(daemon_->AddNote(note, &control).code(), absl::StatusCode::kInvalidArgument);

  v1::ContinueRunRequest cont;
  cont.set_run_id(*run_id);
  cont.set_by("bob");
  ASSERT_TRUE(daemon_->ContinueRun(cont, &control).ok());
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(20)));
  auto run = daemon_->store()->GetRun(*run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kPassed);
  EXPECT_EQ(EventData(*run_id, "note")["text"], "latency graph spiking");
  EXPECT_EQ(EventData(*run_id, "gate.continued")["by"], "bob");

  // Finished runs take notes, not control events.
  EXPECT_EQ(daemon_->ContinueRun(cont, &control).code(), absl::StatusCode::kFailedPrecondition);
  note.set_text("review: fine");
  EXPECT_TRUE(daemon_->AddNote(note, &control).ok());
  v1::AbortRunRequest abort;
  abort.set_run_id("no-such-run");
  EXPECT_EQ(daemon_->AbortRun(abort, &control).code(), absl::StatusCode::kNotFound);
}

TEST_F(DaemonTest, AlertWebhookIsEveryRunsAlertSource) {
  Write("detect.yaml", Experiment("detect", "200ms") +
                           "expect:\n  - detect: {alert: DatabaseLatencyHigh, within: 1s}\n");
  // No receiver: nothing could be detected, so the run fails before injecting.
  StartDaemon("");
  EXPECT_EQ(daemon_->alert_webhook_address(), "");
  absl::StatusOr<std::string> refused = Submit("detect.yaml");
  if (refused.ok()) {
    ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(10)));
    nlohmann::json finished = EventData(*refused, "run.finished");
    EXPECT_EQ(finished["exit_code"], 2) << finished.dump();
    EXPECT_THAT(finished["verdict"].get<std::string>(), HasSubstr("alerts.alertmanager"));
  } else {
    EXPECT_THAT(refused.status().message(), HasSubstr("alerts.alertmanager"));
  }

  // With the receiver: the run has an alert source (the webhook board); this
  // one injects nothing, so its expectation is skipped, and it passes.
  StartDaemon("alertmanager_webhook: {listen: \"127.0.0.1:0\"}\n");
  ASSERT_THAT(daemon_->alert_webhook_address(), HasSubstr("127.0.0.1:"));
  absl::StatusOr<std::string> run_id = Submit("detect.yaml");
  ASSERT_TRUE(run_id.ok()) << run_id.status();
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(10)));
  nlohmann::json finished = EventData(*run_id, "run.finished");
  EXPECT_EQ(finished["exit_code"], 0) << finished.dump();
  EXPECT_EQ(EventData(*run_id, "drill.skipped")["reason"], "no fault was applied");
  nlohmann::json started = EventData(*run_id, "run.started");
  ASSERT_EQ(started["expect"].size(), 1u) << started.dump();
  EXPECT_EQ(started["expect"][0]["alert"], "DatabaseLatencyHigh");
}

}  // namespace
}  // namespace faultline::controller
