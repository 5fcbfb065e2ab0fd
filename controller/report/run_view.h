// Internal to faultline_report (not installed, not for other modules): one
// run's events folded into what every renderer shows -- probe results, method
// steps, faults, notes, the verdict -- plus the formatting helpers they share,
// so Markdown, JUnit, JSON and the terminal say the same thing the same way.
#ifndef FAULTLINE_CONTROLLER_REPORT_RUN_VIEW_H_
#define FAULTLINE_CONTROLLER_REPORT_RUN_VIEW_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/store/journal_store.h"
#include "nlohmann/json.hpp"

namespace faultline::controller {

struct ProbeResultView {
  int64_t offset_ms = 0;
  std::string probe;
  std::string phase;  // "before", "after", or whatever the engine wrote
  bool ok = false;
  std::optional<double> latency_ms;
  std::string detail;
  std::string error;
};

struct FaultView {
  std::string fault_id;
  std::string kind;
  std::string target;
  std::string agent;
  std::string engine;
  std::string resolved;
  nlohmann::json params;  // object or null
  std::string summary;    // "load=50 workers=1" as the experiment put it
  // What people read: the summary if recorded, else the params as key=value.
  std::string ParamsText() const;
  std::optional<int64_t> duration_ms;
  std::optional<int64_t> applied_ms;   // offsets from run start
  std::optional<int64_t> reverted_ms;
  std::optional<int64_t> failed_ms;
  std::string revert_reason;
  std::string error;  // from fault.failed
  std::string code;   // canonical code name from fault.failed
  nlohmann::json observed;  // latest figures seen (object or null)
  int step = -1;            // index into RunView::steps, -1 when outside any
};

struct StepView {
  std::string index;  // as written by the engine (1-based by convention)
  std::string kind;   // "fault" | "wait"
  std::string label;
  int64_t started_ms = 0;
  std::optional<int64_t> ended_ms;
  std::vector<std::string> failures;  // one line per fault.failed in the step
  std::string failure_code;           // code of the first fault.failed
  std::string error;       // abort / lease loss / interruption that cut it short
  std::string error_type;  // event type behind `error`
};

struct NoteView {
  int64_t offset_ms = 0;
  std::string author;
  std::string text;
};

// One `expect:` entry of the run (from run.started) with what the drill
// events say about it (drill.detected / drill.recovered / drill.missed).
// Drill events with no announced expectation get an entry of their own.
struct ExpectationView {
  std::string type;     // "detect" | "recover"
  std::string subject;  // alert name (detect) or probe name (recover)
  std::optional<int64_t> within_ms;
  std::string from;  // recover: "last-revert" | "first-fault"
  enum class Outcome { kPending, kMet, kMissed };
  Outcome outcome = Outcome::kPending;
  std::optional<int64_t> measured_ms;   // time to detect / time to recover
  std::optional<int64_t> at_ms;         // offset: alert first seen / probe passing again
  std::optional<int64_t> reference_ms;  // offset measured from (first fault / last revert)
  std::string source;                   // detect: Alertmanager URL or "webhook"
  std::optional<int64_t> time_to_fire_ms;  // detect: Alertmanager startsAt - first fault
  bool never_deviated = false;          // recover: the probe never failed
  std::string reason;                   // missed: why
  // "detect DatabaseLatencyHigh within 5m", "recover health within 2m from last-revert".
  std::string Name() const;
  // "met" | "missed" | "pending".
  std::string OutcomeName() const;
  // What else is known, one line: "seen via URL; alert firing 30.0s after
  // the first fault; measured from +00:05.000", "never deviated", the reason
  // of a miss.
  std::string Detail() const;
};

// A stretch in which one probe was failing: from its first failing result to
// its next passing result (any phase).
struct DeviationSpan {
  std::string probe;
  int64_t start_ms = 0;
  std::optional<int64_t> end_ms;  // nullopt: never passed again
  int failures = 0;               // failing results in the span
};

// A point on the timeline people should see: kind "note" | "abort" |
// "detect" | "recover" | "missed" | "lease" | "interrupt".
struct MarkerView {
  int64_t offset_ms = 0;
  std::string kind;
  std::string label;
};

struct RunView {
  // From run.started (empty / nullopt when the engine did not write them).
  std::string kind;  // "Experiment" | "Drill"
  std::string hypothesis;
  std::string owner;
  std::vector<std::pair<std::string, std::string>> roles;   // role -> who, sorted by role
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by key
  std::optional<double> speed;
  std::vector<ExpectationView> expectations;
  std::vector<DeviationSpan> deviations;  // by start time
  std::vector<MarkerView> markers;        // in event order
  int64_t end_ms = 0;  // offset of the end: run end, else the last event

  std::vector<ProbeResultView> probes;
  std::vector<StepView> steps;
  std::vector<FaultView> faults;
  std::vector<NoteView> notes;
  std::vector<std::string> lease_losses;  // "agent: error"
  std::string verdict;
  std::string abort_reason;
  std::string interrupt_reason;
  bool embedded = false;
  nlohmann::json targets;  // {name: [agents]} from run.started, or null
  int64_t base_unix_ms = 0;             // offset origin
  std::optional<int64_t> duration_ms;   // only for finished runs
};

RunView BuildRunView(const RunRecord& run, const std::vector<Event>& events);

// How long `span` lasted; an open span lasts until `view.end_ms`.
int64_t SpanLengthMs(const RunView& view, const DeviationSpan& span);

// "incident_commander" -> "incident commander".
std::string RoleTitle(const std::string& role);

// "passed: steady state held"; just the verdict when it already starts with
// the status name (engines often write "failed: ..." verdicts).
std::string StatusAndVerdict(const RunRecord& run, const RunView& view);

// Milliseconds since the run started.
int64_t OffsetMs(const RunView& view, const Event& event);

// "+MM:SS.mmm", "+H:MM:SS.mmm" from an hour on, "-" prefix when negative.
std::string FormatOffset(int64_t offset_ms);
// "2026-11-27 14:23:01.123 UTC".
std::string FormatUtc(int64_t unix_ms);
// "2026-11-27 14:23" (runs table).
std::string FormatUtcMinutes(int64_t unix_ms);
// "2026-11-27T14:23:01" (JUnit: no zone designator in the Ant schema).
std::string FormatIsoUtc(int64_t unix_ms);
// Human span: 250ms, 5.123s, 30.0s, 1m05s, 2h03m10s.
std::string FormatSpan(int64_t ms);
// A number without noise: 12, 79.8, 0.125.
std::string FormatNumber(double value);
// Any JSON value as short text (numbers via FormatNumber, strings bare,
// arrays "a, b", objects compact JSON).
std::string ValueText(const nlohmann::json& value);
// Object as "k=v k=v" (values with spaces quoted); other values as ValueText.
std::string KeyValues(const nlohmann::json& object);

// Display columns of UTF-8 text, approximated as code points.
size_t Columns(const std::string& s);
// `s` padded with spaces to `width` columns (unchanged when wider).
std::string Pad(const std::string& s, size_t width);

// Field accessors that never throw: "" / nullopt when missing or mistyped.
std::string Str(const nlohmann::json& data, const char* key);
std::optional<double> Num(const nlohmann::json& data, const char* key);
std::optional<bool> Bool(const nlohmann::json& data, const char* key);

// The details column for one event (what follows the type in the timeline).
std::string EventDetails(const Event& event);

// Replaces invalid UTF-8 with U+FFFD and control characters (C0 except tab
// and newline, DEL, C1) with '?', so journal text cannot drive a terminal.
std::string CleanText(const std::string& text);
// CleanText, then tabs and newlines become spaces: one line.
std::string OneLine(const std::string& text);

// Text safe in Markdown, also inside a table cell: markup characters
// backslash-escaped, HTML neutralized, newlines as <br>.
std::string MarkdownCell(const std::string& text);
// Appends one Markdown table row: "| a | b |\n" (cells already escaped).
void MarkdownRow(std::string& out, const std::vector<std::string>& cells);

// Compact JSON that never throws on invalid UTF-8.
std::string SafeDump(const nlohmann::json& value, int indent = -1);

std::string RenderMarkdown(const RunRecord& run, const std::vector<Event>& events);
std::string RenderJson(const RunRecord& run, const std::vector<Event>& events);
std::string RenderJunit(const RunRecord& run, const std::vector<Event>& events);
std::string RenderHtml(const RunRecord& run, const std::vector<Event>& events);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_REPORT_RUN_VIEW_H_
