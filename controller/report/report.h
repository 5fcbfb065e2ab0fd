// Renders the run journal (controller/store) for people and machines:
// `faultline report RUN --format md|json|junit` (RenderReport), `faultline
// show RUN` (RenderTimeline), `faultline runs` (RenderRunsTable), and
// `faultline run --junit FILE / --json` at the end of a run.
//
// Renderers are pure functions of a RunRecord and its events (seq order, as
// JournalStore::Events returns them). They never fail: missing or oddly typed
// event fields are left out, unknown event types are shown generically as
// `type key=value ...`, invalid UTF-8 is replaced, and terminal/XML control
// characters are neutralized. Offsets ("+MM:SS.mmm") are relative to the
// run's started_unix_ms; times are UTC. Thread-safe (no shared state).
//
// Event types understood (fields as the run engine writes them):
//   run.started {experiment, file, dry_run, targets: {name: [agents]}, embedded}
//   probe.result {probe, phase: before|after, ok, latency_ms, detail, error}
//   step.started {index, kind: fault|wait, label}
//   fault.applied {fault_id, kind, target, agent, engine, params, duration_ms, resolved, step}
//   fault.observed {fault_id, agent, observed: {name: number}}
//   fault.reverted {fault_id, kind, agent, reason, observed}
//   fault.failed {fault_id, kind, agent, error, code}
//   wait.finished {duration_ms}   lease.lost {agent, error}   run.aborted {reason}
//   run.finished {status, exit_code, verdict}   run.interrupted {reason}
//   note {author, text}
#ifndef FAULTLINE_CONTROLLER_REPORT_REPORT_H_
#define FAULTLINE_CONTROLLER_REPORT_REPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store/journal_store.h"

namespace faultline::controller {

enum class ReportFormat { kMarkdown, kJson, kJunit };

// "md" | "markdown" | "json" | "junit" (case-sensitive). InvalidArgument
// otherwise; "html" gets a message saying it arrives in a later release.
absl::StatusOr<ReportFormat> ParseReportFormat(const std::string& name);

// The whole report as one document.
//  kMarkdown: title, summary, steady-state, faults, timeline and notes tables,
//    then the experiment source.
//  kJson: {"report_version": 1, "run": {...}, "summary": {...},
//    "events": [{seq, unix_ms, offset_ms, type, data}]}, keys sorted, stable.
//  kJunit: one root <testsuite name="faultline.<experiment>"> (valid against
//    the Ant and Jenkins junit schemas), run metadata as <properties>, the
//    timeline as <system-out>; a testcase per probe result (classname steady_state.before/after) and per
//    method step (classname method, name "step N: label"); a fault step with a
//    fault.failed fails, a step cut short by abort / lease loss / interruption
//    errors. A run that did not pass but has no failing testcase gets one more
//    testcase (classname run, name verdict) so CI never shows it green.
std::string RenderReport(ReportFormat format, const RunRecord& run,
                         const std::vector<Event>& events);

// `faultline show RUN`: header, one "+MM:SS.mmm  event.type  details" line per
// event (details wrapped to fit 80 columns), then the verdict and a warning
// for every fault with no revert on record.
std::string RenderTimeline(const RunRecord& run, const std::vector<Event>& events);

// One event as a single line "event.type  details", for live progress
// output during `faultline run` (same wording as the timeline).
std::string DescribeEvent(const Event& event);

// `faultline runs`: one aligned row per run (id, status, start, duration,
// exit code, experiment) under a header; "No runs found." when empty.
std::string RenderRunsTable(const std::vector<RunRecord>& runs);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_REPORT_REPORT_H_
