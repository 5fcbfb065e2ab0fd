// Markdown report (GitHub-flavoured tables): what reviewers read after a game
// day and what CI attaches to a merge request.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/report/report.h"
#include "controller/report/run_view.h"

namespace faultline::controller {
namespace {

std::string Cell(const std::string& text) { return MarkdownCell(text); }

// An identifier as code, falling back to escaped text if it holds backticks.
std::string Code(const std::string& text) {
  if (text.empty()) return "";
  std::string clean = OneLine(text);
  if (clean.find('`') != std::string::npos || clean.find('|') != std::string::npos) {
    return Cell(clean);
  }
  return absl::StrCat("`", clean, "`");
}

std::string Offset(const std::optional<int64_t>& ms) { return ms ? FormatOffset(*ms) : "-"; }

// "**Hypothesis:** ...", then one "- **Role:** who" line per role.
std::string RolesAndHypothesis(const RunView& view) {
  std::string out;
  if (!view.hypothesis.empty()) {
    absl::StrAppend(&out, "**Hypothesis:** ", Cell(view.hypothesis), "\n\n");
  }
  if (!view.roles.empty()) {
    out += "**Roles:**\n\n";
    for (const auto& [role, who] : view.roles) {
      absl::StrAppend(&out, "- ", Cell(RoleTitle(role)), ": ", Cell(who), "\n");
    }
    out += "\n";
  }
  return out;
}

}  // namespace

std::string MarkdownCell(const std::string& text) {
  std::string clean = CleanText(text);
  std::string out;
  out.reserve(clean.size());
  for (char c : clean) {
    switch (c) {
      case '|': case '\\': case '*': case '`': case '[':  // '[' alone stops links
        out.push_back('\\');
        out.push_back(c);
        break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '\n': out += "<br>"; break;
      case '\t': out.push_back(' '); break;
      default: out.push_back(c);
    }
  }
  return out;
}

void MarkdownRow(std::string& out, const std::vector<std::string>& cells) {
  absl::StrAppend(&out, "| ", absl::StrJoin(cells, " | "), " |\n");
}

std::string RenderMarkdown(const RunRecord& run, const std::vector<Event>& events) {
  RunView view = BuildRunView(run, events);
  std::string out;
  absl::StrAppend(&out, "# Faultline ", view.kind == "Drill" ? "drill" : "run", ": ",
                  Cell(run.experiment), "\n\n");
  absl::StrAppend(&out, "Run ", Code(run.run_id), run.dry_run ? " (dry run)" : "", ": **",
                  Cell(StatusAndVerdict(run, view)), "**\n\n");
  out += RolesAndHypothesis(view);

  absl::StrAppend(&out, "## Summary\n\n| Field | Value |\n| --- | --- |\n");
  MarkdownRow(out, {"Status", RunStatusName(run.status)});
  MarkdownRow(out, {"Verdict", Cell(view.verdict)});
  MarkdownRow(out, {"Experiment", absl::StrCat(Cell(run.experiment),
                                               run.experiment_path.empty()
                                                   ? ""
                                                   : " (" + Code(run.experiment_path) + ")")});
  MarkdownRow(out, {"Started", FormatUtc(run.started_unix_ms)});
  MarkdownRow(out, {"Ended", run.ended_unix_ms > 0 ? FormatUtc(run.ended_unix_ms) : "-"});
  MarkdownRow(out, {"Duration", view.duration_ms ? FormatSpan(*view.duration_ms) : "-"});
  MarkdownRow(out, {"Exit code", run.exit_code >= 0 ? absl::StrCat(run.exit_code) : "-"});
  MarkdownRow(out,
              {"Host", absl::StrCat(Cell(run.host), " (controller pid ", run.controller_pid, ")")});
  std::string agents = view.embedded ? "embedded local agent" : "";
  if (view.targets.is_object() && !view.targets.empty()) {
    std::vector<std::string> parts;
    for (auto it = view.targets.begin(); it != view.targets.end(); ++it) {
      parts.push_back(absl::StrCat(Cell(it.key()), ": ", Cell(ValueText(it.value()))));
    }
    agents = absl::StrCat(agents, agents.empty() ? "" : "; ", absl::StrJoin(parts, "; "));
  }
  MarkdownRow(out, {"Agents", agents.empty() ? "-" : agents});
  MarkdownRow(out, {"Dry run", run.dry_run ? "yes" : "no"});
  MarkdownRow(
      out, {"Kind",
            Cell(!view.kind.empty() ? view.kind : (run.kind.empty() ? "Experiment" : run.kind))});
  if (!view.owner.empty()) MarkdownRow(out, {"Owner", Cell(view.owner)});
  if (view.speed) MarkdownRow(out, {"Speed", FormatNumber(*view.speed) + "x"});
  if (!view.labels.empty()) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : view.labels) parts.push_back(Code(k + "=" + v));
    MarkdownRow(out, {"Labels", absl::StrJoin(parts, " ")});
  }
  out += "\n";

  if (!view.expectations.empty()) {
    out += "## Expectations\n\n| Expectation | Outcome | Measured | Target | At | Detail |\n"
           "| --- | --- | --: | --: | --: | --- |\n";
    for (const ExpectationView& x : view.expectations) {
      std::string detail = x.Detail();
      std::string outcome = x.OutcomeName();
      if (x.outcome == ExpectationView::Outcome::kMissed) outcome = "**missed**";
      MarkdownRow(out,
                  {Cell(x.Name()), outcome, x.measured_ms ? FormatSpan(*x.measured_ms) : "-",
                   x.within_ms ? FormatSpan(*x.within_ms) : "-", Offset(x.at_ms), Cell(detail)});
    }
    out += "\n";
  }

  out += "## Steady state\n\n";
  if (view.probes.empty()) {
    out += "_No probe results recorded._\n\n";
  } else {
    out += "| Probe | Phase | OK | Latency | Detail |\n| --- | --- | :-: | --: | --- |\n";
    for (const ProbeResultView& p : view.probes) {
      std::string detail = p.detail;
      if (!p.error.empty()) detail = detail.empty() ? p.error : detail + "; error: " + p.error;
      MarkdownRow(out, {Cell(p.probe), Cell(p.phase), p.ok ? "✓" : "✗",
                        p.latency_ms ? FormatNumber(*p.latency_ms) + " ms" : "-", Cell(detail)});
    }
    out += "\n";
    if (!view.deviations.empty()) {
      out += "Deviations (a probe failing from its first failure to its next pass):\n\n"
             "| Probe | From | To | Lasted | Failures |\n| --- | --: | --: | --: | --: |\n";
      for (const DeviationSpan& d : view.deviations) {
        MarkdownRow(out, {Cell(d.probe), FormatOffset(d.start_ms),
                          d.end_ms ? FormatOffset(*d.end_ms) : "never passed again",
                          FormatSpan(SpanLengthMs(view, d)), absl::StrCat(d.failures)});
      }
      out += "\n";
    }
  }

  out += "## Faults\n\n";
  if (view.faults.empty()) {
    out += "_No faults applied._\n\n";
  } else {
    out += "| Fault | Kind | Target | Agent | Engine | Applied | Reverted | Held for | Observed |\n"
           "| --- | --- | --- | --- | --- | --: | --- | --: | --- |\n";
    for (const FaultView& f : view.faults) {
      std::string reverted;
      if (f.reverted_ms) {
        reverted = FormatOffset(*f.reverted_ms);
        if (!f.revert_reason.empty()) absl::StrAppend(&reverted, " (", Cell(f.revert_reason), ")");
      }
      if (f.failed_ms) {
        std::string why = f.code.empty() ? f.error : f.code + ": " + f.error;
        absl::StrAppend(&reverted, reverted.empty() ? "" : "; ", "**failed** ",
                        FormatOffset(*f.failed_ms), ": ", Cell(why));
      }
      if (reverted.empty()) {
        reverted = IsFinal(run.status) ? "**no revert recorded**" : "active";
      }
      std::string held = f.applied_ms && f.reverted_ms ? FormatSpan(*f.reverted_ms - *f.applied_ms)
                                                       : "-";
      MarkdownRow(out,
                  {Code(f.fault_id), Code(f.kind), Cell(f.target), Cell(f.agent), Cell(f.engine),
                   Offset(f.applied_ms), reverted, held, Cell(KeyValues(f.observed))});
    }
    out += "\n";
  }

  out += "## Timeline\n\n";
  if (events.empty()) {
    out += "_No events recorded._\n\n";
  } else {
    out += "| Offset | Event | Details |\n| --: | --- | --- |\n";
    for (const Event& e : events) {
      if (IsAuditEvent(e)) continue;
      MarkdownRow(out, {FormatOffset(OffsetMs(view, e)), Code(e.type), Cell(EventDetails(e))});
    }
    out += "\n";
  }

  out += "## Notes\n\n";
  if (view.notes.empty()) {
    out += "_No notes._\n\n";
  } else {
    for (const NoteView& n : view.notes) {
      absl::StrAppend(&out, "- ", FormatOffset(n.offset_ms),
                      n.author.empty() ? "" : " **" + Cell(n.author) + "**", ": ", Cell(n.text),
                      "\n");
    }
    out += "\n";
  }

  if (!run.source_text.empty()) {
    // A fence longer than any backtick run in the source cannot be closed by it.
    size_t longest = 0, current = 0;
    for (char c : run.source_text) {
      current = c == '`' ? current + 1 : 0;
      longest = std::max(longest, current);
    }
    std::string fence(std::max<size_t>(3, longest + 1), '`');
    std::string source = CleanText(run.source_text);
    if (source.empty() || source.back() != '\n') source.push_back('\n');
    absl::StrAppend(&out, "## Experiment source\n\n<details><summary>",
                    Cell(run.experiment_path.empty() ? run.experiment : run.experiment_path),
                    "</summary>\n\n", fence, "yaml\n", source, fence, "\n\n</details>\n");
  }
  return out;
}

}  // namespace faultline::controller
