// PromQL probes against a real Prometheus (the Debian binary, started on
// loopback by tests/prometheus.h) scraping a real faultline-demo:
//   - the probe reads `up{job="demo"}` == 1 and the demo's own metrics;
//   - a run whose during-probe watches that query is aborted by abort_when
//     once process.pause stops the demo (scrapes time out, up drops to 0):
//     exit 3, the failing probe, the abort and its revert in the journal, and
//     the demo running again afterwards.
#include <signal.h>

#include <cmath>
#include <fstream>

#include "controller/probes/probe.h"
#include "controller/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/prometheus.h"
#include "tests/test_util.h"

namespace faultline::testing {
namespace {

using controller::Comparison;
using controller::Probe;
using controller::ProbeKind;
using controller::ProbeResult;
using controller::RunProbe;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

class RealPrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    controller::InitProbes();
    demo_ = StartDemo(dir_.File("demo.log"));
    ASSERT_GT(demo_.port, 0) << ReadFile(dir_.File("demo.log"));
    auto started = PrometheusServer::Start(
        {{.job = "demo", .address = "127.0.0.1:" + std::to_string(demo_.port)}});
    ASSERT_TRUE(started.ok()) << started.status();
    prometheus_ = std::move(*started);
    // The first scrape lands within a scrape interval or two of start.
    auto up = prometheus_->WaitFor("up{job=\"demo\"}", seconds(20),
                                   [](double v) { return v == 1; });
    ASSERT_EQ(up, 1.0) << prometheus_->Log();
  }

  void TearDown() override {
    // Never leave the demo stopped, whatever the test did.
    if (demo_.child.pid() > 0) demo_.child.Signal(SIGCONT);
  }

  Probe Prom(const std::string& query, Comparison op, double value, double high = 0) {
    Probe p{.name = "prom", .kind = ProbeKind::kPrometheus};
    p.server = prometheus_->url();
    p.query = query;
    p.op = op;
    p.value = value;
    p.value_high = high;
    p.timeout = seconds(5);
    return p;
  }

  TempDir dir_;
  DemoProcess demo_;
  std::unique_ptr<PrometheusServer> prometheus_;
};

TEST_F(RealPrometheusTest, ProbeReadsRealQueries) {
  ProbeResult r = RunProbe(Prom("up{job=\"demo\"}", Comparison::kEqual, 1));
  EXPECT_TRUE(r.ok) << r.error;
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(*r.value, 1);
  EXPECT_EQ(r.detail, "value 1 for up{instance=\"127.0.0.1:" + std::to_string(demo_.port) +
                          "\", job=\"demo\"}");

  // The demo's own gauge, a scalar() and an aggregation.
  EXPECT_TRUE(RunProbe(Prom("demo_up", Comparison::kGreaterEqual, 1)).ok);
  r = RunProbe(Prom("scalar(demo_up) * 2", Comparison::kBetween, 1.5, 2.5));
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail, "value 2");
  EXPECT_TRUE(RunProbe(Prom("sum(demo_requests_total) + 1", Comparison::kGreater, 0)).ok);

  r = RunProbe(Prom("up{job=\"demo\"}", Comparison::kEqual, 0));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "prometheus: got 1, want == 0");
  r = RunProbe(Prom("up{job=\"no-such-job\"}", Comparison::kEqual, 1));
  EXPECT_EQ(r.error, "prometheus: query returned 0 series, expected 1");
  r = RunProbe(Prom("up{job=\"demo\"} or vector(5)", Comparison::kEqual, 1));
  EXPECT_EQ(r.error, "prometheus: query returned 2 series, expected 1");
  r = RunProbe(Prom("up{job=\"demo\"", Comparison::kEqual, 1));
  EXPECT_THAT(r.error, HasSubstr("prometheus: query failed: bad_data: "));
  r = RunProbe(Prom("scalar(up{job=\"no-such-job\"})", Comparison::kLess, 1));
  EXPECT_EQ(r.error, "prometheus: got NaN, want < 1 (NaN never compares true)");
  EXPECT_FALSE(r.value.has_value());
}

TEST_F(RealPrometheusTest, ProbeFailsWhileTheTargetIsStopped) {
  // Not through faultline: stop the demo by hand and watch the metric fall.
  demo_.child.Signal(SIGSTOP);
  auto down = prometheus_->WaitFor("up{job=\"demo\"}", seconds(15),
                                   [](double v) { return v == 0; });
  demo_.child.Signal(SIGCONT);
  ASSERT_EQ(down, 0.0) << prometheus_->Log();
  auto up = prometheus_->WaitFor("up{job=\"demo\"}", seconds(15),
                                 [](double v) { return v == 1; });
  EXPECT_EQ(up, 1.0);
}

std::string RunIdFrom(const std::string& output) {
  auto pos = output.find("run id:");
  if (pos == std::string::npos) return "";
  pos = output.find_first_not_of(' ', pos + 7);
  return output.substr(pos, output.find_first_of(" \n", pos) - pos);
}

TEST_F(RealPrometheusTest, DuringProbeAbortsTheRunWhenTheMetricBreaks) {
  const pid_t demo_pid = demo_.child.pid();
  const std::string file = dir_.File("abort.yaml");
  std::ofstream(file) << R"(apiVersion: faultline/v1
kind: Experiment
metadata: {name: prometheus-abort}
steady_state:
  - name: demo-up
    prometheus: {server: ")" << prometheus_->url()
                      << R"(", query: 'up{job="demo"}', op: "==", value: 1}
    timeout: 2s
    when: [before, during]
    interval: 500ms
abort_when:
  - {probe: demo-up, failures: 2}
method:
  - {fault: process.pause, params: {pid: )" << demo_pid << R"(}, duration: 60s}
)";
  std::string out;
  const auto start = std::chrono::steady_clock::now();
  int code = RunCommand({BinDir() + "/faultline", "run", file, "--journal", dir_.File("journal.db"),
                         "--embedded-dir", dir_.File("embedded")},
                        &out, seconds(90));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Resumed, whatever else happened.
  EXPECT_NE(ProcessState(demo_pid), 'T') << out;
  ASSERT_EQ(code, 3) << out;
  // Aborted well before the 60 s the fault was meant to last.
  EXPECT_LT(elapsed, seconds(40)) << out;

  std::string run_id = RunIdFrom(out);
  ASSERT_FALSE(run_id.empty()) << out;
  auto store = controller::OpenSqliteStore(dir_.File("journal.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  auto events = (*store)->Events(run_id);
  ASSERT_TRUE(events.ok()) << events.status();

  int64_t applied_ms = 0, first_failure_ms = 0, abort_ms = 0, reverted_ms = 0, revert_ms = -1;
  int during_failures = 0;
  bool before_passed = false;
  std::string trace;
  for (const controller::Event& e : *events) {
    trace += e.type + " " + e.data.dump() + "\n";
    if (e.type == "probe.result" && e.data.value("probe", "") == "demo-up") {
      std::string phase = e.data.value("phase", "");
      bool ok = e.data.value("ok", false);
      if (phase == "before" && ok) before_passed = true;
      if (phase == "during" && !ok) {
        ++during_failures;
        if (first_failure_ms == 0) first_failure_ms = e.unix_ms;
        EXPECT_EQ(e.data.value("error", ""), "prometheus: got 0, want == 1") << e.data.dump();
        // The measured number is journaled with the verdict.
        EXPECT_EQ(e.data.value("value", -1.0), 0.0) << e.data.dump();
      }
    }
    if (e.type == "fault.applied" && applied_ms == 0) applied_ms = e.unix_ms;
    if (e.type == "abort" && abort_ms == 0) {
      abort_ms = e.unix_ms;
      EXPECT_EQ(e.data.value("probe", ""), "demo-up") << e.data.dump();
      EXPECT_EQ(e.data.value("error", ""), "prometheus: got 0, want == 1") << e.data.dump();
    }
    if (e.type == "abort.reverted" && reverted_ms == 0) {
      reverted_ms = e.unix_ms;
      revert_ms = e.data.value("revert_ms", int64_t{-1});
      EXPECT_TRUE(e.data.value("all_reverted", false)) << e.data.dump();
    }
  }
  EXPECT_TRUE(before_passed) << trace;
  EXPECT_GE(during_failures, 2) << trace;
  EXPECT_GT(applied_ms, 0) << trace;
  EXPECT_GT(abort_ms, 0) << trace;
  EXPECT_GT(reverted_ms, 0) << trace;
  EXPECT_GE(abort_ms, first_failure_ms) << trace;
  EXPECT_GE(reverted_ms, abort_ms) << trace;
  EXPECT_GE(revert_ms, 0) << trace;
  std::printf("[ figures  ] pause applied -> first failing probe %lld ms, -> abort %lld ms; "
              "abort -> every fault reverted %lld ms (journaled revert_ms); run %lld ms\n",
              static_cast<long long>(first_failure_ms - applied_ms),
              static_cast<long long>(abort_ms - applied_ms), static_cast<long long>(revert_ms),
              static_cast<long long>(
                  std::chrono::duration_cast<milliseconds>(elapsed).count()));

  // And the metric recovers: the demo serves scrapes again.
  auto up = prometheus_->WaitFor("up{job=\"demo\"}", seconds(15),
                                 [](double v) { return v == 1; });
  EXPECT_EQ(up, 1.0);
}

}  // namespace
}  // namespace faultline::testing
