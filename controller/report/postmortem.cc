// The post-mortem draft (`faultline report RUN --postmortem`): what the
// journal can say is filled in, what only people can say is left as empty
// sections with prompts. Wording is blameless: it describes what the system
// and the process did, never who got it wrong.
#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/report/report.h"
#include "controller/report/run_view.h"

namespace faultline::controller {
namespace {

std::string Md(const std::string& text) { return MarkdownCell(text); }

std::string Plural(size_t n, const std::string& one, const std::string& many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

struct Moment {
  int64_t offset_ms;
  int order;  // keeps events at the same offset in journal order
  std::string what;
};

}  // namespace

std::string RenderPostmortem(const RunRecord& run, const std::vector<Event>& events) {
  RunView view = BuildRunView(run, events);
  const bool drill = view.kind == "Drill" || run.kind == "Drill";
  const std::string noun = drill ? "drill" : "experiment";
  std::string out;

  absl::StrAppend(&out, "# Post-mortem: ", Md(run.experiment), " (", Md(FormatUtcMinutes(run.started_unix_ms)),
                  " UTC)\n\n");
  absl::StrAppend(&out,
                  "> **Draft, blameless.** This review is about how our systems and processes "
                  "behaved, not about who did what: people made reasonable decisions with the "
                  "information they had. Figures below were prefilled by faultline from the "
                  "journal of run `",
                  OneLine(run.run_id), "`; check them, then fill in the empty sections.\n\n");

  absl::StrAppend(&out, "**Hypothesis:** ",
                  view.hypothesis.empty() ? "_none recorded (metadata.hypothesis)_" : Md(view.hypothesis),
                  "\n\n");
  out += "**Roles:**";
  if (view.roles.empty()) {
    out += " _none recorded (metadata.roles): add the incident commander, scribe and observers._\n\n";
  } else {
    out += "\n\n";
    for (const auto& [role, who] : view.roles) {
      absl::StrAppend(&out, "- ", Md(RoleTitle(role)), ": ", Md(who), "\n");
    }
    out += "\n";
  }
  if (!view.owner.empty()) absl::StrAppend(&out, "**Owner:** ", Md(view.owner), "\n\n");

  // Summary.
  std::set<std::string> hosts, kinds;
  size_t applied = 0, failed = 0, unreverted = 0;
  for (const FaultView& f : view.faults) {
    if (!f.agent.empty()) hosts.insert(f.agent);
    if (!f.kind.empty()) kinds.insert(f.kind);
    applied += f.applied_ms ? 1 : 0;
    failed += f.failed_ms ? 1 : 0;
    unreverted += f.applied_ms && !f.reverted_ms ? 1 : 0;
  }
  std::set<std::string> deviated_probes;
  for (const DeviationSpan& d : view.deviations) deviated_probes.insert(d.probe);
  std::set<std::string> all_probes;
  for (const ProbeResultView& p : view.probes) all_probes.insert(p.probe);

  out += "## Summary\n\n";
  absl::StrAppend(&out, "The ", noun, " `", OneLine(run.experiment), "` started ",
                  FormatUtc(run.started_unix_ms),
                  view.duration_ms ? absl::StrCat(", ran for ", FormatSpan(*view.duration_ms)) : "",
                  " and ended **", Md(StatusAndVerdict(run, view)), "**. ");
  absl::StrAppend(&out, "It applied ", Plural(applied, "fault", "faults"),
                  kinds.empty() ? "" : absl::StrCat(" (", Md(absl::StrJoin(kinds, ", ")), ")"),
                  " on ", Plural(hosts.size(), "host", "hosts"));
  if (failed > 0) absl::StrAppend(&out, "; ", Plural(failed, "fault", "faults"), " could not be applied");
  out += ". ";
  if (all_probes.empty()) {
    out += "No steady-state probe results were recorded. ";
  } else {
    absl::StrAppend(&out, deviated_probes.size(), " of ", Plural(all_probes.size(), "probe", "probes"),
                    " deviated. ");
  }
  for (const ExpectationView& x : view.expectations) {
    absl::StrAppend(&out, "Expectation \"", Md(x.Name()), "\" was ", x.OutcomeName(),
                    x.measured_ms ? absl::StrCat(" (", FormatSpan(*x.measured_ms), ")") : "", ". ");
  }
  out += "\n\n_In your own words: what happened, and what would it have meant for users?_\n\n";

  // Impact.
  out += "## Impact\n\n";
  if (view.deviations.empty()) {
    out += all_probes.empty() ? "No probe results were recorded, so impact cannot be read from the journal.\n\n"
                              : "No steady-state probe deviated during the run.\n\n";
  } else {
    out += "Steady-state probes that deviated (failing from the first failed check to the next "
           "passing one):\n\n| Probe | From | To | Lasted | Failed checks |\n"
           "| --- | --: | --: | --: | --: |\n";
    for (const DeviationSpan& d : view.deviations) {
      MarkdownRow(out, {Md(d.probe), FormatOffset(d.start_ms),
                        d.end_ms ? FormatOffset(*d.end_ms) : "did not recover before the end",
                        FormatSpan(SpanLengthMs(view, d)), absl::StrCat(d.failures)});
    }
    out += "\n";
    for (const std::string& probe : deviated_probes) {
      int64_t total = 0;
      size_t spans = 0;
      for (const DeviationSpan& d : view.deviations) {
        if (d.probe != probe) continue;
        total += SpanLengthMs(view, d);
        ++spans;
      }
      absl::StrAppend(&out, "- `", OneLine(probe), "` deviated for ", FormatSpan(total), " in total (",
                      Plural(spans, "span", "spans"), ")\n");
    }
    out += "\n";
  }
  if (unreverted > 0) {
    absl::StrAppend(&out, "Note: ", Plural(unreverted, "fault has", "faults have"),
                    " no revert on record; the agents revert them when their lease or TTL "
                    "expires. Check the hosts.\n\n");
  }
  out += "_Which users, services or teams would this have affected in production, and how?_\n\n";

  // Detection and recovery.
  out += "## Detection and recovery\n\n";
  if (view.expectations.empty()) {
    out += "No detection or recovery targets were set (`expect:`). Time to detect: _not "
           "measured_. Time to recover: _not measured_.\n\n";
  } else {
    out += "| Expectation | Outcome | Measured | Target | At | Detail |\n"
           "| --- | --- | --: | --: | --: | --- |\n";
    for (const ExpectationView& x : view.expectations) {
      std::string detail = x.Detail();
      MarkdownRow(out,
                  {Md(x.Name()), x.OutcomeName(), x.measured_ms ? FormatSpan(*x.measured_ms) : "-",
                   x.within_ms ? FormatSpan(*x.within_ms) : "-",
                   x.at_ms ? FormatOffset(*x.at_ms) : "-", Md(detail)});
    }
    out += "\n";
    for (const char* type : {"detect", "recover"}) {
      for (const ExpectationView& x : view.expectations) {
        if (x.type != type) continue;
        absl::StrAppend(&out, "- Time to ", type, " (", Md(x.subject), "): ",
                        x.measured_ms ? FormatSpan(*x.measured_ms) : "not measured",
                        x.outcome == ExpectationView::Outcome::kMissed ? " -- **missed the target**" : "",
                        "\n");
      }
    }
    out += "\n";
  }
  out += "_How was the problem noticed, and how long did each step of the response take?_\n\n";

  // Timeline.
  std::vector<Moment> moments;
  int order = 0;
  for (const Event& e : events) {
    int64_t at = OffsetMs(view, e);
    if (e.type == "run.started") {
      moments.push_back({at, order++, absl::StrCat(drill ? "Drill" : "Experiment", " started")});
    } else if (e.type == "fault.applied" || e.type == "fault.reverted" || e.type == "fault.failed") {
      moments.push_back({at, order++, absl::StrCat(e.type, ": ", EventDetails(e))});
    } else if (e.type == "run.finished" || e.type == "run.aborted" || e.type == "abort" ||
               e.type == "run.interrupted" || e.type == "lease.lost" ||
               e.type.rfind("drill.", 0) == 0) {
      moments.push_back({at, order++, absl::StrCat(e.type, ": ", EventDetails(e))});
    } else if (e.type == "note") {
      moments.push_back({at, order++, absl::StrCat("note: ", EventDetails(e))});
    }
  }
  for (const DeviationSpan& d : view.deviations) {
    moments.push_back({d.start_ms, order++, absl::StrCat("probe ", d.probe, " started failing")});
    if (d.end_ms) moments.push_back({*d.end_ms, order++, absl::StrCat("probe ", d.probe, " passing again")});
  }
  std::stable_sort(moments.begin(), moments.end(), [](const Moment& a, const Moment& b) {
    return std::tie(a.offset_ms, a.order) < std::tie(b.offset_ms, b.order);
  });
  out += "## Timeline\n\nTimes in UTC, offsets from the start of the run.\n\n";
  if (moments.empty()) {
    out += "_No events recorded._\n\n";
  } else {
    out += "| Time (UTC) | Offset | What happened |\n| --- | --: | --- |\n";
    for (const Moment& m : moments) {
      MarkdownRow(
          out, {FormatUtc(view.base_unix_ms + m.offset_ms), FormatOffset(m.offset_ms), Md(m.what)});
    }
    out += "\n";
  }

  out += "## Contributing factors (five whys)\n\n"
         "_Ask why the impact happened, then why that happened, five times. Look for conditions "
         "in systems and processes, not for a person to blame._\n\n"
         "1. Why? \n2. Why? \n3. Why? \n4. Why? \n5. Why? \n\n";
  out += "## What went well\n\n- \n\n";
  out += "## What could have gone better\n\n- \n\n";
  out += "## Action items\n\n| Action | Owner | Priority | Due | Ticket |\n"
         "| --- | --- | --- | --- | --- |\n|  |  |  |  |  |\n\n";
  absl::StrAppend(&out, "---\nFull record: `faultline show ", OneLine(run.run_id),
                  "`, `faultline report ", OneLine(run.run_id), " --format html`.\n");
  return out;
}

}  // namespace faultline::controller
