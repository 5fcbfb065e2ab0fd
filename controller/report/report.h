// Renders the run journal (controller/store) for people and machines:
// `faultline report RUN --format md|html|json|junit` (RenderReport),
// `faultline report RUN --postmortem` (RenderPostmortem), `faultline show
// RUN` (RenderTimeline), `faultline runs` (RenderRunsTable), `faultline
// compare A B` (RenderComparison), and `faultline run --junit FILE / --json`
// at the end of a run.
//
// Renderers are pure functions of a RunRecord and its events (seq order, as
// JournalStore::Events returns them). They never fail: missing or oddly typed
// event fields are left out, unknown event types are shown generically as
// `type key=value ...`, invalid UTF-8 is replaced, and terminal/XML control
// characters are neutralized. Offsets ("+MM:SS.mmm") are relative to the
// run's started_unix_ms; times are UTC. Thread-safe (no shared state).
//
// Event types understood (fields as the run engine writes them):
//   run.started {experiment, file, dry_run, targets: {name: [agents]}, embedded,
//                kind, hypothesis, roles: {role: who}, labels: {k: v}, owner,
//                speed, expect: [{type: detect, alert, within_ms} |
//                                {type: recover, probe, within_ms, from}]}
//   probe.result {probe, phase: before|after, ok, latency_ms, detail, error}
//   step.started {index, kind: fault|wait, label}
//   fault.applied {fault_id, kind, target, agent, engine, params, duration_ms, resolved, step}
//   fault.observed {fault_id, agent, observed: {name: number}}
//   fault.reverted {fault_id, kind, agent, reason, observed}
//   fault.failed {fault_id, kind, agent, error, code}
//   wait.finished {duration_ms}   lease.lost {agent, error}   run.aborted {reason}
//   run.finished {status, exit_code, verdict}   run.interrupted {reason}
//   note {author, text}   abort {reason, condition}
//   drill.detected {alert, within_ms, time_to_detect_ms, first_fault_unix_ms,
//                   seen_unix_ms, alert_starts_unix_ms, source}
//   drill.recovered {probe, within_ms, from, reference_unix_ms,
//                    time_to_recover_ms, recovered_unix_ms}
//   drill.missed {expectation: detect|recover, alert|probe, within_ms, reason}
// A detect/recover measurement larger than its within_ms counts as missed.
// Every format shows metadata.hypothesis and metadata.roles when recorded.
#ifndef FAULTLINE_CONTROLLER_REPORT_REPORT_H_
#define FAULTLINE_CONTROLLER_REPORT_REPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store/journal_store.h"

namespace faultline::controller {

enum class ReportFormat { kMarkdown, kHtml, kJson, kJunit };

// "md" | "markdown" | "html" | "json" | "junit" (case-sensitive).
// InvalidArgument naming the valid values otherwise.
absl::StatusOr<ReportFormat> ParseReportFormat(const std::string& name);

// The whole report as one document.
//  kMarkdown: title, hypothesis and roles, summary, expectations (time to
//    detect / recover), steady-state (with deviation spans), faults, timeline
//    and notes tables, then the experiment source.
//  kHtml: one self-contained HTML5 document: inline CSS, no script, no
//    src/href at all (nothing is fetched; URLs from the journal are text).
//    An inline <svg class="timeline"> (x = offset from run start, tick labels
//    <text class="tick" data-offset-ms>) holds:
//      <g class="lane host-lane" data-host=H>, one per agent with a fault,
//        each fault a <g class="fault-bar [open|failed]" data-kind
//        data-fault-id data-host data-applied-ms data-reverted-ms> from
//        applied to reverted ("open": no revert, drawn to the end; "failed":
//        never applied) labelled "kind params", <title> with all figures;
//      <g class="lane probe-lane" data-probe=P>, one per probe, a
//        <circle class="probe-mark pass|fail" data-probe data-phase
//        data-offset-ms> per result (height = latency, <title> = values),
//        a <polyline class="probe-series"> and <rect class="deviation"> spans;
//      <g class="lane expect-lane"> when expectations have targets: per
//        expectation a <g class="expect-window met|missed|pending"
//        data-expectation=NAME data-outcome> from its reference (first fault
//        or last revert) to reference + within;
//      <g class="marker K" data-kind=K data-offset-ms>, K one of note,
//        detect, recover, missed, abort, lease, interrupt: a vertical line
//        and a label.
//    Then sections #context (hypothesis, roles dt.role[data-role], labels),
//    #summary, #expectations, #faults, #probes, #notes, #events, #source.
//  kJson: {"report_version": 1, "run": {... kind, hypothesis, owner, roles,
//    labels, speed}, "summary": {...}, "expectations": [{type, subject, name,
//    within_ms, from, outcome: met|missed|pending, measured_ms, at_offset_ms,
//    reference_offset_ms, source, reason}], "deviations": [{probe,
//    start_offset_ms, end_offset_ms (null: never passed again), duration_ms,
//    failures}], "events": [{seq, unix_ms, offset_ms, type, data}]}, keys
//    sorted, stable.
//  kJunit: one root <testsuite name="faultline.<experiment>">, run metadata
//    as <properties>, the
//    timeline as <system-out>; a testcase per probe result (classname steady_state.before/after) and per
//    method step (classname method, name "step N: label"); a fault step with a
//    fault.failed fails, a step cut short by abort / lease loss / interruption
//    errors; a testcase per expectation (classname drill, name e.g. "detect
//    DatabaseLatencyHigh within 5m"), failing with the measured figures when
//    missed, skipped while still pending. Hypothesis and roles are properties
//    (hypothesis, role.<name>). A run that did not pass but has no failing
//    testcase gets one more testcase (classname run, name verdict) so CI never
//    shows it green. Valid against report/testdata/junit.xsd.
std::string RenderReport(ReportFormat format, const RunRecord& run,
                         const std::vector<Event>& events);

// `faultline report RUN --postmortem`: a blameless post-mortem draft in
// Markdown, prefilled from the journal -- title, hypothesis and roles,
// summary, impact (which probes deviated and for how long), detection and
// recovery (time to detect / recover against the targets), timeline (faults,
// probe deviations, notes, aborts, detection and recovery in time order), then
// empty sections for contributing factors (five whys), what went well, what
// could go better, and action items with owners.
std::string RenderPostmortem(const RunRecord& run, const std::vector<Event>& events);

enum class CompareFormat { kText, kMarkdown, kJson };

// "text" | "md" | "markdown" | "json". InvalidArgument otherwise.
absl::StatusOr<CompareFormat> ParseCompareFormat(const std::string& name);

// `faultline compare A B`: the two runs side by side, one row per figure
// with a delta column (B - A for times and counts): status, verdict, kind,
// start, duration, faults applied / failed / left without revert, probe
// results and failures, notes, then per expectation (matched by type and
// subject) outcome and time to detect / recover, and per probe the number of
// deviation spans and total deviated time. Runs of different experiments are
// compared anyway, under a warning line ("warning: ..."; JSON: "warnings").
// kJson: {"compare_version": 1, "a": {...}, "b": {...}, "rows": [{"metric",
// "a", "b", "delta"} (+ "unit": "ms"|"count", "a_value", "b_value",
// "delta_value" for figures)], "warnings": [...]}.
std::string RenderComparison(CompareFormat format, const RunRecord& a,
                             const std::vector<Event>& a_events, const RunRecord& b,
                             const std::vector<Event>& b_events);

// `faultline show RUN`: header (with kind, hypothesis, roles and labels when
// recorded), one "+MM:SS.mmm  event.type  details" line per
// event (details wrapped to fit 80 columns), then each fault on one entry
// (host, engine, parameters, applied/reverted, observed), expectations with
// their measured times, probe deviation spans, the verdict and a warning for every
// fault with no revert on record.
std::string RenderTimeline(const RunRecord& run, const std::vector<Event>& events);

// One event as a single line "event.type  details", for live progress
// output during `faultline run` (same wording as the timeline).
std::string DescribeEvent(const Event& event);

// The controller's audit trail: "agent.call", one per mutating agent call
// (controller/run/runner.h JournalCall). Kept in the journal, in JSON
// reports and in the HTML report's full event list; left out of timelines
// and live output, where the fault.* events already tell the story.
bool IsAuditEvent(const Event& event);

// `faultline runs`: one aligned row per run (id, status, start, duration,
// exit code, experiment; "(drill)" after drills) under a header; "No runs
// found." when empty.
std::string RenderRunsTable(const std::vector<RunRecord>& runs);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_REPORT_REPORT_H_
