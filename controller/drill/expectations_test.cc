#include "controller/drill/expectations.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class FakeSource : public AlertSource {
 public:
  absl::StatusOr<std::vector<FiringAlert>> Firing() override {
    std::lock_guard lock(mu_);
    ++polls_;
    if (!error_.ok()) return error_;
    return alerts_;
  }
  std::string Describe() const override { return "fake"; }
  void Set(std::vector<FiringAlert> alerts) {
    std::lock_guard lock(mu_);
    alerts_ = std::move(alerts);
  }
  void Fail(absl::Status s) {
    std::lock_guard lock(mu_);
    error_ = std::move(s);
  }

 private:
  std::mutex mu_;
  std::vector<FiringAlert> alerts_;
  absl::Status error_;
  int polls_ = 0;
};

// Journal stand-in: every event the watcher records, in order.
class Events {
 public:
  ExpectationRecordFn Fn() {
    return [this](const std::string& type, nlohmann::json data) {
      std::lock_guard lock(mu_);
      events_.emplace_back(type, std::move(data));
    };
  }
  std::vector<nlohmann::json> OfType(const std::string& type) {
    std::lock_guard lock(mu_);
    std::vector<nlohmann::json> out;
    for (const auto& [t, d] : events_) {
      if (t == type) out.push_back(d);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, nlohmann::json>> events_;
};

Experiment Drill() {
  Experiment e;
  e.kind = "Drill";
  e.alerts.poll = milliseconds(100);
  Probe health;
  health.name = "health";
  health.interval = milliseconds(100);
  e.steady_state.push_back(health);
  return e;
}

FiringAlert Alert(const std::string& name, int64_t starts) {
  FiringAlert a;
  a.labels = {{"alertname", name}, {"job", "worker"}};
  a.starts_at_unix_ms = starts;
  return a;
}

TEST(ExpectationWatcher, DetectsAnAlertThatStartsAfterTheFirstFault) {
  Experiment e = Drill();
  e.expect_detect.push_back({.alert = "DatabaseLatencyHigh",
                             .labels = {{"job", "worker"}},
                             .within = milliseconds(5000),
                             .where = {}});
  FakeSource source;
  Events events;
  StopSignal stop;
  ExpectationWatcher watcher(e, &source, events.Fn());
  const int64_t fault = NowMs();
  watcher.FaultApplied(fault);
  watcher.FaultApplied(fault + 50);  // only the first counts
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_TRUE(events.OfType("drill.detected").empty());
  source.Set({Alert("Other", fault + 10), Alert("DatabaseLatencyHigh", fault + 200)});
  ExpectationSummary summary = watcher.Finish(&stop);
  auto detected = events.OfType("drill.detected");
  ASSERT_EQ(detected.size(), 1u);
  const nlohmann::json& d = detected[0];
  EXPECT_EQ(d["alert"], "DatabaseLatencyHigh");
  EXPECT_EQ(d["first_fault_unix_ms"], fault);
  EXPECT_EQ(d["alert_starts_unix_ms"], fault + 200);
  EXPECT_EQ(d["time_to_fire_ms"], 200);
  EXPECT_EQ(d["within_ms"], 5000);
  EXPECT_EQ(d["source"], "fake");
  EXPECT_EQ(d["labels"]["job"], "worker");
  // Seen by the first poll after the alert appeared (300 ms on, 100 ms polls).
  EXPECT_GE(d["time_to_detect_ms"].get<int64_t>(), 300);
  EXPECT_EQ(d["time_to_detect_ms"].get<int64_t>(), d["seen_unix_ms"].get<int64_t>() - fault);
  EXPECT_TRUE(events.OfType("drill.missed").empty());
  EXPECT_TRUE(summary.missed.empty());
  ASSERT_EQ(summary.met.size(), 1u);
  EXPECT_THAT(summary.met[0], HasSubstr("DatabaseLatencyHigh detected after"));
}

TEST(ExpectationWatcher, PreExistingAlertIsIgnoredAndTheExpectationMissed) {
  Experiment e = Drill();
  e.expect_detect.push_back(
      {.alert = "DatabaseLatencyHigh", .labels = {}, .within = milliseconds(400), .where = {}});
  FakeSource source;
  const int64_t fault = NowMs();
  source.Set({Alert("DatabaseLatencyHigh", fault - 60000)});
  Events events;
  StopSignal stop;
  ExpectationWatcher watcher(e, &source, events.Fn());
  watcher.FaultApplied(fault);
  ExpectationSummary summary = watcher.Finish(&stop);
  EXPECT_TRUE(events.OfType("drill.detected").empty());
  auto missed = events.OfType("drill.missed");
  ASSERT_EQ(missed.size(), 1u);
  EXPECT_EQ(missed[0]["expectation"], "detect");
  EXPECT_EQ(missed[0]["alert"], "DatabaseLatencyHigh");
  EXPECT_EQ(missed[0]["within_ms"], 400);
  EXPECT_THAT(missed[0]["reason"].get<std::string>(), HasSubstr("already firing before"));
  ASSERT_EQ(summary.missed.size(), 1u);
  EXPECT_THAT(summary.missed[0], HasSubstr("detect DatabaseLatencyHigh within 400ms"));
}

TEST(ExpectationWatcher, UnreadableSourceIsNamedInTheMiss) {
  Experiment e = Drill();
  e.expect_detect.push_back({.alert = "A", .labels = {}, .within = milliseconds(300), .where = {}});
  FakeSource source;
  source.Fail(absl::UnavailableError("alertmanager http://x: connection refused"));
  Events events;
  StopSignal stop;
  ExpectationWatcher watcher(e, &source, events.Fn());
  watcher.FaultApplied(NowMs());
  watcher.Finish(&stop);
  auto missed = events.OfType("drill.missed");
  ASSERT_EQ(missed.size(), 1u);
  EXPECT_THAT(missed[0]["reason"].get<std::string>(), HasSubstr("connection refused"));
}

TEST(ExpectationWatcher, RecoveryIsTheFirstPassAfterTheLastRevert) {
  Experiment e = Drill();
  e.expect_recover.push_back({.probe = "health",
                              .within = milliseconds(5000),
                              .from = RecoverFrom::kLastRevert,
                              .where = {}});
  std::atomic<bool> healthy{false};
  Events events;
  StopSignal stop;
  ExpectationWatcher watcher(e, nullptr, events.Fn(), [&](const Probe&) {
    ProbeResult r;
    r.ok = healthy.load();
    if (!r.ok) r.error = "status 503";
    return r;
  });
  watcher.FaultApplied(NowMs());
  std::this_thread::sleep_for(milliseconds(250));
  const int64_t revert = NowMs();
  watcher.FaultReverted(revert - 100);
  watcher.FaultReverted(revert);  // the last one is the reference
  std::thread heal([&] {
    std::this_thread::sleep_for(milliseconds(300));
    healthy = true;
  });
  ExpectationSummary summary = watcher.Finish(&stop);
  heal.join();
  auto recovered = events.OfType("drill.recovered");
  ASSERT_EQ(recovered.size(), 1u);
  const nlohmann::json& r = recovered[0];
  EXPECT_EQ(r["reference_unix_ms"], revert);
  EXPECT_EQ(r["from"], "last-revert");
  EXPECT_EQ(r["never_deviated"], false);
  // The probe history: the first passing sample at/after the reference.
  int64_t first_pass = 0;
  for (const nlohmann::json& p : events.OfType("probe.result")) {
    EXPECT_EQ(p["phase"], "recover");
    if (p["ok"] == true && p["at_unix_ms"].get<int64_t>() >= revert && first_pass == 0) {
      first_pass = p["at_unix_ms"].get<int64_t>();
    }
  }
  EXPECT_EQ(r["recovered_unix_ms"], first_pass);
  EXPECT_EQ(r["time_to_recover_ms"], first_pass - revert);
  EXPECT_GE(r["time_to_recover_ms"].get<int64_t>(), 300);
  EXPECT_TRUE(summary.missed.empty());
  EXPECT_THAT(summary.met[0], HasSubstr("health recovered"));
}

TEST(ExpectationWatcher, ProbeThatNeverFailedNeverDeviated) {
  Experiment e = Drill();
  e.expect_recover.push_back({.probe = "health",
                              .within = milliseconds(200),
                              .from = RecoverFrom::kFirstFault,
                              .where = {}});
  Events events;
  StopSignal stop;
  ExpectationWatcher watcher(e, nullptr, events.Fn(), [](const Probe&) {
    ProbeResult r;
    r.ok = true;
    return r;
  });
  const int64_t fault = NowMs();
  watcher.FaultApplied(fault);
  // Longer than `within`: passing all along is not "still failing".
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_TRUE(events.OfType("drill.recovered").empty());  // not yet known: method runs
  EXPECT_TRUE(events.OfType("drill.missed").empty());
  watcher.FaultReverted(NowMs());
  watcher.Finish(&stop);
  auto recovered = events.OfType("drill.recovered");
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0]["never_deviated"], true);
  EXPECT_EQ(recovered[0]["time_to_recover_ms"], 0);
  EXPECT_EQ(recovered[0]["reference_unix_ms"], fault);
  EXPECT_EQ(recovered[0]["recovered_unix_ms"], fault);
}

TEST(ExpectationWatcher, FirstFaultRecoveryIsJudgedWhileTheMethodRuns) {
  Experiment e = Drill();
  e.expect_recover.push_back({.probe = "health",
                              .within = milliseconds(5000),
                              .from = RecoverFrom::kFirstFault,
                              .where = {}});
  std::atomic<bool> healthy{false};
  Events events;
  StopSignal stop;
  ExpectationWatcher watcher(e, nullptr, events.Fn(), [&](const Probe&) {
    ProbeResult r;
    r.ok = healthy.load();
    return r;
  });
  const int64_t fault = NowMs();
  watcher.FaultApplied(fault);
  std::this_thread::sleep_for(milliseconds(250));
  healthy = true;
  std::this_thread::sleep_for(milliseconds(400));
  auto recovered = events.OfType("drill.recovered");  // before Finish
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0]["from"], "first-fault");
  EXPECT_EQ(recovered[0]["reference_unix_ms"], fault);
  EXPECT_GE(recovered[0]["time_to_recover_ms"].get<int64_t>(), 250);
  EXPECT_EQ(recovered[0]["never_deviated"], false);
  watcher.FaultReverted(NowMs());
  ExpectationSummary summary = watcher.Finish(&stop);
  EXPECT_EQ(events.OfType("drill.recovered").size(), 1u);
  EXPECT_THAT(summary.met[0], HasSubstr("after the first fault"));
}

TEST(ExpectationWatcher, ProbeStillFailingIsMissedAtTheDeadline) {
  Experiment e = Drill();
  e.expect_recover.push_back({.probe = "health",
                              .within = milliseconds(300),
                              .from = RecoverFrom::kLastRevert,
                              .where = {}});
  e.expect_recover.push_back({.probe = "nonexistent",
                              .within = milliseconds(300),
                              .from = RecoverFrom::kLastRevert,
                              .where = {}});
  Events events;
  StopSignal stop;
  ExpectationWatcher watcher(e, nullptr, events.Fn(), [](const Probe&) {
    ProbeResult r;
    r.error = "connection refused";
    return r;
  });
  watcher.FaultApplied(NowMs());
  watcher.FaultReverted(NowMs());
  const auto start = std::chrono::steady_clock::now();
  ExpectationSummary summary = watcher.Finish(&stop);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto missed = events.OfType("drill.missed");
  ASSERT_EQ(missed.size(), 2u);
  EXPECT_EQ(missed[0]["probe"], "nonexistent");
  EXPECT_THAT(missed[0]["reason"].get<std::string>(), HasSubstr("no steady_state probe"));
  EXPECT_EQ(missed[1]["probe"], "health");
  EXPECT_THAT(missed[1]["reason"].get<std::string>(),
              HasSubstr("still failing 300ms after the last revert: connection refused"));
  EXPECT_EQ(summary.missed.size(), 2u);
  EXPECT_TRUE(events.OfType("drill.recovered").empty());
}

TEST(ExpectationWatcher, StopEndsTheWait) {
  Experiment e = Drill();
  e.expect_detect.push_back(
      {.alert = "Never", .labels = {}, .within = std::chrono::hours(1), .where = {}});
  FakeSource source;
  Events events;
  StopSignal stop;
  ExpectationWatcher watcher(e, &source, events.Fn());
  watcher.FaultApplied(NowMs());
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(200));
    stop.Stop("ctrl-c");
  });
  const auto start = std::chrono::steady_clock::now();
  watcher.Finish(&stop);
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto missed = events.OfType("drill.missed");
  ASSERT_EQ(missed.size(), 1u);
  EXPECT_THAT(missed[0]["reason"].get<std::string>(), HasSubstr("stopped"));
}

TEST(ExpectationWatcher, NothingAppliedIsSkipped) {
  Experiment e = Drill();
  e.expect_detect.push_back({.alert = "A", .labels = {}, .within = milliseconds(100), .where = {}});
  FakeSource source;
  Events events;
  StopSignal stop;
  ExpectationWatcher watcher(e, &source, events.Fn());
  ExpectationSummary summary = watcher.Finish(&stop);
  ASSERT_EQ(events.OfType("drill.skipped").size(), 1u);
  EXPECT_EQ(events.OfType("drill.skipped")[0]["reason"], "no fault was applied");
  EXPECT_TRUE(events.OfType("drill.missed").empty());
  EXPECT_TRUE(summary.missed.empty());
}

}  // namespace
}  // namespace faultline::controller
