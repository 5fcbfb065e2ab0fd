#include "controller/report/report.h"

#include "absl/strings/str_cat.h"
#include "controller/report/run_view.h"

namespace faultline::controller {

absl::StatusOr<ReportFormat> ParseReportFormat(const std::string& name) {
  if (name == "md" || name == "markdown") return ReportFormat::kMarkdown;
  if (name == "json") return ReportFormat::kJson;
  if (name == "junit") return ReportFormat::kJunit;
  if (name == "html") return ReportFormat::kHtml;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown report format \"", name, "\": want md, markdown, html, json or junit"));
}

std::string RenderReport(ReportFormat format, const RunRecord& run,
                         const std::vector<Event>& events) {
  switch (format) {
    case ReportFormat::kMarkdown:
      return RenderMarkdown(run, events);
    case ReportFormat::kHtml:
      return RenderHtml(run, events);
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
      {"kind", !view.kind.empty() ? view.kind : run.kind},
      {"hypothesis", view.hypothesis},
      {"owner", view.owner},
  };
  json roles = json::object(), labels = json::object();
  for (const auto& [k, v] : view.roles) roles[k] = v;
  for (const auto& [k, v] : view.labels) labels[k] = v;
  if (view.labels.empty()) {
    for (const auto& [k, v] : run.labels) labels[k] = v;
  }
  r["roles"] = roles;
  r["labels"] = labels;
  r["speed"] = view.speed ? json(*view.speed) : json();

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
      {"probe_deviations", view.deviations.size()},
  };
  json expectations = json::array();
  for (const ExpectationView& x : view.expectations) {
    auto opt = [](const std::optional<int64_t>& v) { return v ? json(*v) : json(); };
    expectations.push_back({{"type", x.type},
                            {"subject", x.subject},
                            {"name", x.Name()},
                            {"within_ms", opt(x.within_ms)},
                            {"from", x.from.empty() ? json() : json(x.from)},
                            {"outcome", x.OutcomeName()},
                            {"measured_ms", opt(x.measured_ms)},
                            {"at_offset_ms", opt(x.at_ms)},
                            {"reference_offset_ms", opt(x.reference_ms)},
                            {"source", x.source},
                            {"reason", x.reason}});
  }
  json deviations = json::array();
  for (const DeviationSpan& d : view.deviations) {
    deviations.push_back({{"probe", d.probe},
                          {"start_offset_ms", d.start_ms},
                          {"end_offset_ms", d.end_ms ? json(*d.end_ms) : json()},
                          {"duration_ms", SpanLengthMs(view, d)},
                          {"failures", d.failures}});
  }

  json list = json::array();
  for (const Event& e : events) {
    list.push_back({{"seq", e.seq},
                    {"unix_ms", e.unix_ms},
                    {"offset_ms", OffsetMs(view, e)},
                    {"type", e.type},
                    {"data", e.data}});
  }
  json doc = {{"report_version", 1},       {"run", r},
              {"summary", summary},         {"expectations", expectations},
              {"deviations", deviations},   {"events", list}};
  return SafeDump(doc, 2) + "\n";
}

}  // namespace faultline::controller
