// The review renderers added for game days and drills: what RunView reads
// from run.started and drill.* events, HTML structure and escaping, JUnit
// expectations validated against testdata/junit.xsd with xmllint, the
// post-mortem draft, and `compare`.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "controller/report/report.h"
#include "controller/report/review_fixture.h"
#include "controller/report/run_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#ifndef FAULTLINE_REPORT_TESTDATA
#define FAULTLINE_REPORT_TESTDATA "controller/report/testdata"
#endif

namespace faultline::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using testing::DrillEvents;
using testing::DrillRun;
using testing::kXssNote;
using testing::ToEvents;

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// The text between "## title" and the next "## ".
std::string Section(const std::string& md, const std::string& title) {
  size_t start = md.find("## " + title + "\n");
  if (start == std::string::npos) return "";
  size_t end = md.find("\n## ", start + 3);
  return md.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fl-review-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(RunViewReviewTest, ReadsRunStartedFieldsDrillEventsAndDeviations) {
  RunRecord run = DrillRun();
  RunView v = BuildRunView(run, ToEvents(run, DrillEvents()));
  EXPECT_EQ(v.kind, "Drill");
  EXPECT_THAT(v.hypothesis, HasSubstr("DatabaseLatencyHigh fires within 1m"));
  EXPECT_EQ(v.owner, "payments-sre");
  EXPECT_THAT(v.roles, ElementsAre(Pair("incident_commander", "alice"), Pair("observers", "carol, dan"),
                                   Pair("scribe", "bob")));
  EXPECT_THAT(v.labels, ElementsAre(Pair("team", "payments"), Pair("tier", "1")));
  ASSERT_TRUE(v.speed.has_value());
  EXPECT_EQ(*v.speed, 10);

  ASSERT_EQ(v.expectations.size(), 2u);
  const ExpectationView& detect = v.expectations[0];
  EXPECT_EQ(detect.Name(), "detect DatabaseLatencyHigh within 1m00s");
  EXPECT_EQ(detect.outcome, ExpectationView::Outcome::kMet);
  EXPECT_EQ(detect.measured_ms, 45'000);
  EXPECT_EQ(detect.at_ms, 50'000);
  EXPECT_EQ(detect.reference_ms, 5'000);
  EXPECT_EQ(detect.source, "http://127.0.0.1:9093");
  const ExpectationView& recover = v.expectations[1];
  EXPECT_EQ(recover.Name(), "recover checkout within 30.0s from last-revert");
  EXPECT_EQ(recover.outcome, ExpectationView::Outcome::kMet);
  EXPECT_EQ(recover.measured_ms, 12'000);
  EXPECT_EQ(recover.at_ms, 137'000);

  // checkout fails from 40s through 130s and passes again at 140s.
  ASSERT_EQ(v.deviations.size(), 1u);
  EXPECT_EQ(v.deviations[0].probe, "checkout");
  EXPECT_EQ(v.deviations[0].start_ms, 40'000);
  EXPECT_EQ(v.deviations[0].end_ms, 140'000);
  EXPECT_EQ(v.deviations[0].failures, 10);
  EXPECT_EQ(SpanLengthMs(v, v.deviations[0]), 100'000);

  std::vector<std::string> kinds;
  for (const MarkerView& m : v.markers) kinds.push_back(m.kind);
  EXPECT_THAT(kinds, ElementsAre("detect", "note", "recover", "abort"));
  EXPECT_EQ(v.end_ms, 200'000);
}

TEST(RunViewReviewTest, LateMeasurementAndDrillMissedAreMisses) {
  RunRecord run = DrillRun();
  // Detected after 90s against a 60s target; recovery never came.
  RunView v = BuildRunView(run, ToEvents(run, DrillEvents(90'000, 0, /*missed_recover=*/true)));
  ASSERT_EQ(v.expectations.size(), 2u);
  EXPECT_EQ(v.expectations[0].outcome, ExpectationView::Outcome::kMissed);
  EXPECT_EQ(v.expectations[0].measured_ms, 90'000);
  EXPECT_EQ(v.expectations[1].outcome, ExpectationView::Outcome::kMissed);
  EXPECT_FALSE(v.expectations[1].measured_ms.has_value());
  EXPECT_THAT(v.expectations[1].reason, HasSubstr("still failing"));
}

TEST(RunViewReviewTest, DrillEventWithoutAnnouncedExpectationGetsItsOwn) {
  RunRecord run = DrillRun();
  std::vector<Event> events = ToEvents(run, {{0, "run.started", {{"experiment", "x"}}},
                                             {500, "drill.detected",
                                              {{"alert", "Other"}, {"time_to_detect_ms", 400}}}});
  RunView v = BuildRunView(run, events);
  ASSERT_EQ(v.expectations.size(), 1u);
  EXPECT_EQ(v.expectations[0].Name(), "detect Other");
  EXPECT_EQ(v.expectations[0].outcome, ExpectationView::Outcome::kMet);
}

TEST(HtmlReportTest, SelfContainedWithLanesBarsMarksAndMarkers) {
  RunRecord run = DrillRun();
  std::vector<Event> events = ToEvents(run, DrillEvents());
  ASSERT_TRUE(ParseReportFormat("html").ok());
  std::string html = RenderReport(*ParseReportFormat("html"), run, events);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_THAT(html, HasSubstr("</html>\n"));
  // Nothing to fetch: no scripts, no src or href attributes, no external
  // stylesheets. The one URL in the journal (the Alertmanager the alert was
  // seen at) is text.
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("href=")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  std::string without_text_url = std::regex_replace(html, std::regex("http://127\\.0\\.0\\.1:9093"), "");
  EXPECT_THAT(without_text_url, Not(HasSubstr("http://")));
  EXPECT_THAT(without_text_url, Not(HasSubstr("https://")));

  EXPECT_EQ(Count(html, "<svg class=\"timeline\""), 1u);
  EXPECT_EQ(Count(html, "class=\"lane host-lane\""), 2u);
  EXPECT_THAT(html, HasSubstr("class=\"lane host-lane\" data-host=\"db-1\""));
  EXPECT_THAT(html, HasSubstr("class=\"lane host-lane\" data-host=\"db-2\""));
  EXPECT_EQ(Count(html, "class=\"lane probe-lane\" data-probe=\"checkout\""), 1u);
  EXPECT_EQ(Count(html, "<g class=\"fault-bar\" data-kind=\"network.delay\""), 1u);
  EXPECT_EQ(Count(html, "<g class=\"fault-bar\" data-kind=\"cpu.pressure\""), 1u);
  EXPECT_THAT(html, HasSubstr("data-applied-ms=\"5000\" data-reverted-ms=\"125000\""));
  EXPECT_EQ(Count(html, "class=\"probe-mark pass\""), 11u);  // before, 9 during, after
  EXPECT_EQ(Count(html, "class=\"probe-mark fail\""), 10u);
  EXPECT_EQ(Count(html, "<rect class=\"deviation\""), 1u);
  EXPECT_EQ(Count(html, "<g class=\"marker note\""), 1u);
  EXPECT_EQ(Count(html, "<g class=\"marker detect\""), 1u);
  EXPECT_EQ(Count(html, "<g class=\"marker recover\""), 1u);
  EXPECT_EQ(Count(html, "<g class=\"marker abort\""), 1u);
  EXPECT_THAT(html, HasSubstr("<g class=\"marker detect\" data-kind=\"detect\" data-offset-ms=\"50000\""));
  EXPECT_EQ(Count(html, "<g class=\"lane expect-lane\">"), 1u);
  EXPECT_THAT(html, HasSubstr("<g class=\"expect-window met\" data-expectation=\"detect DatabaseLatencyHigh within 1m00s\""));
  EXPECT_THAT(html, HasSubstr("<g class=\"expect-window met\" data-expectation=\"recover checkout within 30.0s from last-revert\""));
  // Tick labels along the axis.
  EXPECT_THAT(html, HasSubstr(">+01:00</text>"));
  // Tooltips carry the values.
  EXPECT_THAT(html, HasSubstr("checkout (during) FAILED at +00:40.000\nlatency 950 ms\nHTTP 503\n"
                              "error: status 503, want 200</title>"));
  // Context and tables.
  EXPECT_THAT(html, HasSubstr("<dd class=\"hypothesis\">DatabaseLatencyHigh fires within 1m"));
  EXPECT_THAT(html, HasSubstr("<dt class=\"role\" data-role=\"incident_commander\">incident commander</dt><dd>alice</dd>"));
  for (const char* id : {"summary", "expectations", "faults", "probes", "notes", "events", "source"}) {
    EXPECT_THAT(html, HasSubstr(std::string("<section id=\"") + id + "\">")) << id;
  }
  EXPECT_THAT(html, HasSubstr("<td>detect DatabaseLatencyHigh within 1m00s</td><td><span class=\"ok\">met</span></td>"
                              "<td class=\"num\">45.0s</td>"));
}

TEST(HtmlReportTest, EscapesEveryJournalString) {
  RunRecord run = DrillRun();
  run.experiment = "x\"><img onerror=1>";
  std::vector<testing::ScriptedEvent> scripted = DrillEvents();
  scripted.push_back({100, "fault.applied",
                      {{"fault_id", "f\"'<b>"}, {"kind", "k<i>"}, {"agent", "h\"><svg onload=1>"},
                       {"params", {{"p", "</title><script>x</script>"}}}}});
  scripted.push_back({120, "probe.result", {{"probe", "p</text><script>"}, {"ok", false}, {"error", "<e>"}}});
  std::string html = RenderReport(ReportFormat::kHtml, run, ToEvents(run, scripted));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("<svg onload")));
  EXPECT_THAT(html, Not(HasSubstr("<b>")));
  EXPECT_THAT(html, Not(HasSubstr("<i>")));
  EXPECT_THAT(html, HasSubstr("p99 up &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"));
  EXPECT_THAT(html, HasSubstr("data-host=\"h&quot;&gt;&lt;svg onload=1&gt;\""));
}

TEST(HtmlReportTest, EmptyAndRunningRunsRender) {
  RunRecord run = DrillRun();
  run.status = RunStatus::kRunning;
  run.ended_unix_ms = 0;
  std::string html = RenderReport(ReportFormat::kHtml, run, {});
  EXPECT_THAT(html, HasSubstr("No faults or probe results recorded."));
  EXPECT_THAT(html, HasSubstr("status-running"));
  // An applied fault without revert is drawn open-ended.
  std::vector<Event> events = ToEvents(run, {{0, "fault.applied", {{"fault_id", "a"}, {"kind", "process.pause"}, {"agent", "h"}}},
                                             {10, "fault.failed", {{"fault_id", "b"}, {"kind", "process.kill"}, {"agent", "h"}, {"error", "no such process"}}}});
  html = RenderReport(ReportFormat::kHtml, run, events);
  EXPECT_EQ(Count(html, "<g class=\"fault-bar open\""), 1u);
  EXPECT_EQ(Count(html, "<g class=\"fault-bar failed\""), 1u);
  EXPECT_EQ(Count(html, "class=\"lane host-lane\""), 1u);
}

// Runs `argv` with stdout and stderr to `output`; returns the exit status
// (-1 when it could not be run).
int RunTool(const std::vector<std::string>& argv, std::string* output) {
  std::string joined;
  for (const std::string& a : argv) joined += "'" + a + "' ";
  joined += "2>&1";
  FILE* pipe = popen(joined.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output->append(buf, n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class JunitSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/xmllint", X_OK) != 0) GTEST_SKIP() << "xmllint (libxml2-utils) not installed";
    xsd_ = std::string(FAULTLINE_REPORT_TESTDATA) + "/junit.xsd";
    ASSERT_TRUE(std::filesystem::exists(xsd_)) << xsd_;
  }
  // xmllint's verdict on `xml` against the schema; its output in `log`.
  bool Valid(const std::string& xml, std::string* log) {
    std::string file = dir_.path() + "/report.xml";
    std::ofstream(file) << xml;
    return RunTool({"/usr/bin/xmllint", "--noout", "--schema", xsd_, file}, log) == 0;
  }
  TempDir dir_;
  std::string xsd_;
};

TEST_F(JunitSchemaTest, DrillReportIsValidWithOneCasePerExpectation) {
  RunRecord run = DrillRun();
  std::string xml = RenderReport(ReportFormat::kJunit, run, ToEvents(run, DrillEvents(90'000, 0, true)));
  std::string log;
  EXPECT_TRUE(Valid(xml, &log)) << log << "\n" << xml;
  EXPECT_THAT(xml, HasSubstr("<testcase classname=\"drill\" name=\"detect DatabaseLatencyHigh within 1m00s\" "
                             "time=\"90.000\">\n    <failure message=\"detect DatabaseLatencyHigh within 1m00s: "
                             "took 1m30s\" type=\"detect.missed\">"));
  EXPECT_THAT(xml, HasSubstr("time to detect: 1m30s\ntarget: 1m00s"));
  EXPECT_THAT(xml, HasSubstr("name=\"recover checkout within 30.0s from last-revert\""));
  EXPECT_THAT(xml, HasSubstr("type=\"recover.missed\""));
  EXPECT_THAT(xml, HasSubstr("<property name=\"hypothesis\" value=\"DatabaseLatencyHigh fires"));
  EXPECT_THAT(xml, HasSubstr("<property name=\"role.incident_commander\" value=\"alice\"/>"));
  // Probe failures carry the values.
  EXPECT_THAT(xml, HasSubstr("latency: 950 ms\ndetail: HTTP 503\nerror: status 503, want 200"));
}

TEST_F(JunitSchemaTest, MetPendingAndPlainRunsAreValid) {
  RunRecord run = DrillRun();
  std::string log;
  std::string met = RenderReport(ReportFormat::kJunit, run, ToEvents(run, DrillEvents()));
  EXPECT_TRUE(Valid(met, &log)) << log;
  EXPECT_THAT(met, HasSubstr("<testcase classname=\"drill\" name=\"detect DatabaseLatencyHigh within 1m00s\" "
                             "time=\"45.000\"/>"));
  // Announced but never measured (the run is still going): skipped.
  std::vector<testing::ScriptedEvent> started = {DrillEvents().front()};
  run.status = RunStatus::kRunning;
  std::string pending = RenderReport(ReportFormat::kJunit, run, ToEvents(run, started));
  EXPECT_TRUE(Valid(pending, &log)) << log;
  EXPECT_THAT(pending, HasSubstr("<skipped message=\"not measured yet\"/>"));
  EXPECT_THAT(pending, HasSubstr("skipped=\"2\""));
  // Journal strings that look like markup stay text.
  RunRecord odd = DrillRun();
  odd.experiment = "a<b>&\"c\"";
  std::string escaped = RenderReport(ReportFormat::kJunit, odd,
                                     ToEvents(odd, {{0, "note", {{"text", "]]><x/>"}}},
                                                    {1, "probe.result", {{"probe", "<p>"}, {"ok", false}}}}));
  EXPECT_TRUE(Valid(escaped, &log)) << log << escaped;
  // Failures and errors from steps: a fault that failed, a step cut short.
  RunRecord aborted = DrillRun();
  aborted.status = RunStatus::kAborted;
  aborted.exit_code = 3;
  std::string errors = RenderReport(
      ReportFormat::kJunit, aborted,
      ToEvents(aborted, {{0, "step.started", {{"index", 1}, {"kind", "fault"}, {"label", "kill"}}},
                         {5, "fault.failed", {{"fault_id", "f"}, {"kind", "process.kill"}, {"agent", "h"},
                                              {"error", "no process"}, {"code", "NOT_FOUND"}}},
                         {6, "step.started", {{"index", 2}, {"kind", "wait"}, {"label", "wait"}}},
                         {9, "lease.lost", {{"agent", "h"}, {"error", "gone"}}},
                         {10, "run.aborted", {{"reason", "stop"}}}}));
  EXPECT_TRUE(Valid(errors, &log)) << log << errors;
  EXPECT_THAT(errors, HasSubstr("<failure message="));
  EXPECT_THAT(errors, HasSubstr("<error message="));
}

TEST_F(JunitSchemaTest, SchemaRejectsWhatCiWouldReject) {
  std::string log;
  EXPECT_FALSE(Valid("<testsuite name=\"x\"><testcase name=\"a\"/></testsuite>", &log));  // no classname
  EXPECT_FALSE(Valid("<testsuite name=\"x\"><testcase classname=\"c\" name=\"a\" time=\"-1\"/></testsuite>", &log));
  EXPECT_FALSE(Valid("<testsuite name=\"x\"><testcase classname=\"c\" name=\"a\"><failure/><error/></testcase></testsuite>", &log));
  EXPECT_TRUE(Valid("<testsuites><testsuite name=\"x\" tests=\"1\"><testcase classname=\"c\" name=\"a\"><skipped/></testcase></testsuite></testsuites>", &log)) << log;
}

TEST(PostmortemTest, PrefilledSectionsAndEmptyPrompts) {
  RunRecord run = DrillRun();
  std::string md = RenderPostmortem(run, ToEvents(run, DrillEvents()));
  EXPECT_EQ(md.rfind("# Post-mortem: db-latency-drill (2026-11-27 14:23 UTC)\n", 0), 0u);
  EXPECT_THAT(md, HasSubstr("blameless"));
  EXPECT_THAT(md, HasSubstr("**Hypothesis:** DatabaseLatencyHigh fires within 1m"));
  EXPECT_THAT(md, HasSubstr("- incident commander: alice\n"));
  EXPECT_THAT(md, HasSubstr("- scribe: bob\n"));
  for (const char* title : {"Summary", "Impact", "Detection and recovery", "Timeline",
                            "Contributing factors (five whys)", "What went well",
                            "What could have gone better", "Action items"}) {
    EXPECT_THAT(md, HasSubstr(std::string("\n## ") + title + "\n")) << title;
  }
  std::string summary = Section(md, "Summary");
  EXPECT_THAT(summary, HasSubstr("It applied 2 faults (cpu.pressure, network.delay) on 2 hosts"));
  EXPECT_THAT(summary, HasSubstr("1 of 1 probe deviated"));
  std::string impact = Section(md, "Impact");
  EXPECT_THAT(impact, HasSubstr("| checkout | +00:40.000 | +02:20.000 | 1m40s | 10 |"));
  EXPECT_THAT(impact, HasSubstr("`checkout` deviated for 1m40s in total (1 span)"));
  std::string detection = Section(md, "Detection and recovery");
  EXPECT_THAT(detection, HasSubstr("- Time to detect (DatabaseLatencyHigh): 45.0s\n"));
  EXPECT_THAT(detection, HasSubstr("- Time to recover (checkout): 12.0s\n"));
  std::string timeline = Section(md, "Timeline");
  EXPECT_THAT(timeline, HasSubstr("| 2026-11-27 14:23:06.000 UTC | +00:05.000 | fault.applied: r1-f1 network.delay"));
  EXPECT_THAT(timeline, HasSubstr("probe checkout started failing"));
  EXPECT_THAT(timeline, HasSubstr("probe checkout passing again"));
  EXPECT_THAT(timeline, HasSubstr("drill.detected: DatabaseLatencyHigh firing after 45.0s"));
  // Journal markup stays text.
  EXPECT_THAT(timeline, HasSubstr("&lt;script&gt;"));
  EXPECT_THAT(md, Not(HasSubstr("<script")));
  // Time order: the note (+01:10) comes after the detection (+00:50).
  EXPECT_LT(timeline.find("drill.detected"), timeline.find("note: bob"));
  EXPECT_THAT(Section(md, "Contributing factors (five whys)"), HasSubstr("5. Why?"));
  EXPECT_THAT(Section(md, "Action items"), HasSubstr("| Action | Owner | Priority | Due | Ticket |"));
}

TEST(PostmortemTest, PlainRunSaysWhatIsMissing) {
  RunRecord run = DrillRun();
  run.kind = "";
  run.status = RunStatus::kPassed;
  std::string md = RenderPostmortem(run, ToEvents(run, {{0, "run.started", {{"experiment", "x"}}}}));
  EXPECT_THAT(md, HasSubstr("_none recorded (metadata.hypothesis)_"));
  EXPECT_THAT(md, HasSubstr("add the incident commander"));
  EXPECT_THAT(md, HasSubstr("No probe results were recorded"));
  EXPECT_THAT(md, HasSubstr("Time to detect: _not measured_"));
}

TEST(CompareTest, SideBySideWithDeltas) {
  RunRecord a = DrillRun("run-a");
  RunRecord b = DrillRun("run-b");
  b.started_unix_ms += 86'400'000;
  b.ended_unix_ms += 86'400'000 - 20'000;  // 20 s shorter
  std::vector<Event> ea = ToEvents(a, DrillEvents(45'000, 12'000));
  std::vector<Event> eb = ToEvents(b, DrillEvents(20'000, 0, /*missed_recover=*/true));
  std::string text = RenderComparison(CompareFormat::kText, a, ea, b, eb);
  EXPECT_THAT(text, Not(HasSubstr("warning:")));
  EXPECT_THAT(text, HasSubstr("FIGURE"));
  EXPECT_THAT(text, HasSubstr("A run-a"));
  EXPECT_THAT(text, HasSubstr("B run-b"));
  EXPECT_THAT(text, ::testing::ContainsRegex("duration +3m20s +3m00s +-20.0s"));
  EXPECT_THAT(text, ::testing::ContainsRegex(
                        "time to detect DatabaseLatencyHigh +45.0s \\(met, target 1m00s\\) +20.0s "
                        "\\(met, target 1m00s\\) +-25.0s"));
  EXPECT_THAT(text, ::testing::ContainsRegex("time to recover checkout +12.0s \\(met, target 30.0s\\) +- "
                                           "\\(missed, target 30.0s\\)"));
  EXPECT_THAT(text, ::testing::ContainsRegex("probe checkout deviations +1 +1 +0"));
  // B's run ends 20 s earlier; its checkout span is the same 100 s.
  EXPECT_THAT(text, ::testing::ContainsRegex("probe checkout deviated for +1m40s +1m40s +0"));

  std::string md = RenderComparison(CompareFormat::kMarkdown, a, ea, b, eb);
  EXPECT_THAT(md, HasSubstr("| Figure | A run-a | B run-b | Delta (B - A) |"));
  EXPECT_THAT(md, HasSubstr("| duration | 3m20s | 3m00s | -20.0s |"));

  nlohmann::json j = nlohmann::json::parse(RenderComparison(CompareFormat::kJson, a, ea, b, eb));
  EXPECT_EQ(j["compare_version"], 1);
  EXPECT_TRUE(j["warnings"].empty());
  bool found = false;
  for (const auto& row : j["rows"]) {
    if (row["metric"] == "time to detect DatabaseLatencyHigh") {
      found = true;
      EXPECT_EQ(row["a_value"], 45'000);
      EXPECT_EQ(row["b_value"], 20'000);
      EXPECT_EQ(row["delta_value"], -25'000);
      EXPECT_EQ(row["unit"], "ms");
    }
  }
  EXPECT_TRUE(found);
}

TEST(CompareTest, WarnsWhenExperimentsDiffer) {
  RunRecord a = DrillRun("run-a");
  RunRecord b = DrillRun("run-b");
  b.experiment = "other";
  std::vector<Event> none;
  std::string text = RenderComparison(CompareFormat::kText, a, none, b, none);
  EXPECT_THAT(text, HasSubstr("warning: runs are of different experiments (db-latency-drill vs other)"));
  EXPECT_THAT(text, ::testing::ContainsRegex("experiment +db-latency-drill +other +changed"));
  nlohmann::json j = nlohmann::json::parse(RenderComparison(CompareFormat::kJson, a, none, b, none));
  ASSERT_EQ(j["warnings"].size(), 1u);
  EXPECT_EQ(ParseCompareFormat("yaml").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReviewFormatsTest, MarkdownJsonAndShowCarryRolesHypothesisAndExpectations) {
  RunRecord run = DrillRun();
  std::vector<Event> events = ToEvents(run, DrillEvents());
  std::string md = RenderReport(ReportFormat::kMarkdown, run, events);
  EXPECT_EQ(md.rfind("# Faultline drill: db-latency-drill\n", 0), 0u);
  EXPECT_THAT(md, HasSubstr("**Hypothesis:** DatabaseLatencyHigh fires within 1m"));
  EXPECT_THAT(md, HasSubstr("- incident commander: alice\n"));
  EXPECT_THAT(md, HasSubstr("| detect DatabaseLatencyHigh within 1m00s | met | 45.0s | 1m00s | +00:50.000 |"));
  EXPECT_THAT(md, HasSubstr("| checkout | +00:40.000 | +02:20.000 | 1m40s | 10 |"));
  EXPECT_THAT(md, HasSubstr("&lt;script&gt;"));

  nlohmann::json j = nlohmann::json::parse(RenderReport(ReportFormat::kJson, run, events));
  EXPECT_EQ(j["run"]["kind"], "Drill");
  EXPECT_EQ(j["run"]["roles"]["scribe"], "bob");
  EXPECT_EQ(j["run"]["labels"]["team"], "payments");
  EXPECT_EQ(j["expectations"][0]["measured_ms"], 45'000);
  EXPECT_EQ(j["expectations"][1]["outcome"], "met");
  EXPECT_EQ(j["deviations"][0]["duration_ms"], 100'000);

  std::string show = RenderTimeline(run, events);
  EXPECT_THAT(show, HasSubstr("Kind        Drill at 10x\n"));
  EXPECT_THAT(show, HasSubstr("Hypothesis  DatabaseLatencyHigh fires within 1m"));
  EXPECT_THAT(show, HasSubstr("Roles       incident commander: alice; observers: carol, dan; scribe: bob\n"));
  EXPECT_THAT(show, HasSubstr("Labels      team=payments tier=1\n"));
  EXPECT_THAT(show, HasSubstr("Expect      detect DatabaseLatencyHigh within 1m00s: met, time to detect 45.0s"));
  EXPECT_THAT(show, HasSubstr("Fault       r1-f2 cpu.pressure @ db-2 via cgroup: load=80; applied +00:06.000,\n"
                              "            reverted +01:06.000 (held 1m00s); observed load_pct=80.1\n"));
  EXPECT_THAT(show, HasSubstr("Deviation   checkout failing +00:40.000 to +02:20.000, 1m40s, 10 failures\n"));
  EXPECT_THAT(show, HasSubstr("drill.detected   DatabaseLatencyHigh firing after 45.0s"));
  EXPECT_THAT(show, HasSubstr("drill.recovered  checkout recovered after 12.0s from last-revert"));

  std::string table = RenderRunsTable({run});
  EXPECT_THAT(table, HasSubstr("db-latency-drill (drill)"));
}

}  // namespace
}  // namespace faultline::controller
