#include "controller/report/report.h"

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "controller/report/run_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kT0 = 1'795'789'381'000;  // 2026-11-27 14:23:01 UTC

struct Fixture {
  RunRecord run;
  std::vector<Event> events;
  void Add(int64_t offset_ms, const std::string& type, json data) {
    Event e;
    e.seq = static_cast<int64_t>(events.size()) + 100;
    e.run_id = run.run_id;
    e.unix_ms = kT0 + offset_ms;
    e.type = type;
    e.data = std::move(data);
    events.push_back(std::move(e));
  }
};

RunRecord BaseRun(RunStatus status, int exit_code, int64_t ended_offset_ms) {
  RunRecord run;
  run.run_id = "20261127-142301-quickstart-3f9a";
  run.experiment = "quickstart";
  run.experiment_path = "experiments/quickstart.yaml";
  run.source_text = "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: quickstart}\n"
                    "# ```` backticks in a comment\n";
  run.status = status;
  run.exit_code = exit_code;
  run.started_unix_ms = kT0;
  run.ended_unix_ms = ended_offset_ms < 0 ? 0 : kT0 + ended_offset_ms;
  run.controller_pid = 4242;
  run.host = "ctl-01";
  return run;
}

// A run that applies and reverts a CPU fault, waits, fails to apply a kill
// (so it aborts) and then sees the after-probe fail.
Fixture FailedRun() {
  Fixture f;
  f.run = BaseRun(RunStatus::kFailed, 3, 35'400);
  const std::string a1 = "10.0.0.1:7431", a2 = "10.0.0.2:7431";
  f.Add(0, "run.started",
        {{"experiment", "quickstart"}, {"file", "experiments/quickstart.yaml"}, {"dry_run", false},
         {"targets", {{"db", {a1, a2}}}}, {"embedded", false}});
  f.Add(12, "probe.result", {{"probe", "checkout-ok"}, {"phase", "before"}, {"ok", true},
                             {"latency_ms", 12}, {"detail", "HTTP 200"}, {"error", ""}});
  f.Add(20, "probe.result", {{"probe", "db-tcp"}, {"phase", "before"}, {"ok", true},
                             {"latency_ms", 1.5}, {"detail", "connected"}});
  f.Add(30, "step.started", {{"index", 1}, {"kind", "fault"}, {"label", "cpu.pressure on db"}});
  f.Add(45, "fault.applied",
        {{"fault_id", "f1"}, {"kind", "cpu.pressure"}, {"target", "db"}, {"agent", a1},
         {"engine", "cgroup"}, {"params", {{"load", 80}, {"workers", 2}}}, {"duration_ms", 30000},
         {"resolved", "2 workers at 80%"}, {"step", 1}});
  f.Add(15'045, "fault.observed",
        {{"fault_id", "f1"}, {"agent", a1}, {"observed", {{"load_pct", 79.8}}}});
  f.Add(30'050, "fault.reverted",
        {{"fault_id", "f1"}, {"kind", "cpu.pressure"}, {"agent", a1}, {"reason", "duration elapsed"},
         {"observed", {{"load_pct", 80.125}, {"workers", 2}}}});
  f.Add(30'060, "step.started", {{"index", 2}, {"kind", "wait"}, {"label", "wait 5s"}});
  f.Add(35'060, "wait.finished", {{"duration_ms", 5000}});
  f.Add(35'070, "note", {{"author", "alice"}, {"text", "p99 <high> & \"errors\" | up"}});
  f.Add(35'080, "step.started", {{"index", 3}, {"kind", "fault"}, {"label", "kill worker"}});
  f.Add(35'090, "fault.failed",
        {{"fault_id", "f3"}, {"kind", "process.kill"}, {"agent", a2},
         {"error", "no process matches name \"worker\" <&>"}, {"code", "NOT_FOUND"}});
  f.Add(35'100, "run.aborted", {{"reason", "fault f3 could not be applied"}});
  f.Add(35'200, "probe.result",
        {{"probe", "checkout-ok"}, {"phase", "after"}, {"ok", false}, {"latency_ms", 1000.4},
         {"detail", "status 503 <html lang=\"en\">"}, {"error", "want 200, got 503"}});
  f.Add(35'300, "custom.thing", {{"foo", "bar baz"}, {"n", 3}});
  f.Add(35'400, "run.finished",
        {{"status", "failed"}, {"exit_code", 3}, {"verdict", "failed: fault f3 could not be applied"}});
  return f;
}

// The controller died while a fault was held; the next start marked it.
Fixture InterruptedRun() {
  Fixture f;
  f.run = BaseRun(RunStatus::kInterrupted, -1, 10'045);
  f.Add(0, "run.started", {{"experiment", "quickstart"}, {"embedded", true}});
  f.Add(30, "step.started", {{"index", 1}, {"kind", "fault"}, {"label", "pause db"}});
  f.Add(10'045, "fault.applied", {{"fault_id", "f1"}, {"kind", "process.pause"},
                                  {"agent", "local"}, {"params", {{"name", "postgres"}}}});
  f.Add(3'600'000, "run.interrupted",
        {{"reason", "controller pid 4242 on ctl-01 exited without finishing the run"}});
  return f;
}

// Counts non-overlapping occurrences.
int Count(const std::string& hay, const std::string& needle) {
  int n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos;
       pos = hay.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// Minimal XML well-formedness check: balanced tags, quoted attributes, only
// known entities, no raw '<' or '&' in text. Returns "" or the first problem.
std::string XmlProblem(const std::string& xml) {
  std::vector<std::string> stack;
  size_t i = 0;
  auto check_entities = [](const std::string& text) -> std::string {
    static const std::regex kEntity(R"(^&(amp|lt|gt|quot|apos|#[0-9]+);)");
    for (size_t k = 0; k < text.size(); ++k) {
      if (text[k] == '<') return "raw < in text";
      if (text[k] == '&' && !std::regex_search(text.substr(k, 8), kEntity)) {
        return "bad entity near " + text.substr(k, 10);
      }
    }
    return "";
  };
  if (xml.rfind("<?xml ", 0) == 0) i = xml.find("?>") + 2;
  while (i < xml.size()) {
    size_t lt = xml.find('<', i);
    std::string text = xml.substr(i, lt == std::string::npos ? std::string::npos : lt - i);
    if (std::string p = check_entities(text); !p.empty()) return p;
    if (lt == std::string::npos) break;
    size_t gt = lt;
    char quote = 0;
    for (gt = lt + 1; gt < xml.size(); ++gt) {
      char c = xml[gt];
      if (quote) {
        if (c == quote) quote = 0;
        else if (c == '<') return "raw < in attribute";
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        break;
      }
    }
    if (gt >= xml.size()) return "unterminated tag";
    std::string tag = xml.substr(lt + 1, gt - lt - 1);
    static const std::regex kOpen(
        R"(^([A-Za-z_][\w.-]*)(\s+[A-Za-z_][\w.-]*="[^"]*")*\s*(/?)$)");
    std::smatch m;
    if (!tag.empty() && tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return "mismatched </" + tag.substr(1);
      stack.pop_back();
    } else if (std::regex_match(tag, m, kOpen)) {
      std::string attrs = tag.substr(m[1].length());
      if (std::string p = check_entities(std::regex_replace(attrs, std::regex("<"), "")); !p.empty()) {
        return p;
      }
      if (m[3].length() == 0) stack.push_back(m[1]);
    } else {
      return "malformed tag <" + tag.substr(0, 40);
    }
    i = gt + 1;
  }
  return stack.empty() ? "" : "unclosed <" + stack.back();
}

std::string Attribute(const std::string& xml, const std::string& element, const std::string& name) {
  std::smatch m;
  std::regex re("<" + element + "\\b[^>]*\\s" + name + "=\"([^\"]*)\"");
  return std::regex_search(xml, m, re) ? m[1].str() : "<missing>";
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(ParseReportFormatTest, KnownNamesAndHelpfulErrors) {
  EXPECT_EQ(*ParseReportFormat("md"), ReportFormat::kMarkdown);
  EXPECT_EQ(*ParseReportFormat("markdown"), ReportFormat::kMarkdown);
  EXPECT_EQ(*ParseReportFormat("json"), ReportFormat::kJson);
  EXPECT_EQ(*ParseReportFormat("junit"), ReportFormat::kJunit);
  EXPECT_EQ(*ParseReportFormat("html"), ReportFormat::kHtml);
  absl::StatusOr<ReportFormat> pdf = ParseReportFormat("pdf");
  EXPECT_EQ(pdf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pdf.status().message(), HasSubstr("md, markdown, html, json or junit"));
}

TEST(FormatTest, OffsetsSpansNumbersTimes) {
  EXPECT_EQ(FormatOffset(5123), "+00:05.123");
  EXPECT_EQ(FormatOffset(0), "+00:00.000");
  EXPECT_EQ(FormatOffset(61'005), "+01:01.005");
  EXPECT_EQ(FormatOffset(3'723'004), "+1:02:03.004");
  EXPECT_EQ(FormatOffset(-250), "-00:00.250");
  EXPECT_EQ(FormatSpan(250), "250ms");
  EXPECT_EQ(FormatSpan(5123), "5.123s");
  EXPECT_EQ(FormatSpan(30'005), "30.0s");
  EXPECT_EQ(FormatSpan(65'000), "1m05s");
  EXPECT_EQ(FormatSpan(7'390'000), "2h03m10s");
  EXPECT_EQ(FormatNumber(12), "12");
  EXPECT_EQ(FormatNumber(79.8), "79.8");
  EXPECT_EQ(FormatNumber(80.125), "80.125");
  EXPECT_EQ(FormatUtc(kT0 + 123), "2026-11-27 14:23:01.123 UTC");
  EXPECT_EQ(FormatIsoUtc(kT0), "2026-11-27T14:23:01");
}

TEST(CleanTextTest, NeutralizesControlsAndBadUtf8) {
  EXPECT_EQ(CleanText("ok \xE2\x9C\x93"), "ok \xE2\x9C\x93");  // ✓ kept
  EXPECT_EQ(CleanText("a\x1b[31mred"), "a?[31mred");
  EXPECT_EQ(CleanText("a\xC2\x9B" "31m"), "a?31m");  // C1 CSI
  EXPECT_EQ(CleanText("bad\xFF"), "bad\xEF\xBF\xBD");
  EXPECT_EQ(CleanText("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(CleanText("line\r\nnext"), "line\nnext");
  EXPECT_EQ(OneLine("a\nb\tc"), "a b c");
}

TEST(EventDetailsTest, EveryKnownTypeAndGenericFallback) {
  Fixture f = FailedRun();
  std::map<std::string, std::string> details;
  for (const Event& e : f.events) details[e.type] = EventDetails(e);
  EXPECT_EQ(details["run.started"],
            "quickstart from experiments/quickstart.yaml targets db: 10.0.0.1:7431, 10.0.0.2:7431");
  EXPECT_EQ(details["probe.result"],
            "checkout-ok (after) FAILED in 1000.4ms - status 503 <html lang=\"en\"> - error: want "
            "200, got 503");
  EXPECT_EQ(details["fault.applied"],
            "f1 cpu.pressure on db @ 10.0.0.1:7431 via cgroup for 30.0s: load=80 workers=2; "
            "resolved: 2 workers at 80%");
  EXPECT_EQ(details["fault.observed"], "f1 @ 10.0.0.1:7431: load_pct=79.8");
  EXPECT_EQ(details["fault.reverted"],
            "f1 cpu.pressure @ 10.0.0.1:7431 (duration elapsed): load_pct=80.125 workers=2");
  EXPECT_EQ(details["fault.failed"],
            "f3 process.kill @ 10.0.0.2:7431: NOT_FOUND: no process matches name \"worker\" <&>");
  EXPECT_EQ(details["wait.finished"], "waited 5.000s");
  EXPECT_EQ(details["note"], "alice: p99 <high> & \"errors\" | up");
  EXPECT_EQ(details["run.aborted"], "fault f3 could not be applied");
  EXPECT_EQ(details["run.finished"], "failed: fault f3 could not be applied (exit 3)");
  Event finished{1, "r", kT0, "run.finished", {{"status", "passed"}, {"exit_code", 0},
                                               {"verdict", "steady state held"}}};
  EXPECT_EQ(EventDetails(finished), "passed: steady state held (exit 0)");
  EXPECT_EQ(details["custom.thing"], "foo=\"bar baz\" n=3");

  Event lease{1, "r", kT0, "lease.lost", {{"agent", "a:1"}, {"error", "deadline exceeded"}}};
  EXPECT_EQ(EventDetails(lease), "a:1: deadline exceeded");
  Event odd{1, "r", kT0, "fault.applied", json::array({1, 2})};
  EXPECT_EQ(EventDetails(odd), "1, 2");
  Event empty{1, "r", kT0, "step.started", nullptr};
  EXPECT_EQ(EventDetails(empty), "step");
}

TEST(ReportTest, JunitCountsMatchTestcasesAndIsEscaped) {
  Fixture f = FailedRun();
  std::string xml = RenderReport(ReportFormat::kJunit, f.run, f.events);
  EXPECT_EQ(XmlProblem(xml), "") << xml;
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite ", 0), 0u);
  EXPECT_EQ(Attribute(xml, "testsuite", "name"), "faultline.quickstart");
  EXPECT_EQ(Attribute(xml, "testsuite", "timestamp"), "2026-11-27T14:23:01");
  EXPECT_EQ(Attribute(xml, "testsuite", "hostname"), "ctl-01");
  EXPECT_EQ(Attribute(xml, "testsuite", "time"), "35.400");

  int testcases = Count(xml, "<testcase ");
  int failures = Count(xml, "<failure ");
  int errors = Count(xml, "<error ");
  EXPECT_EQ(testcases, 6);  // 3 probe results + 3 steps
  EXPECT_EQ(Attribute(xml, "testsuite", "tests"), std::to_string(testcases));
  EXPECT_EQ(Attribute(xml, "testsuite", "failures"), std::to_string(failures));
  EXPECT_EQ(Attribute(xml, "testsuite", "errors"), std::to_string(errors));
  EXPECT_EQ(failures, 2);  // the after-probe and the failed kill step
  EXPECT_EQ(errors, 0);

  EXPECT_THAT(xml, HasSubstr("<testcase classname=\"steady_state.before\" name=\"checkout-ok\" "
                             "time=\"0.012\"/>"));
  EXPECT_THAT(xml, HasSubstr("<testcase classname=\"steady_state.after\" name=\"checkout-ok\""));
  EXPECT_THAT(xml, HasSubstr("<testcase classname=\"method\" name=\"step 1: cpu.pressure on db\" "
                             "time=\"30.030\"/>"));
  EXPECT_THAT(xml, HasSubstr("<testcase classname=\"method\" name=\"step 2: wait 5s\""));
  EXPECT_THAT(xml, HasSubstr("name=\"step 3: kill worker\""));
  EXPECT_THAT(xml, HasSubstr("<failure message=\"fault f3 (process.kill) on 10.0.0.2:7431: "
                             "NOT_FOUND: no process matches name &quot;worker&quot; &lt;&amp;&gt;\" "
                             "type=\"NOT_FOUND\">"));
  // Probe failures carry detail, latency and error.
  EXPECT_THAT(xml, HasSubstr("<failure message=\"want 200, got 503\" type=\"probe\">"));
  EXPECT_THAT(xml, HasSubstr("detail: status 503 &lt;html lang=\"en\"&gt;"));
  EXPECT_THAT(xml, HasSubstr("latency: 1000.4 ms"));
  EXPECT_THAT(xml, HasSubstr("<property name=\"run_id\" value=\"20261127-142301-quickstart-3f9a\"/>"));
  EXPECT_THAT(xml, HasSubstr("<system-out>"));
  EXPECT_THAT(xml, HasSubstr("<system-err></system-err>"));
  EXPECT_THAT(xml, Not(HasSubstr("<html")));
}

TEST(ReportTest, JunitAbortedStepIsAnError) {
  Fixture f;
  f.run = BaseRun(RunStatus::kAborted, 3, 2'000);
  f.Add(0, "run.started", {{"experiment", "quickstart"}});
  f.Add(10, "step.started", {{"index", 1}, {"kind", "wait"}, {"label", "wait 1m"}});
  f.Add(1'500, "run.aborted", {{"reason", "interrupted by user (SIGINT)"}});
  f.Add(2'000, "run.finished", {{"status", "aborted"}, {"exit_code", 3}});
  std::string xml = RenderReport(ReportFormat::kJunit, f.run, f.events);
  EXPECT_EQ(XmlProblem(xml), "") << xml;
  EXPECT_EQ(Attribute(xml, "testsuite", "tests"), "1");
  EXPECT_EQ(Attribute(xml, "testsuite", "errors"), "1");
  EXPECT_EQ(Attribute(xml, "testsuite", "failures"), "0");
  EXPECT_THAT(xml, HasSubstr("<error message=\"run aborted: interrupted by user (SIGINT)\" "
                             "type=\"run.aborted\">"));
  EXPECT_THAT(xml, HasSubstr("time=\"1.490\""));
}

TEST(ReportTest, JunitNeverGreenForARunThatDidNotPass) {
  Fixture f;
  f.run = BaseRun(RunStatus::kFailed, 3, 500);
  f.Add(0, "run.started", {{"experiment", "quickstart"}});
  f.Add(400, "run.aborted", {{"reason", "agent 10.0.0.9:7431 unreachable"}});
  std::string xml = RenderReport(ReportFormat::kJunit, f.run, f.events);
  EXPECT_EQ(XmlProblem(xml), "") << xml;
  EXPECT_EQ(Attribute(xml, "testsuite", "tests"), "1");
  EXPECT_EQ(Attribute(xml, "testsuite", "errors"), "1");
  EXPECT_THAT(xml, HasSubstr("<testcase classname=\"run\" name=\"verdict\""));
  EXPECT_THAT(xml, HasSubstr("unreachable"));

  f.run.status = RunStatus::kPassed;
  f.run.exit_code = 0;
  xml = RenderReport(ReportFormat::kJunit, f.run, {});
  EXPECT_EQ(Attribute(xml, "testsuite", "tests"), "0");
  EXPECT_EQ(XmlProblem(xml), "") << xml;
}

TEST(ReportTest, JunitEscapesHostileNames) {
  Fixture f;
  f.run = BaseRun(RunStatus::kDeviated, 1, 100);
  f.run.experiment = "a<b>&\"c'";
  f.Add(5, "probe.result", {{"probe", "p<&\">"}, {"phase", "after"}, {"ok", false},
                            {"detail", "bell\x07 esc\x1b nul-free \xFF end ]]>"}});
  std::string xml = RenderReport(ReportFormat::kJunit, f.run, f.events);
  EXPECT_EQ(XmlProblem(xml), "") << xml;
  EXPECT_EQ(Attribute(xml, "testsuite", "name"), "faultline.a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_THAT(xml, HasSubstr("name=\"p&lt;&amp;&quot;&gt;\""));
  EXPECT_THAT(xml, Not(HasSubstr("\x07")));
  EXPECT_THAT(xml, Not(HasSubstr("\x1b")));
  EXPECT_THAT(xml, Not(HasSubstr("\xFF")));
  EXPECT_THAT(xml, Not(HasSubstr("]]>")));
  EXPECT_EQ(Attribute(xml, "testsuite", "failures"), "1");
}

TEST(ReportTest, MarkdownHasEveryTable) {
  Fixture f = FailedRun();
  std::string md = RenderReport(ReportFormat::kMarkdown, f.run, f.events);
  EXPECT_THAT(md, HasSubstr("# Faultline run: quickstart\n"));
  EXPECT_THAT(md, HasSubstr("Run `20261127-142301-quickstart-3f9a`: **failed: fault f3 could not be applied**\n"));
  EXPECT_THAT(md, HasSubstr("| Verdict | failed: fault f3 could not be applied |"));
  EXPECT_THAT(md, HasSubstr("| Started | 2026-11-27 14:23:01.000 UTC |"));
  EXPECT_THAT(md, HasSubstr("| Duration | 35.4s |"));
  EXPECT_THAT(md, HasSubstr("| Exit code | 3 |"));
  EXPECT_THAT(md, HasSubstr("| Host | ctl-01 (controller pid 4242) |"));
  EXPECT_THAT(md, HasSubstr("| Agents | db: 10.0.0.1:7431, 10.0.0.2:7431 |"));

  EXPECT_THAT(md, HasSubstr("| Probe | Phase | OK | Latency | Detail |"));
  EXPECT_THAT(md, HasSubstr("| checkout-ok | before | ✓ | 12 ms | HTTP 200 |"));
  EXPECT_THAT(md, HasSubstr("| checkout-ok | after | ✗ | 1000.4 ms | status 503 &lt;html "
                            "lang=\"en\"&gt;; error: want 200, got 503 |"));

  EXPECT_THAT(md, HasSubstr("| Fault | Kind | Target | Agent | Engine | Applied | Reverted | "
                            "Held for | Observed |"));
  EXPECT_THAT(md, HasSubstr("| `f1` | `cpu.pressure` | db | 10.0.0.1:7431 | cgroup | +00:00.045 | "
                            "+00:30.050 (duration elapsed) | 30.0s | load_pct=80.125 workers=2 |"));
  EXPECT_THAT(md, HasSubstr("| `f3` | `process.kill` |  | 10.0.0.2:7431 |  | - | **failed** "
                            "+00:35.090: NOT_FOUND: no process matches name \"worker\" "
                            "&lt;&amp;&gt; | - |  |"));

  EXPECT_THAT(md, HasSubstr("| Offset | Event | Details |"));
  EXPECT_THAT(md, HasSubstr("| +00:30.050 | `fault.reverted` | f1 cpu.pressure @ 10.0.0.1:7431 "
                            "(duration elapsed): load_pct=80.125 workers=2 |"));
  EXPECT_THAT(md, HasSubstr("| +00:35.300 | `custom.thing` | foo=\"bar baz\" n=3 |"));
  EXPECT_THAT(md, HasSubstr("| +00:00.000 | `run.started` | quickstart from "
                            "experiments/quickstart.yaml targets db: 10.0.0.1:7431, "
                            "10.0.0.2:7431 |"));
  // One timeline row per event: header, separator, rows.
  size_t timeline = md.find("## Timeline");
  size_t notes = md.find("## Notes");
  ASSERT_NE(timeline, std::string::npos);
  ASSERT_NE(notes, std::string::npos);
  EXPECT_EQ(Count(md.substr(timeline, notes - timeline), "\n| "),
            static_cast<int>(f.events.size()) + 2);

  EXPECT_THAT(md, HasSubstr("- +00:35.070 **alice**: p99 &lt;high&gt; &amp; \"errors\" \\| up\n"));
  EXPECT_THAT(md, HasSubstr("`````yaml\napiVersion: faultline/v1\n"));  // fence outruns ````
}

TEST(ReportTest, MarkdownForRunWithNothingRecorded) {
  RunRecord run = BaseRun(RunStatus::kRunning, -1, -1);
  std::string md = RenderReport(ReportFormat::kMarkdown, run, {});
  EXPECT_THAT(md, HasSubstr("_No probe results recorded._"));
  EXPECT_THAT(md, HasSubstr("_No faults applied._"));
  EXPECT_THAT(md, HasSubstr("_No events recorded._"));
  EXPECT_THAT(md, HasSubstr("| Ended | - |"));
  EXPECT_THAT(md, HasSubstr("still running"));
}

TEST(ReportTest, JsonRoundTripsWithStableKeys) {
  Fixture f = FailedRun();
  std::string text = RenderReport(ReportFormat::kJson, f.run, f.events);
  json doc = json::parse(text, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << text;
  EXPECT_EQ(doc["report_version"], 1);
  const json& run = doc["run"];
  EXPECT_EQ(run["run_id"], f.run.run_id);
  EXPECT_EQ(run["experiment"], "quickstart");
  EXPECT_EQ(run["status"], "failed");
  EXPECT_EQ(run["exit_code"], 3);
  EXPECT_EQ(run["started_unix_ms"], kT0);
  EXPECT_EQ(run["started"], "2026-11-27T14:23:01Z");
  EXPECT_EQ(run["duration_ms"], 35'400);
  EXPECT_EQ(run["verdict"], "failed: fault f3 could not be applied");
  EXPECT_EQ(run["source_text"], f.run.source_text);
  EXPECT_EQ(run["host"], "ctl-01");
  EXPECT_EQ(run["dry_run"], false);
  EXPECT_EQ(doc["summary"]["faults_failed"], 1);
  EXPECT_EQ(doc["summary"]["faults_applied"], 1);
  EXPECT_EQ(doc["summary"]["probes_failed"], 1);
  ASSERT_EQ(doc["events"].size(), f.events.size());
  for (size_t i = 0; i < f.events.size(); ++i) {
    const json& e = doc["events"][i];
    EXPECT_EQ(e["seq"], f.events[i].seq);
    EXPECT_EQ(e["type"], f.events[i].type);
    EXPECT_EQ(e["unix_ms"], f.events[i].unix_ms);
    EXPECT_EQ(e["offset_ms"], f.events[i].unix_ms - kT0);
    EXPECT_EQ(e["data"], f.events[i].data);
  }
  // Same input, same bytes.
  EXPECT_EQ(text, RenderReport(ReportFormat::kJson, f.run, f.events));

  RunRecord running = BaseRun(RunStatus::kRunning, -1, -1);
  json open = json::parse(RenderReport(ReportFormat::kJson, running, {}));
  EXPECT_TRUE(open["run"]["ended"].is_null());
  EXPECT_TRUE(open["run"]["duration_ms"].is_null());
}

TEST(TimelineTest, ReadableIn80Columns) {
  Fixture f = FailedRun();
  std::string text = RenderTimeline(f.run, f.events);
  std::vector<std::string> lines = Lines(text);
  for (const std::string& line : lines) {
    EXPECT_LE(Columns(line), 80u) << line;
  }
  EXPECT_EQ(lines[0], "Run         20261127-142301-quickstart-3f9a");
  EXPECT_EQ(lines[1], "Experiment  quickstart (experiments/quickstart.yaml)");
  EXPECT_EQ(lines[2], "Started     2026-11-27 14:23:01.000 UTC on ctl-01, controller pid 4242");
  EXPECT_THAT(text, HasSubstr("\n+00:00.012  probe.result     checkout-ok (before) ok in 12ms - "
                              "HTTP 200\n"));
  EXPECT_THAT(text, HasSubstr("\n+00:30.060  step.started     step 2: wait 5s (wait)\n"));
  EXPECT_THAT(text, HasSubstr("\n+00:35.300  custom.thing     foo=\"bar baz\" n=3\n"));
  // Long details wrap under the details column.
  EXPECT_THAT(text, HasSubstr("\n+00:00.045  fault.applied    f1 cpu.pressure on db @ "
                              "10.0.0.1:7431 via cgroup\n"
                              "                             for 30.0s: load=80 workers=2; "
                              "resolved: 2 workers\n"
                              "                             at 80%\n"));
  EXPECT_EQ(lines.back(),
            "Verdict     failed: fault f3 could not be applied (exit 3, took 35.4s)");
  EXPECT_THAT(text, Not(HasSubstr("WARNING")));
}

TEST(TimelineTest, InterruptedRunWarnsAboutUnrevertedFaults) {
  Fixture f = InterruptedRun();
  std::string text = RenderTimeline(f.run, f.events);
  EXPECT_THAT(text, HasSubstr("embedded agent"));
  EXPECT_THAT(text, HasSubstr("\n+1:00:00.000  run.interrupted  controller pid 4242"));
  EXPECT_THAT(text, HasSubstr("Verdict     interrupted: controller pid 4242"));
  EXPECT_THAT(text, HasSubstr("WARNING     no revert recorded for fault f1 (process.pause @ "
                              "local)"));
  for (const std::string& line : Lines(text)) EXPECT_LE(Columns(line), 80u) << line;

  std::string xml = RenderReport(ReportFormat::kJunit, f.run, f.events);
  EXPECT_EQ(XmlProblem(xml), "") << xml;
  EXPECT_THAT(xml, HasSubstr("type=\"run.interrupted\""));
  EXPECT_EQ(Attribute(xml, "testsuite", "errors"), "1");
  EXPECT_THAT(xml, HasSubstr("name=\"step 1: pause db\" time=\"10.015\""));

  std::string md = RenderReport(ReportFormat::kMarkdown, f.run, f.events);
  EXPECT_THAT(md, HasSubstr("**no revert recorded**"));
}

TEST(TimelineTest, JournalTextCannotDriveTheTerminal) {
  Fixture f;
  f.run = BaseRun(RunStatus::kPassed, 0, 100);
  f.Add(1, "note", {{"author", "x\x1b]0;pwned\x07"}, {"text", "a\x1b[2Jb\r\nc\xC2\x9B"}});
  f.Add(2, "evil\x1b[31m.type", {{"k\x1b", "v"}});
  std::string text = RenderTimeline(f.run, f.events);
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
  EXPECT_THAT(text, Not(HasSubstr("\x07")));
  EXPECT_THAT(text, Not(HasSubstr("\r")));
  EXPECT_THAT(text, Not(HasSubstr("\xC2\x9B")));
  std::string table = RenderRunsTable({f.run});
  EXPECT_THAT(table, Not(HasSubstr("\x1b")));
}

TEST(RunsTableTest, AlignedRowsNewestFirstAsGiven) {
  EXPECT_EQ(RenderRunsTable({}), "No runs found.\n");
  RunRecord a = BaseRun(RunStatus::kPassed, 0, 65'000);
  RunRecord b = BaseRun(RunStatus::kRunning, -1, -1);
  b.run_id = "20261127-150000-cpu-1";
  b.experiment = "cpu";
  b.dry_run = true;
  std::string table = RenderRunsTable({b, a});
  std::vector<std::string> lines = Lines(table);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0],
            "RUN ID                           STATUS         STARTED (UTC)     DURATION  EXIT  "
            "EXPERIMENT");
  EXPECT_EQ(lines[1],
            "20261127-150000-cpu-1            running (dry)  2026-11-27 14:23  -         -     "
            "cpu");
  EXPECT_EQ(lines[2],
            "20261127-142301-quickstart-3f9a  passed         2026-11-27 14:23  1m05s     0     "
            "quickstart");
}

}  // namespace
}  // namespace faultline::controller
