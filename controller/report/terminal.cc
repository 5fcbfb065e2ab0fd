// Plain-text views for a terminal: `faultline show` and `faultline runs`.
// ASCII markers only (ok/FAILED), no colour: the output is also read in CI
// logs and pasted into tickets. Text from the journal goes through
// CleanText/OneLine so it cannot carry terminal escape sequences.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/report/report.h"
#include "controller/report/run_view.h"

namespace faultline::controller {
namespace {

constexpr size_t kLineWidth = 79;  // leaves the last column of 80 free
constexpr size_t kTypeWidth = 15;  // "run.interrupted", "fault.reverted"
constexpr size_t kMinWrap = 24;

// Byte offset just past `cols` code points of s (or s.size()).
size_t ByteIndexAfter(const std::string& s, size_t cols) {
  size_t i = 0, seen = 0;
  while (i < s.size()) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (seen == cols) break;
      ++seen;
    }
    ++i;
  }
  return i;
}

// Greedy word wrap; words wider than a line are split.
std::vector<std::string> Wrap(const std::string& text, size_t first_width, size_t width) {
  std::vector<std::string> lines(1);
  size_t limit = first_width;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    while (true) {
      std::string& line = lines.back();
      size_t need = Columns(line) + (line.empty() ? 0 : 1) + Columns(word);
      if (need <= limit) {
        if (!line.empty()) line += " ";
        line += word;
        break;
      }
      if (!line.empty()) {
        lines.emplace_back();
        limit = width;
        continue;
      }
      size_t cut = ByteIndexAfter(word, limit);
      line = word.substr(0, cut);
      word = word.substr(cut);
      lines.emplace_back();
      limit = width;
      if (word.empty()) break;
    }
  }
  if (lines.size() > 1 && lines.back().empty()) lines.pop_back();
  return lines;
}

// "label       value", with value wrapped under itself.
void LabeledField(std::string& out, const std::string& label, const std::string& value) {
  constexpr size_t kLabel = 12;
  std::vector<std::string> lines = Wrap(OneLine(value), kLineWidth - kLabel, kLineWidth - kLabel);
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::StrAppend(&out, Pad(i == 0 ? label : "", kLabel), lines[i], "\n");
  }
}

}  // namespace

std::string RenderTimeline(const RunRecord& run, const std::vector<Event>& events) {
  RunView view = BuildRunView(run, events);
  std::string out;
  LabeledField(out, "Run", run.run_id);
  LabeledField(out, "Experiment",
               absl::StrCat(run.experiment,
                            run.experiment_path.empty() ? "" : " (" + run.experiment_path + ")"));
  LabeledField(out, "Started",
               absl::StrCat(FormatUtc(run.started_unix_ms), " on ", run.host, ", controller pid ",
                            run.controller_pid, view.embedded ? ", embedded agent" : "",
                            run.dry_run ? ", DRY RUN" : ""));
  if (!view.kind.empty()) {
    LabeledField(out, "Kind",
                 absl::StrCat(view.kind, view.speed && *view.speed != 1
                                             ? absl::StrCat(" at ", FormatNumber(*view.speed), "x")
                                             : ""));
  }
  if (!view.owner.empty()) LabeledField(out, "Owner", view.owner);
  if (!view.hypothesis.empty()) LabeledField(out, "Hypothesis", view.hypothesis);
  if (!view.roles.empty()) {
    std::vector<std::string> parts;
    for (const auto& [role, who] : view.roles) parts.push_back(RoleTitle(role) + ": " + who);
    LabeledField(out, "Roles", absl::StrJoin(parts, "; "));
  }
  if (!view.labels.empty()) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : view.labels) parts.push_back(k + "=" + v);
    LabeledField(out, "Labels", absl::StrJoin(parts, " "));
  }
  {
    // The audit trail in one line; `report --format json` has every call.
    size_t calls = 0, failed = 0;
    std::set<std::string> identities;
    for (const Event& e : events) {
      if (!IsAuditEvent(e) || !e.data.is_object()) continue;
      ++calls;
      if (e.data.value("code", "OK") != "OK") ++failed;
      identities.insert(e.data.value("identity", "?"));
    }
    if (calls > 0) {
      LabeledField(out, "Agent calls",
                   absl::StrCat(calls, " journaled, by ", absl::StrJoin(identities, ", "),
                                failed > 0 ? absl::StrCat(" (", failed, " not OK)") : ""));
    }
  }
  out += "\n";

  size_t offset_width = 10;
  for (const Event& e : events) {
    offset_width = std::max(offset_width, FormatOffset(OffsetMs(view, e)).size());
  }
  const size_t indent = offset_width + 2 + kTypeWidth + 2;
  const size_t wrap = std::max(kMinWrap, kLineWidth > indent ? kLineWidth - indent : 0);
  if (events.empty()) out += "(no events recorded)\n";
  for (const Event& e : events) {
    if (IsAuditEvent(e)) continue;
    std::string type = OneLine(e.type);
    std::string head = absl::StrCat(Pad(FormatOffset(OffsetMs(view, e)), offset_width), "  ",
                                    Pad(type, kTypeWidth), "  ");
    size_t first = Columns(head) < kLineWidth ? kLineWidth - Columns(head) : 0;
    std::vector<std::string> lines = Wrap(EventDetails(e), std::max(first, kMinWrap), wrap);
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string line = absl::StrCat(i == 0 ? head : std::string(indent, ' '), lines[i]);
      while (!line.empty() && line.back() == ' ') line.pop_back();
      absl::StrAppend(&out, line, "\n");
    }
  }
  out += "\n";

  // Each fault once, start to end, for people who do not want to pair
  // applied/reverted lines up by id.
  for (const FaultView& f : view.faults) {
    std::string line = absl::StrCat(f.fault_id, " ", f.kind, " @ ", f.agent.empty() ? "?" : f.agent,
                                    f.engine.empty() ? "" : " via " + f.engine);
    if (!f.ParamsText().empty()) absl::StrAppend(&line, ": ", f.ParamsText());
    if (f.applied_ms) absl::StrAppend(&line, "; applied ", FormatOffset(*f.applied_ms));
    if (f.reverted_ms) {
      absl::StrAppend(&line, ", reverted ", FormatOffset(*f.reverted_ms));
      if (f.applied_ms) absl::StrAppend(&line, " (held ", FormatSpan(*f.reverted_ms - *f.applied_ms), ")");
    } else if (f.applied_ms) {
      absl::StrAppend(&line, IsFinal(run.status) ? ", no revert recorded" : ", active");
    }
    if (f.failed_ms) {
      absl::StrAppend(&line, "; FAILED ", FormatOffset(*f.failed_ms), ": ",
                      f.code.empty() ? "" : f.code + ": ", f.error);
    }
    if (f.observed.is_object() && !f.observed.empty()) {
      absl::StrAppend(&line, "; observed ", KeyValues(f.observed));
    }
    LabeledField(out, "Fault", line);
  }
  for (const ExpectationView& x : view.expectations) {
    std::string line = absl::StrCat(x.Name(), ": ", x.OutcomeName());
    if (x.measured_ms) {
      absl::StrAppend(&line, ", ", x.type == "recover" ? "time to recover " : "time to detect ",
                      FormatSpan(*x.measured_ms));
    }
    if (x.at_ms) absl::StrAppend(&line, " (at ", FormatOffset(*x.at_ms), ")");
    if (!x.reason.empty()) absl::StrAppend(&line, " - ", x.reason);
    LabeledField(out, "Expect", line);
  }
  for (const DeviationSpan& d : view.deviations) {
    LabeledField(out, "Deviation",
                 absl::StrCat(d.probe, " failing ", FormatOffset(d.start_ms), " to ",
                              d.end_ms ? FormatOffset(*d.end_ms) : "the end (never passed again)",
                              ", ", FormatSpan(SpanLengthMs(view, d)), ", ", d.failures,
                              d.failures == 1 ? " failure" : " failures"));
  }

  std::string verdict = StatusAndVerdict(run, view);
  if (IsFinal(run.status)) {
    std::string tail;
    if (run.exit_code >= 0) tail = absl::StrCat("exit ", run.exit_code);
    if (view.duration_ms) {
      absl::StrAppend(&tail, tail.empty() ? "" : ", ", "took ", FormatSpan(*view.duration_ms));
    }
    if (!tail.empty()) absl::StrAppend(&verdict, " (", tail, ")");
  }
  LabeledField(out, "Verdict", verdict);
  if (IsFinal(run.status)) {
    for (const FaultView& f : view.faults) {
      if (!f.applied_ms || f.reverted_ms) continue;
      LabeledField(out, "WARNING",
                   absl::StrCat("no revert recorded for fault ", f.fault_id, " (", f.kind, " @ ",
                                f.agent, "); the agent reverts it when its lease or TTL expires"));
    }
  }
  return out;
}

bool IsAuditEvent(const Event& event) { return event.type == "agent.call"; }

std::string DescribeEvent(const Event& event) {
  std::string type = OneLine(event.type);
  if (type.size() < 15) type.resize(15, ' ');
  if (event.type == "gate.waiting" && event.data.is_object()) {
    // People watching the live output need to know how to open the gate.
    const nlohmann::json& d = event.data;
    std::optional<double> timeout = Num(d, "timeout_ms");
    return type + " " +
           OneLine(absl::StrCat(
               "step ", Str(d, "path"), ": ", Str(d, "message"), " -- waiting",
               timeout ? " up to " + FormatSpan(static_cast<int64_t>(*timeout)) : "",
               Str(d, "on_timeout").empty() ? "" : " (then " + Str(d, "on_timeout") + ")",
               Str(d, "continue_with").empty() ? "" : "; to go on: " + Str(d, "continue_with")));
  }
  if (event.type == "rollback.action" && event.data.is_object()) {
    const nlohmann::json& d = event.data;
    std::optional<double> latency = Num(d, "latency_ms");
    const bool ok = Bool(d, "ok").value_or(false);
    return type + " " +
           OneLine(absl::StrCat(Str(d, "name"), " (", Str(d, "kind"), ") ", ok ? "ok" : "FAILED",
                                latency ? " in " + FormatNumber(*latency) + "ms" : "",
                                Str(d, "detail").empty() ? "" : " - " + Str(d, "detail"),
                                Str(d, "error").empty() ? "" : " - error: " + Str(d, "error")));
  }
  return type + " " + EventDetails(event);
}

std::string RenderRunsTable(const std::vector<RunRecord>& runs) {
  if (runs.empty()) return "No runs found.\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"RUN ID", "STATUS", "STARTED (UTC)", "DURATION", "EXIT", "EXPERIMENT"});
  for (const RunRecord& r : runs) {
    std::string duration = "-";
    if (IsFinal(r.status) && r.ended_unix_ms > 0) {
      duration = FormatSpan(std::max<int64_t>(0, r.ended_unix_ms - r.started_unix_ms));
    }
    rows.push_back({OneLine(r.run_id),
                    absl::StrCat(RunStatusName(r.status), r.dry_run ? " (dry)" : ""),
                    FormatUtcMinutes(r.started_unix_ms), duration,
                    r.exit_code >= 0 ? absl::StrCat(r.exit_code) : "-",
                    OneLine(r.experiment) + (r.kind == "Drill" ? " (drill)" : "")});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Columns(row[i]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i + 1 == row.size() ? row[i] : Pad(row[i], widths[i]) + "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace faultline::controller
