// Test-only: a drill run as the runner journals it (two hosts, a probe that
// deviates and recovers, a note with markup in it, detection, recovery and
// an abort), shared by the renderer tests and the browser test. Events are
// (offset from start, type, data) so a test can append them to a real store
// or build Event values directly.
#ifndef FAULTLINE_CONTROLLER_REPORT_REVIEW_FIXTURE_H_
#define FAULTLINE_CONTROLLER_REPORT_REVIEW_FIXTURE_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "controller/store/journal_store.h"
#include "nlohmann/json.hpp"

namespace faultline::controller::testing {

inline constexpr int64_t kDrillT0 = 1'795'789'381'000;  // 2026-11-27 14:23:01 UTC
inline constexpr char kXssNote[] = "p99 up <script>alert('x')</script> & \"quoted\"";

struct ScriptedEvent {
  int64_t offset_ms;
  std::string type;
  nlohmann::json data;
};

inline RunRecord DrillRun(const std::string& id = "20261127-142301-db-latency-drill-ab12") {
  RunRecord run;
  run.run_id = id;
  run.experiment = "db-latency-drill";
  run.experiment_path = "drills/db-latency.yaml";
  run.source_text = "apiVersion: faultline/v1\nkind: Drill\nmetadata: {name: db-latency-drill}\n";
  run.status = RunStatus::kDeviated;
  run.exit_code = 1;
  run.started_unix_ms = kDrillT0;
  run.ended_unix_ms = kDrillT0 + 200'000;
  run.controller_pid = 77;
  run.host = "ctl-01";
  run.kind = "Drill";
  run.labels = {{"team", "payments"}, {"tier", "1"}};
  return run;
}

// `detect_ms`: time to detect written by drill.detected; `recover_ms`: time
// to recover; `missed_recover`: write drill.missed for the recover
// expectation instead of drill.recovered.
inline std::vector<ScriptedEvent> DrillEvents(int64_t detect_ms = 45'000,
                                              int64_t recover_ms = 12'000,
                                              bool missed_recover = false) {
  using nlohmann::json;
  std::vector<ScriptedEvent> e;
  e.push_back({0, "run.started",
               {{"experiment", "db-latency-drill"},
                {"file", "drills/db-latency.yaml"},
                {"dry_run", false},
                {"targets", {{"db", {"db-1", "db-2"}}}},
                {"embedded", false},
                {"kind", "Drill"},
                {"hypothesis", "DatabaseLatencyHigh fires within 1m; checkout recovers within 30s"},
                {"roles", {{"incident_commander", "alice"}, {"scribe", "bob"}, {"observers", "carol, dan"}}},
                {"labels", {{"team", "payments"}, {"tier", "1"}}},
                {"owner", "payments-sre"},
                {"speed", 10},
                {"expect", json::array({{{"type", "detect"}, {"alert", "DatabaseLatencyHigh"}, {"within_ms", 60'000}},
                                        {{"type", "recover"}, {"probe", "checkout"}, {"within_ms", 30'000},
                                         {"from", "last-revert"}}})}}});
  auto probe = [&](int64_t at, bool ok, double latency, const std::string& phase = "during") {
    e.push_back({at, "probe.result",
                 {{"probe", "checkout"}, {"phase", phase}, {"ok", ok}, {"latency_ms", latency},
                  {"detail", ok ? "HTTP 200" : "HTTP 503"}, {"error", ok ? "" : "status 503, want 200"}}});
  };
  probe(1'000, true, 12, "before");
  e.push_back({2'000, "step.started", {{"index", "1"}, {"kind", "parallel"}, {"label", "timeline"}}});
  e.push_back({5'000, "fault.applied",
               {{"fault_id", "r1-f1"}, {"kind", "network.delay"}, {"target", "db"}, {"agent", "db-1"},
                {"engine", "nfqueue"}, {"params", {{"delay", "200ms"}, {"interface", "eth0"}}},
                {"summary", "delay=200ms interface=eth0"}, {"duration_ms", 120'000}}});
  e.push_back({6'000, "fault.applied",
               {{"fault_id", "r1-f2"}, {"kind", "cpu.pressure"}, {"target", "db"}, {"agent", "db-2"},
                {"engine", "cgroup"}, {"params", {{"load", 80}}}, {"duration_ms", 60'000}}});
  for (int64_t t = 10'000; t <= 190'000; t += 10'000) {
    bool ok = t < 40'000 || t >= 140'000;
    probe(t, ok, ok ? 15 + t / 10'000.0 : 950);
  }
  e.push_back({30'000, "fault.observed",
               {{"fault_id", "r1-f2"}, {"agent", "db-2"}, {"observed", {{"load_pct", 79.6}}}}});
  e.push_back({5'000 + detect_ms, "drill.detected",
               {{"alert", "DatabaseLatencyHigh"}, {"within_ms", 60'000}, {"time_to_detect_ms", detect_ms},
                {"first_fault_unix_ms", kDrillT0 + 5'000}, {"seen_unix_ms", kDrillT0 + 5'000 + detect_ms},
                {"source", "http://127.0.0.1:9093"}}});
  e.push_back({66'000, "fault.reverted",
               {{"fault_id", "r1-f2"}, {"kind", "cpu.pressure"}, {"agent", "db-2"},
                {"reason", "duration elapsed"}, {"observed", {{"load_pct", 80.1}}}}});
  e.push_back({70'000, "note", {{"author", "bob"}, {"text", kXssNote}, {"source", "terminal"}}});
  e.push_back({125'000, "fault.reverted",
               {{"fault_id", "r1-f1"}, {"kind", "network.delay"}, {"agent", "db-1"},
                {"reason", "duration elapsed"}, {"observed", {{"packets_delayed", 5120}}}}});
  if (missed_recover) {
    e.push_back({155'000, "drill.missed",
                 {{"expectation", "recover"}, {"probe", "checkout"}, {"within_ms", 30'000},
                  {"reason", "checkout still failing 30s after the last revert"}}});
  } else {
    e.push_back({125'000 + recover_ms, "drill.recovered",
                 {{"probe", "checkout"}, {"within_ms", 30'000}, {"from", "last-revert"},
                  {"reference_unix_ms", kDrillT0 + 125'000}, {"time_to_recover_ms", recover_ms},
                  {"recovered_unix_ms", kDrillT0 + 125'000 + recover_ms}}});
  }
  e.push_back({150'000, "abort", {{"reason", "operator pressed stop"}, {"condition", "manual"}}});
  probe(195'000, true, 14, "after");
  e.push_back({199'000, "run.finished",
               {{"status", "deviated"}, {"exit_code", 1},
                {"verdict", "deviated: steady state deviated: checkout (during) failed"}}});
  // The journal is in time order, as the runner writes it.
  std::stable_sort(e.begin(), e.end(), [](const ScriptedEvent& a, const ScriptedEvent& b) {
    return a.offset_ms < b.offset_ms;
  });
  return e;
}

inline std::vector<Event> ToEvents(const RunRecord& run, const std::vector<ScriptedEvent>& scripted) {
  std::vector<Event> out;
  int64_t seq = 1;
  for (const ScriptedEvent& s : scripted) {
    Event e;
    e.seq = seq++;
    e.run_id = run.run_id;
    e.unix_ms = run.started_unix_ms + s.offset_ms;
    e.type = s.type;
    e.data = s.data;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace faultline::controller::testing

#endif  // FAULTLINE_CONTROLLER_REPORT_REVIEW_FIXTURE_H_
