// Drills against a real Prometheus and a real Alertmanager (Debian packages,
// on loopback, tests/prometheus.h and tests/alertmanager.h):
//
//   db      faultline-demo (the "database")
//   worker  faultline-demo --backend http://db/health, exporting
//           demo_backend_latency_seconds / demo_backend_up
//   Prometheus scrapes the worker every 1 s and evaluates every 1 s
//           DatabaseLatencyHigh: demo_backend_latency_seconds > 0.5 (for: 0s),
//           sending to Alertmanager.
//
// A kind: Drill (YAML, through ParseExperiment) pauses the db process (by the
// pid of the db we started) for 4 s through an embedded agent, expecting the
// alert within 30 s and the worker's backend (a PromQL probe
// demo_backend_up == 1) back within 30 s of the revert. The Runner runs
// in-process with a temporary SQLite journal. The test checks the measured
// time to detect against the alert's real firing time read back from
// Prometheus, and the measured time to recover against the journaled probe
// history. The same drill without alerts.alertmanager detects through serve's
// webhook receiver, fed by the real Alertmanager. Further cases: an alert that never fires (drill.missed, exit 1), a
// detect expectation with no alert source (exit 2, nothing injected), a dry
// run (expectations skipped), and metadata in run.started.
#include <signal.h>

#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "controller/probes/probe.h"
#include "controller/run/embedded_agent.h"
#include "controller/run/runner.h"
#include "controller/serve/alert_webhook.h"
#include "controller/spec/experiment.h"
#include "controller/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/alertmanager.h"
#include "tests/prometheus.h"
#include "tests/test_util.h"

namespace faultline::testing {
namespace {

using controller::Event;
using controller::Experiment;
using controller::RunOptions;
using controller::RunOutcome;
using controller::Runner;
using controller::StopSignal;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using Steady = std::chrono::steady_clock;

constexpr char kRules[] = R"(groups:
  - name: drill
    rules:
      - alert: DatabaseLatencyHigh
        expr: demo_backend_latency_seconds{job="worker"} > 0.5
        for: 0s
        labels: {severity: page}
)";

// faultline-demo with extra flags; port read from its "listening on" line.
DemoProcess StartDemoWith(const std::vector<std::string>& flags, const std::string& log) {
  std::vector<std::string> argv = {BinDir() + "/faultline-demo", "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  DemoProcess demo;
  demo.child = Child(argv, log);
  const auto deadline = Steady::now() + seconds(10);
  while (Steady::now() < deadline && demo.port == 0) {
    std::string text = ReadFile(log);
    auto pos = text.find("listening on 127.0.0.1:");
    if (pos != std::string::npos) demo.port = std::atoi(text.c_str() + pos + 23);
    std::this_thread::sleep_for(milliseconds(10));
  }
  return demo;
}

std::vector<Event> OfType(const std::vector<Event>& events, const std::string& type) {
  std::vector<Event> out;
  for (const Event& e : events) {
    if (e.type == type) out.push_back(e);
  }
  return out;
}

std::string Dump(const std::vector<Event>& events) {
  std::string out;
  for (const Event& e : events) absl::StrAppend(&out, e.unix_ms, " ", e.type, " ", e.data.dump(), "\n");
  return out;
}

class DrillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    controller::InitProbes();
    auto store = controller::OpenSqliteStore(dir_.File("journal.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    controller::EmbeddedAgentOptions embedded;
    embedded.agent_binary = BinDir() + "/faultline-agent";
    embedded.base_dir = dir_.File("embedded");
    auto agent = controller::EmbeddedAgent::Start(embedded);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    auto am = AlertmanagerServer::Start();
    ASSERT_TRUE(am.ok()) << am.status();
    alertmanager_ = std::move(*am);
  }

  void TearDown() override {
    // Never leave the db stopped, whatever the test did.
    if (db_.child.pid() > 0) db_.child.Signal(SIGCONT);
  }

  // db + worker + Prometheus with the rule, the worker's backend up.
  void StartStack() {
    db_ = StartDemoWith({}, dir_.File("db.log"));
    ASSERT_GT(db_.port, 0) << ReadFile(dir_.File("db.log"));
    worker_ = StartDemoWith({"--backend", absl::StrCat("http://127.0.0.1:", db_.port, "/health")},
                            dir_.File("worker.log"));
    ASSERT_GT(worker_.port, 0) << ReadFile(dir_.File("worker.log"));
    PrometheusOptions options;
    options.rules = kRules;
    options.alertmanager = alertmanager_->address();
    auto started = PrometheusServer::Start(
        {{.job = "worker", .address = absl::StrCat("127.0.0.1:", worker_.port)}}, options);
    ASSERT_TRUE(started.ok()) << started.status();
    prometheus_ = std::move(*started);
    auto up = prometheus_->WaitFor("demo_backend_up{job=\"worker\"}", seconds(20),
                                   [](double v) { return v == 1; });
    ASSERT_EQ(up, 1.0) << prometheus_->Log();
  }

  RunOutcome Run(const Experiment& e, const std::string& id, bool dry_run = false,
                 controller::AlertSource* alert_source = nullptr) {
    RunOptions options;
    options.run_id = absl::StrCat(id, "-", getpid());
    options.embedded_address = agent_->address();
    options.rpc_deadline = seconds(5);
    options.observe_interval = milliseconds(1000);
    options.dry_run = dry_run;
    options.alert_source = alert_source;
    run_id_ = options.run_id;
    StopSignal stop;
    Runner runner(e, store_.get(), &stop, options, nullptr);
    auto outcome = runner.Run();
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? *outcome : RunOutcome{};
  }

  std::vector<Event> Events() {
    auto events = store_->Events(run_id_);
    return events.ok() ? *events : std::vector<Event>{};
  }

  // Parses a drill; PID, AM, PROM are substituted.
  Experiment Parse(const std::string& yaml, pid_t pid) {
    std::string text = absl::StrReplaceAll(
        yaml, {{"$PID", std::to_string(pid)},
               {"$AM", alertmanager_->url()},
               {"$PROM", prometheus_ ? prometheus_->url() : "http://127.0.0.1:1"}});
    std::vector<controller::Diagnostic> diagnostics;
    auto e = controller::ParseExperiment(text, "drill.yaml", &diagnostics);
    std::string problems;
    for (const auto& d : diagnostics) absl::StrAppend(&problems, d.ToString(), "\n");
    EXPECT_TRUE(e.ok()) << e.status() << "\n" << problems;
    return e.ok() ? *e : Experiment{};
  }

  // Timestamp (ms) of the first sample of the firing ALERTS series of
  // `alert` in the last two minutes: the evaluation at which Prometheus
  // fired it. nullopt when it never fired.
  std::optional<int64_t> FiredAtMs(const std::string& alert) {
    httplib::Client client("127.0.0.1", prometheus_->port());
    client.set_read_timeout(seconds(5));
    auto res = client.Get(
        "/api/v1/query",
        httplib::Params{{"query", absl::StrCat("ALERTS{alertname=\"", alert,
                                               "\",alertstate=\"firing\"}[2m]")}},
        httplib::Headers{});
    if (!res || res->status != 200) return std::nullopt;
    nlohmann::json doc = nlohmann::json::parse(res->body, nullptr, false);
    if (doc.is_discarded()) return std::nullopt;
    std::optional<int64_t> first;
    for (const auto& series : doc["data"]["result"]) {
      for (const auto& sample : series["values"]) {
        int64_t ms = static_cast<int64_t>(sample[0].get<double>() * 1000.0 + 0.5);
        if (!first || ms < *first) first = ms;
      }
    }
    return first;
  }

  TempDir dir_;
  std::unique_ptr<controller::JournalStore> store_;
  std::unique_ptr<controller::EmbeddedAgent> agent_;
  std::unique_ptr<AlertmanagerServer> alertmanager_;
  std::unique_ptr<PrometheusServer> prometheus_;
  DemoProcess db_;
  DemoProcess worker_;
  std::string run_id_;
};

constexpr char kDrill[] = R"(apiVersion: faultline/v1
kind: Drill
metadata:
  name: db-pause
  owner: sre
  labels: {team: payments}
  hypothesis: "DatabaseLatencyHigh fires within 30s; the worker's backend is up within 30s of the fix"
  roles: {incident_commander: alice, scribe: bob}
alerts: {alertmanager: "$AM", poll: 500ms}
steady_state:
  - name: backend-up
    prometheus: {server: "$PROM", query: 'demo_backend_up{job="worker"}', op: "==", value: 1}
timeline:
  - at: 0s
    fault: process.pause
    params: {pid: $PID}
    duration: 4s
expect:
  - detect: {alert: DatabaseLatencyHigh, within: 30s, labels: {severity: page}}
  - recover: {probe: backend-up, within: 30s, from: last-revert}
)";

TEST_F(DrillTest, MeasuresDetectionAndRecoveryAgainstPrometheus) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  Experiment e = Parse(kDrill, db_.child.pid());
  ASSERT_EQ(e.kind, "Drill");
  RunOutcome outcome = Run(e, "drill");
  std::vector<Event> events = Events();
  ASSERT_EQ(outcome.exit_code, 0) << outcome.verdict << "\n" << Dump(events);
  EXPECT_THAT(outcome.verdict, HasSubstr("DatabaseLatencyHigh detected after"));
  EXPECT_THAT(outcome.verdict, HasSubstr("backend-up recovered"));
  EXPECT_EQ(ProcessState(db_.child.pid()), 'S');  // resumed

  // run.started carries the drill's metadata and expectations.
  auto started = OfType(events, "run.started");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].data["kind"], "Drill");
  EXPECT_EQ(started[0].data["owner"], "sre");
  EXPECT_EQ(started[0].data["speed"], 1.0);
  EXPECT_EQ(started[0].data["labels"]["team"], "payments");
  EXPECT_EQ(started[0].data["roles"]["incident_commander"], "alice");
  EXPECT_THAT(started[0].data["hypothesis"].get<std::string>(), HasSubstr("fires within 30s"));
  ASSERT_EQ(started[0].data["expect"].size(), 2u) << started[0].data.dump();
  EXPECT_EQ(started[0].data["expect"][0]["type"], "detect");
  EXPECT_EQ(started[0].data["expect"][0]["within_ms"], 30000);
  EXPECT_EQ(started[0].data["expect"][1]["from"], "last-revert");

  auto applied = OfType(events, "fault.applied");
  auto reverted = OfType(events, "fault.reverted");
  ASSERT_EQ(applied.size(), 1u) << Dump(events);
  ASSERT_EQ(reverted.size(), 1u) << Dump(events);

  // Detection, against the alert's real firing time in Prometheus.
  auto detected = OfType(events, "drill.detected");
  ASSERT_EQ(detected.size(), 1u) << Dump(events);
  const nlohmann::json& d = detected[0].data;
  const int64_t first_fault = d["first_fault_unix_ms"];
  const int64_t ttd = d["time_to_detect_ms"];
  EXPECT_NEAR(first_fault, applied[0].unix_ms, 50);  // runner's stamp vs the store's
  EXPECT_EQ(d["source"], "alertmanager " + alertmanager_->url());
  EXPECT_EQ(d["labels"]["severity"], "page");
  std::optional<int64_t> fired = FiredAtMs("DatabaseLatencyHigh");
  ASSERT_TRUE(fired.has_value()) << prometheus_->Log();
  const int64_t real_ttf = *fired - first_fault;
  // Alertmanager's startsAt is Prometheus' firing time (FiredAt).
  ASSERT_TRUE(d.contains("alert_starts_unix_ms")) << d.dump();
  EXPECT_NEAR(d["alert_starts_unix_ms"].get<int64_t>(), *fired, 5);
  // The fault must cause the alert: the worker's request in flight passes
  // 0.5 s, the next scrape (<= 1 s) sees it, the next evaluation fires.
  EXPECT_GT(real_ttf, 500);
  EXPECT_LT(real_ttf, 4000);
  // Measured vs real: we can only see the alert after Prometheus fired it
  // (-100 ms for clock granularity between the evaluation timestamp and the
  // wall clock), and we see it at the latest one poll interval (500 ms) after
  // Alertmanager has it; Prometheus sends a newly firing alert right after the
  // evaluation. One evaluation interval (1 s) covers the send and the two
  // HTTP hops with a wide margin on a loaded 2-core machine. The scrape
  // interval does not enter: both figures are after the same scrape.
  EXPECT_GE(ttd - real_ttf, -100) << "ttd " << ttd << " real " << real_ttf;
  EXPECT_LE(ttd - real_ttf, 500 + 1000) << "ttd " << ttd << " real " << real_ttf;
  std::printf("time to detect %lld ms; Prometheus fired %lld ms after the first fault "
              "(difference %lld ms)\n",
              static_cast<long long>(ttd), static_cast<long long>(real_ttf),
              static_cast<long long>(ttd - real_ttf));

  // Recovery, against the journaled probe history.
  auto recovered = OfType(events, "drill.recovered");
  ASSERT_EQ(recovered.size(), 1u) << Dump(events);
  const nlohmann::json& r = recovered[0].data;
  const int64_t reference = r["reference_unix_ms"];
  EXPECT_NEAR(reference, reverted[0].unix_ms, 50);
  EXPECT_EQ(r["never_deviated"], false);
  bool failed_before = false;
  std::optional<int64_t> first_pass;
  for (const Event& p : OfType(events, "probe.result")) {
    if (p.data["phase"] != "recover") continue;
    const int64_t at = p.data["at_unix_ms"];
    if (p.data["ok"] == false && at >= first_fault) failed_before = true;
    if (p.data["ok"] == true && at >= reference && !first_pass) first_pass = at;
  }
  EXPECT_TRUE(failed_before) << Dump(events);  // the pause did take the backend down
  ASSERT_TRUE(first_pass.has_value()) << Dump(events);
  EXPECT_EQ(r["recovered_unix_ms"], *first_pass);
  EXPECT_EQ(r["time_to_recover_ms"], *first_pass - reference);
  std::printf("time to recover %lld ms after the revert\n",
              static_cast<long long>(*first_pass - reference));
  EXPECT_TRUE(OfType(events, "drill.missed").empty()) << Dump(events);
}

TEST_F(DrillTest, DetectsThroughServesWebhookReceiver) {
  // Alertmanager -> POST -> serve's receiver -> board -> the run's watcher.
  controller::WebhookBoard board;
  auto receiver = controller::AlertWebhookServer::Start("127.0.0.1:0", &board);
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  alertmanager_.reset();
  auto am = AlertmanagerServer::Start((*receiver)->url());
  ASSERT_TRUE(am.ok()) << am.status();
  alertmanager_ = std::move(*am);
  ASSERT_NO_FATAL_FAILURE(StartStack());
  std::string yaml = kDrill;
  yaml.replace(yaml.find("alerts: {alertmanager: \"$AM\", poll: 500ms}"),
               std::string("alerts: {alertmanager: \"$AM\", poll: 500ms}").size(),
               "alerts: {poll: 500ms}");
  Experiment e = Parse(yaml, db_.child.pid());
  ASSERT_TRUE(e.alerts.alertmanager.empty());
  RunOutcome outcome = Run(e, "webhook", /*dry_run=*/false, &board);
  std::vector<Event> events = Events();
  ASSERT_EQ(outcome.exit_code, 0) << outcome.verdict << "\n" << Dump(events);
  auto detected = OfType(events, "drill.detected");
  ASSERT_EQ(detected.size(), 1u) << Dump(events);
  const nlohmann::json& d = detected[0].data;
  EXPECT_EQ(d["source"], "webhook");
  std::optional<int64_t> fired = FiredAtMs("DatabaseLatencyHigh");
  ASSERT_TRUE(fired.has_value());
  EXPECT_NEAR(d["alert_starts_unix_ms"].get<int64_t>(), *fired, 5);
  // seen = when the receiver got Alertmanager's post: after the firing, and
  // within one evaluation interval plus Alertmanager's dispatch (group_wait
  // 0s; its dispatcher and the HTTP post take milliseconds) of it.
  const int64_t lag = d["seen_unix_ms"].get<int64_t>() - *fired;
  EXPECT_GE(lag, -100);
  EXPECT_LE(lag, 1000 + 500);
  std::printf("webhook: seen %lld ms after Prometheus fired\n", static_cast<long long>(lag));
  EXPECT_EQ(OfType(events, "drill.recovered").size(), 1u) << Dump(events);
}

constexpr char kMissing[] = R"(apiVersion: faultline/v1
kind: Drill
metadata: {name: never-fires}
alerts: {alertmanager: "$AM", poll: 200ms}
timeline:
  - {at: 0s, fault: process.pause, params: {pid: $PID}, duration: 500ms}
expect:
  - detect: {alert: NoSuchAlert, within: 2s}
)";

TEST_F(DrillTest, AlertThatNeverFiresIsMissedAndTheRunDeviates) {
  Child victim = StartVictim(dir_, "fl-drill-vic");
  Experiment e = Parse(kMissing, victim.pid());
  const auto start = Steady::now();
  RunOutcome outcome = Run(e, "missed");
  std::vector<Event> events = Events();
  EXPECT_EQ(outcome.exit_code, 1) << outcome.verdict << "\n" << Dump(events);
  EXPECT_THAT(outcome.verdict, HasSubstr("expectation missed: detect NoSuchAlert within 2s"));
  auto missed = OfType(events, "drill.missed");
  ASSERT_EQ(missed.size(), 1u) << Dump(events);
  EXPECT_EQ(missed[0].data["expectation"], "detect");
  EXPECT_EQ(missed[0].data["alert"], "NoSuchAlert");
  EXPECT_EQ(missed[0].data["within_ms"], 2000);
  EXPECT_THAT(missed[0].data["reason"].get<std::string>(), HasSubstr("did not fire"));
  // Judged at its deadline (2 s after the first fault), not much later.
  EXPECT_LT(Steady::now() - start, seconds(10));
  EXPECT_EQ(ProcessState(victim.pid()), 'S');
}

constexpr char kNoSource[] = R"(apiVersion: faultline/v1
kind: Drill
metadata: {name: no-source}
timeline:
  - {at: 0s, fault: process.pause, params: {pid: $PID}, duration: 500ms}
expect:
  - detect: {alert: DatabaseLatencyHigh, within: 1m}
)";

TEST_F(DrillTest, DetectWithoutAlertSourceFailsBeforeInjecting) {
  Child victim = StartVictim(dir_, "fl-drill-nos");
  Experiment e = Parse(kNoSource, victim.pid());
  RunOutcome outcome = Run(e, "nosource");
  std::vector<Event> events = Events();
  EXPECT_EQ(outcome.exit_code, 2) << outcome.verdict;
  EXPECT_THAT(outcome.verdict, HasSubstr("needs alerts.alertmanager"));
  EXPECT_TRUE(OfType(events, "fault.applied").empty()) << Dump(events);

  // The same drill with an alert source (serve's webhook board) may run; a
  // dry run validates and skips the expectations, saying why.
  controller::WebhookBoard board;
  outcome = Run(e, "dry", /*dry_run=*/true, &board);
  events = Events();
  EXPECT_EQ(outcome.exit_code, 0) << outcome.verdict << "\n" << Dump(events);
  auto skipped = OfType(events, "drill.skipped");
  ASSERT_EQ(skipped.size(), 1u) << Dump(events);
  EXPECT_EQ(skipped[0].data["reason"], "dry run");
  EXPECT_TRUE(OfType(events, "drill.missed").empty());
}

}  // namespace
}  // namespace faultline::testing
