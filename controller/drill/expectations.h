// ExpectationWatcher: measures a run's `expect:` entries -- time to detect
// (an alert firing) and time to recover (a probe passing again) -- and
// journals the outcome. The Runner owns one when the experiment has
// expectations and the run is not a dry run; it reports the first fault
// applied and every fault reverted, and calls Finish() once the method is
// over and every fault is reverted.
//
// detect {alert, labels, within}: from the first fault on, the AlertSource is
//   polled every alerts.poll. An alert matches when its "alertname" label is
//   `alert` and it carries every label of `labels`. A matching alert whose
//   startsAt is before the first fault was already firing, is not caused by
//   this run, and is ignored (it counts again only once Alertmanager reports
//   a new startsAt, i.e. after it resolved and fired anew). An alert without
//   startsAt is accepted.
//   Time to detect = seen_unix_ms - first_fault_unix_ms, where seen is the
//   poll that first returned the alert (for the webhook board: when serve
//   received it). This is the figure the expectation is judged by, because
//   it is when the people on call could have known; Alertmanager's startsAt
//   (when the rule fired) is journaled beside it as alert_starts_unix_ms and
//   time_to_fire_ms, and the two differ by at most one poll interval plus
//   Prometheus' push delay.
//   -> "drill.detected" {alert, labels, within_ms, time_to_detect_ms,
//      first_fault_unix_ms, seen_unix_ms, alert_starts_unix_ms?,
//      time_to_fire_ms?, source}
//
// recover {probe, within, from}: the steady-state probe `probe` runs every
//   min(probe.interval, alerts.poll) from the first fault on; every result is
//   journaled as "probe.result" with phase "recover" and at_unix_ms (when the
//   sample was taken: the probe's start), and kept in memory (the history).
//   The reference is the last fault reverted (from: last-revert, known once
//   Finish() is called; a probe is also run at once then) or the first fault
//   applied (from: first-fault). Recovered = the first passing sample taken
//   at or after the reference -- for first-fault, the first passing sample
//   after a failing one, since the probe usually still passes right after
//   the fault goes in. Time to recover = recovered_unix_ms - reference.
//   A probe that never failed from the first fault until it was judged
//   recovered "never deviated": drill.recovered is journaled with
//   time_to_recover_ms 0, recovered_unix_ms = reference and
//   never_deviated true (the fault did not break what the probe watches;
//   the report should say so rather than claim a fast recovery).
//   -> "drill.recovered" {probe, within_ms, from, reference_unix_ms,
//      time_to_recover_ms, recovered_unix_ms, never_deviated, samples}
//
// An expectation not met by its deadline (reference + within) is journaled
// at that moment, even while the method still runs:
//   -> "drill.missed" {expectation: "detect"|"recover", alert|probe,
//      within_ms, reason}
// Each expectation produces exactly one of detected/recovered/missed, unless
// no fault was ever applied (then Finish journals "drill.skipped" {reason,
// expectations} and nothing else).
//
// Thread-safe: FaultApplied/FaultReverted may be called from any run
// thread; the watcher runs one polling thread for the detect expectations
// and one per recover expectation, all joined by Finish() or the destructor.
#ifndef FAULTLINE_CONTROLLER_DRILL_EXPECTATIONS_H_
#define FAULTLINE_CONTROLLER_DRILL_EXPECTATIONS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/drill/alert_source.h"
#include "controller/probes/probe.h"
#include "controller/run/stop_signal.h"
#include "controller/spec/experiment.h"
#include "nlohmann/json.hpp"

namespace faultline::controller {

// Journals one event (the Runner's Record); called from the watcher's
// threads, possibly concurrently.
using ExpectationRecordFn = std::function<void(const std::string& type, nlohmann::json data)>;
// Runs a probe once (RunProbe; tests substitute their own).
using ExpectationProbeFn = std::function<ProbeResult(const Probe& probe)>;

// One measured figure per expectation, for the verdict.
struct ExpectationSummary {
  std::vector<std::string> missed;  // "detect DatabaseLatencyHigh within 30s (not firing ...)"
  std::vector<std::string> met;     // "DatabaseLatencyHigh detected after 4.2s"
};

class ExpectationWatcher {
 public:
  // `experiment` must outlive the watcher. `source` (not owned; must outlive
  // the watcher) may be null only when there is no detect expectation; a
  // recover expectation naming no steady_state probe is reported missed.
  ExpectationWatcher(const Experiment& experiment, AlertSource* source,
                     ExpectationRecordFn record, ExpectationProbeFn run_probe = RunProbe);
  ~ExpectationWatcher();  // stops and joins its threads; journals nothing
  ExpectationWatcher(const ExpectationWatcher&) = delete;
  ExpectationWatcher& operator=(const ExpectationWatcher&) = delete;

  // A fault was applied at `unix_ms`. The first call sets the first fault
  // and starts the polling threads; later calls do nothing.
  void FaultApplied(int64_t unix_ms);
  // A fault was reverted at `unix_ms`; the latest is the last revert.
  void FaultReverted(int64_t unix_ms);

  // The method is over and every fault reverted. Waits until every
  // expectation is met or missed (each is bounded by its `within`), or until
  // `stop` is signalled (then the unresolved ones are journaled missed,
  // "the run was stopped ..."). Joins the threads. Call once.
  ExpectationSummary Finish(StopSignal* stop);

 private:
  struct Detect;
  struct Recover;

  void DetectLoop();
  void RecoverLoop(Recover* r);
  // Journals and marks one expectation missed; requires mu_ held by caller.
  void MissLocked(const std::string& expectation, const std::string& name,
                  std::chrono::milliseconds within, const std::string& reason);
  bool AllResolvedLocked() const;

  const Experiment& experiment_;
  AlertSource* const source_;
  const ExpectationRecordFn record_;
  const ExpectationProbeFn run_probe_;

  std::mutex mu_;
  std::condition_variable cv_;  // state changes: resolved, method over, stopping
  int64_t first_fault_unix_ms_ = 0;  // 0 until the first FaultApplied
  int64_t last_revert_unix_ms_ = 0;
  bool method_over_ = false;  // Finish() was called
  bool stopping_ = false;
  std::vector<std::unique_ptr<Detect>> detects_;    // guarded by mu_
  std::vector<std::unique_ptr<Recover>> recovers_;  // guarded by mu_
  ExpectationSummary summary_;                      // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_DRILL_EXPECTATIONS_H_
