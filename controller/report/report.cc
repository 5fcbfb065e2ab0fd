#include "controller/report/report.h"

#include "absl/strings/str_cat.h"
#include "controller/report/run_view.h"

namespace faultline::controller {

absl::StatusOr<ReportFormat> ParseReportFormat(const std::string& name) {
  if (name == "md" || name == "markdown") return ReportFormat::kMarkdown;
  if (name == "json") return ReportFormat::kJson;
  if (name == "junit") return ReportFormat::kJunit;
  if (name == "html") {
    return absl::InvalidArgumentError(
        "report format \"html\" is not available yet (it comes in a later release); "
        "use md, json or junit");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown report format \"", name, "\": want md, markdown, json or junit"));
}

std::string RenderReport(ReportFormat format, const RunRecord& run,
                         const std::vector<Event>& events) {
  switch (format) {
    case ReportFormat::kMarkdown:
      return RenderMarkdown(run, events);
    case ReportFormat::kJson:
      return RenderJson(run, events);
    case ReportFormat::kJunit:
      return RenderJunit(run, events);
  }
  return "";
}

std::string RenderJson(const RunRecord& run, const std::vector<Event>& events) {
  using nlohmann::json;
  RunView view = BuildRunView(run, events);
  json r = {
      {"run_id", run.run_id},
      {"experiment", run.experiment},
      {"experiment_path", run.experiment_path},
      {"source_text", run.source_text},
      {"status", RunStatusName(run.status)},
      {"verdict", view.verdict},
      {"exit_code", run.exit_code},
      {"started_unix_ms", run.started_unix_ms},
      {"ended_unix_ms", run.ended_unix_ms},
      {"started", FormatIsoUtc(run.started_unix_ms) + "Z"},
      {"ended", run.ended_unix_ms > 0 ? json(FormatIsoUtc(run.ended_unix_ms) + "Z") : json()},
      {"duration_ms", view.duration_ms ? json(*view.duration_ms) : json()},
      {"controller_pid", run.controller_pid},
      {"host", run.host},
      {"dry_run", run.dry_run},
  };

  int probes_failed = 0, faults_failed = 0, faults_unreverted = 0, faults_applied = 0;
  for (const ProbeResultView& p : view.probes) probes_failed += p.ok ? 0 : 1;
  for (const FaultView& f : view.faults) {
    faults_applied += f.applied_ms ? 1 : 0;
    faults_failed += f.failed_ms ? 1 : 0;
    faults_unreverted += (f.applied_ms && !f.reverted_ms) ? 1 : 0;
  }
  json summary = {
      {"probes_total", view.probes.size()},
      {"probes_failed", probes_failed},
      {"steps", view.steps.size()},
      {"faults_applied", faults_applied},
      {"faults_failed", faults_failed},
      {"faults_without_revert", faults_unreverted},
      {"notes", view.notes.size()},
  };

  json list = json::array();
  for (const Event& e : events) {
    list.push_back({{"seq", e.seq},
                    {"unix_ms", e.unix_ms},
                    {"offset_ms", OffsetMs(view, e)},
                    {"type", e.type},
                    {"data", e.data}});
  }
  json doc = {{"report_version", 1}, {"run", r}, {"summary", summary}, {"events", list}};
  return SafeDump(doc, 2) + "\n";
}

}  // namespace faultline::controller
