// JUnit XML for CI, in the common Ant/Jenkins shape: root <testsuite> with
// name/tests/failures/errors/skipped/time/timestamp/hostname, <properties>,
// <testcase classname name time> with an optional <failure>, <error> or
// <skipped>, then <system-out> and <system-err>. report/testdata/junit.xsd
// states that shape and the tests validate against it with xmllint.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "controller/report/report.h"
#include "controller/report/run_view.h"

namespace faultline::controller {
namespace {

// XML 1.0 character data or attribute value. CleanText already removed
// invalid UTF-8 and the C0 controls XML forbids; U+FFFE/U+FFFF remain.
std::string Xml(const std::string& text, bool attribute) {
  std::string clean = CleanText(text);
  std::string out;
  out.reserve(clean.size() + clean.size() / 8);
  for (size_t i = 0; i < clean.size(); ++i) {
    char c = clean[i];
    if (c == '\xEF' && i + 2 < clean.size() && clean[i + 1] == '\xBF' &&
        (clean[i + 2] == '\xBE' || clean[i + 2] == '\xBF')) {
      out += "\xEF\xBF\xBD";
      i += 2;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += attribute ? "&quot;" : "\""; break;
      case '\'': out += attribute ? "&apos;" : "'"; break;
      case '\n': out += attribute ? "&#10;" : "\n"; break;
      case '\t': out += attribute ? "&#9;" : "\t"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string Attr(const std::string& text) { return Xml(text, true); }
std::string Body(const std::string& text) { return Xml(text, false); }

std::string Seconds(int64_t ms) {
  return absl::StrFormat("%.3f", static_cast<double>(ms < 0 ? 0 : ms) / 1000.0);
}

struct Case {
  std::string classname;
  std::string name;
  int64_t time_ms = 0;
  enum class Result { kPass, kFailure, kError, kSkipped } result = Result::kPass;
  std::string message;
  std::string type;
  std::string body;
};

}  // namespace

std::string RenderJunit(const RunRecord& run, const std::vector<Event>& events) {
  RunView view = BuildRunView(run, events);
  std::vector<Case> cases;

  for (const ProbeResultView& p : view.probes) {
    Case c;
    c.classname = absl::StrCat("steady_state.", p.phase.empty() ? "unknown" : p.phase);
    c.name = p.probe.empty() ? "probe" : p.probe;
    c.time_ms = p.latency_ms ? static_cast<int64_t>(*p.latency_ms) : 0;
    if (!p.ok) {
      c.result = Case::Result::kFailure;
      c.type = "probe";
      c.message = !p.error.empty() ? p.error : (!p.detail.empty() ? p.detail : "probe failed");
      std::vector<std::string> lines = {absl::StrCat("probe: ", p.probe),
                                        absl::StrCat("phase: ", p.phase), "ok: false"};
      if (p.latency_ms) lines.push_back(absl::StrCat("latency: ", FormatNumber(*p.latency_ms), " ms"));
      if (!p.detail.empty()) lines.push_back(absl::StrCat("detail: ", p.detail));
      if (!p.error.empty()) lines.push_back(absl::StrCat("error: ", p.error));
      lines.push_back(absl::StrCat("at: ", FormatOffset(p.offset_ms)));
      c.body = absl::StrJoin(lines, "\n");
    }
    cases.push_back(std::move(c));
  }

  for (size_t i = 0; i < view.steps.size(); ++i) {
    const StepView& s = view.steps[i];
    Case c;
    c.classname = "method";
    c.name = absl::StrCat("step ", s.index, ": ", !s.label.empty() ? s.label : s.kind);
    c.time_ms = s.ended_ms ? *s.ended_ms - s.started_ms : 0;
    std::vector<std::string> lines;
    for (const FaultView& f : view.faults) {
      if (f.step != static_cast<int>(i) || !f.applied_ms) continue;
      lines.push_back(absl::StrCat("applied ", FormatOffset(*f.applied_ms), ": ", f.fault_id, " ",
                                   f.kind, " @ ", f.agent, " ", f.ParamsText()));
    }
    if (!s.failures.empty()) {
      c.result = Case::Result::kFailure;
      c.type = s.failure_code.empty() ? "fault.failed" : s.failure_code;
      c.message = s.failures.front();
      lines.insert(lines.end(), s.failures.begin(), s.failures.end());
      if (!s.error.empty()) lines.push_back(s.error);
    } else if (!s.error.empty()) {
      c.result = Case::Result::kError;
      c.type = s.error_type;
      c.message = s.error;
      lines.push_back(s.error);
    }
    c.body = absl::StrJoin(lines, "\n");
    cases.push_back(std::move(c));
  }

  for (const ExpectationView& x : view.expectations) {
    Case c;
    c.classname = "drill";
    c.name = x.Name();
    c.time_ms = x.measured_ms.value_or(0);
    std::vector<std::string> lines = {absl::StrCat("expectation: ", x.Name()),
                                      absl::StrCat("outcome: ", x.OutcomeName())};
    if (x.measured_ms) {
      lines.push_back(absl::StrCat(x.type == "recover" ? "time to recover: " : "time to detect: ",
                                   FormatSpan(*x.measured_ms)));
    }
    if (x.within_ms) lines.push_back(absl::StrCat("target: ", FormatSpan(*x.within_ms)));
    if (x.reference_ms) lines.push_back(absl::StrCat("measured from: ", FormatOffset(*x.reference_ms)));
    if (x.at_ms) lines.push_back(absl::StrCat("at: ", FormatOffset(*x.at_ms)));
    if (!x.source.empty()) lines.push_back(absl::StrCat("source: ", x.source));
    if (!x.reason.empty()) lines.push_back(absl::StrCat("reason: ", x.reason));
    if (x.outcome == ExpectationView::Outcome::kMissed) {
      c.result = Case::Result::kFailure;
      c.type = absl::StrCat(x.type, ".missed");
      c.message = x.measured_ms
                      ? absl::StrCat(x.Name(), ": took ", FormatSpan(*x.measured_ms))
                      : absl::StrCat(x.Name(), ": ", x.reason.empty() ? "not met" : x.reason);
    } else if (x.outcome == ExpectationView::Outcome::kPending) {
      c.result = Case::Result::kSkipped;
      c.message = IsFinal(run.status) ? "never measured" : "not measured yet";
    }
    c.body = absl::StrJoin(lines, "\n");
    cases.push_back(std::move(c));
  }

  int failures = 0, errors = 0, skipped = 0;
  for (const Case& c : cases) {
    skipped += c.result == Case::Result::kSkipped ? 1 : 0;
    failures += c.result == Case::Result::kFailure ? 1 : 0;
    errors += c.result == Case::Result::kError ? 1 : 0;
  }
  bool bad = run.status != RunStatus::kPassed && run.status != RunStatus::kRunning;
  if (bad && failures + errors == 0) {
    Case c;
    c.classname = "run";
    c.name = "verdict";
    c.time_ms = view.duration_ms.value_or(0);
    c.message = view.verdict;
    c.type = RunStatusName(run.status);
    c.body = absl::StrCat("run ", run.run_id, " ", RunStatusName(run.status), " (exit ",
                          run.exit_code, "): ", view.verdict);
    if (run.status == RunStatus::kDeviated) {
      c.result = Case::Result::kFailure;
      ++failures;
    } else {
      c.result = Case::Result::kError;
      ++errors;
    }
    cases.push_back(std::move(c));
  }

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  absl::StrAppend(&out, "<testsuite name=\"", Attr("faultline." + run.experiment), "\" tests=\"",
                  cases.size(), "\" failures=\"", failures, "\" errors=\"", errors,
                  skipped > 0 ? absl::StrCat("\" skipped=\"", skipped) : "",
                  "\" time=\"", Seconds(view.duration_ms.value_or(0)), "\" timestamp=\"",
                  FormatIsoUtc(run.started_unix_ms), "\" hostname=\"",
                  Attr(run.host.empty() ? "localhost" : run.host), "\">\n");
  out += "  <properties>\n";
  auto property = [&out](const std::string& name, const std::string& value) {
    absl::StrAppend(&out, "    <property name=\"", Attr(name), "\" value=\"", Attr(value),
                    "\"/>\n");
  };
  property("run_id", run.run_id);
  property("experiment", run.experiment);
  property("experiment_path", run.experiment_path);
  property("status", RunStatusName(run.status));
  property("verdict", view.verdict);
  property("exit_code", absl::StrCat(run.exit_code));
  property("dry_run", run.dry_run ? "true" : "false");
  property("controller_pid", absl::StrCat(run.controller_pid));
  if (!view.kind.empty()) property("kind", view.kind);
  if (!view.hypothesis.empty()) property("hypothesis", view.hypothesis);
  for (const auto& [role, who] : view.roles) property("role." + role, who);
  for (const auto& [key, value] : view.labels) property("label." + key, value);
  out += "  </properties>\n";

  for (const Case& c : cases) {
    absl::StrAppend(&out, "  <testcase classname=\"", Attr(c.classname), "\" name=\"",
                    Attr(c.name), "\" time=\"", Seconds(c.time_ms), "\"");
    if (c.result == Case::Result::kPass) {
      out += "/>\n";
      continue;
    }
    if (c.result == Case::Result::kSkipped) {
      absl::StrAppend(&out, ">\n    <skipped message=\"", Attr(OneLine(c.message)),
                      "\"/>\n  </testcase>\n");
      continue;
    }
    const char* element = c.result == Case::Result::kFailure ? "failure" : "error";
    absl::StrAppend(&out, ">\n    <", element, " message=\"", Attr(OneLine(c.message)),
                    "\" type=\"", Attr(c.type), "\">", Body(c.body), "</", element,
                    ">\n  </testcase>\n");
  }
  absl::StrAppend(&out, "  <system-out>", Body(RenderTimeline(run, events)), "</system-out>\n");
  out += "  <system-err></system-err>\n</testsuite>\n";
  return out;
}

}  // namespace faultline::controller
