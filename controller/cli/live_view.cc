#include "controller/cli/live_view.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

std::string Str(const nlohmann::json& data, const char* key) {
  if (!data.is_object()) return "";
  auto it = data.find(key);
  if (it == data.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

int64_t Int(const nlohmann::json& data, const char* key) {
  if (!data.is_object()) return 0;
  auto it = data.find(key);
  return it != data.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::string HostOf(const nlohmann::json& data) {
  std::string agent = Str(data, "agent");
  return agent.empty() || agent == "embedded" ? "local" : agent;
}

// Top-level part of a step path: "3" for "3.2.1".
std::string TopOf(const std::string& path) { return path.substr(0, path.find('.')); }

void Collect(const std::vector<Step>& steps, const std::string& parent,
             std::map<std::string, milliseconds>* out, milliseconds* total, bool parallel) {
  int index = 0;
  for (const Step& step : steps) {
    const std::string path =
        parent.empty() ? std::to_string(++index) : absl::StrCat(parent, ".", ++index);
    milliseconds length = step.duration;
    if (step.kind == StepKind::kSerial || step.kind == StepKind::kParallel) {
      length = milliseconds(0);
      Collect(step.steps, path, out, &length, step.kind == StepKind::kParallel);
    }
    (*out)[path] = length;
    *total = parallel ? std::max(*total, length) : *total + length;
  }
}

// Cuts `line` to `width` bytes (0 = no limit); lines are ASCII but for names
// and messages, where a cut inside a UTF-8 sequence is avoided.
std::string Fit(std::string line, size_t width) {
  if (width == 0 || line.size() <= width) return line;
  size_t cut = width;
  while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
  line.resize(cut);
  return line;
}

}  // namespace

std::map<std::string, milliseconds> StepDurations(const std::vector<Step>& method) {
  std::map<std::string, milliseconds> out;
  milliseconds total(0);
  Collect(method, "", &out, &total, false);
  return out;
}

std::string FormatClock(int64_t ms) {
  const int64_t s = std::max<int64_t>(0, (ms + 999) / 1000);  // round up: "0:01" until the end
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

LiveView::LiveView(LiveViewOptions options) : options_(std::move(options)) {}

void LiveView::OnEvent(const Event& e) {
  std::lock_guard lock(mu_);
  const nlohmann::json& d = e.data;
  const std::string& t = e.type;
  if (run_id_.empty()) run_id_ = e.run_id;
  if (t == "run.started") {
    experiment_ = Str(d, "experiment");
    started_ms_ = e.unix_ms;
  } else if (t == "plan") {
    top_steps_ = static_cast<int>(Int(d, "steps"));
    planned_ms_ = Int(d, "duration_ms");
    phase_ = "connecting to the agents";
  } else if (t == "probe.result") {
    ProbeState& p = probes_[Str(d, "probe")];
    p.ok = d.value("ok", false);
    p.latency_ms =
        d.contains("latency_ms") && d["latency_ms"].is_number() ? d["latency_ms"].get<double>() : 0;
    p.phase = Str(d, "phase");
    p.detail = p.ok ? Str(d, "detail") : Str(d, "error");
    if (p.detail.empty()) p.detail = Str(d, "detail");
    p.consecutive_failures = static_cast<int>(Int(d, "consecutive_failures"));
    if (p.phase == "before" && step_path_.empty()) phase_ = "checking the steady state (before)";
    if (p.phase == "after") phase_ = "checking the steady state (after)";
  } else if (t == "step.started") {
    const std::string path = Str(d, "path");
    if (path.find('.') == std::string::npos) {
      step_path_ = path;
      step_label_ = Str(d, "label");
      step_kind_ = Str(d, "kind");
      step_started_ms_ = e.unix_ms;
      sub_path_.clear();
      sub_label_.clear();
    } else {
      sub_path_ = path;
      sub_label_ = Str(d, "label");
    }
    phase_ = "method";
  } else if (t == "fault.applied") {
    Fault f;
    f.kind = Str(d, "kind");
    f.engine = Str(d, "engine");
    f.summary = Str(d, "summary");
    f.applied_ms = e.unix_ms;
    f.duration_ms = Int(d, "duration_ms");
    faults_[HostOf(d)][Str(d, "fault_id")] = f;
  } else if (t == "fault.reverted" || t == "fault.failed") {
    auto host = faults_.find(HostOf(d));
    if (host != faults_.end()) {
      host->second.erase(Str(d, "fault_id"));
      if (host->second.empty()) faults_.erase(host);
    }
    if (t == "fault.failed") {
      last_failure_ =
          absl::StrCat("fault failed: ", Str(d, "kind"), " on ", HostOf(d), ": ", Str(d, "error"));
    }
  } else if (t == "fault.revert_failed") {
    last_failure_ = absl::StrCat("revert failed: ", Str(d, "kind"), " on ", HostOf(d), ": ",
                                 Str(d, "error"), " (the agent reverts it at lease/TTL expiry)");
  } else if (t == "gate.waiting") {
    gate_ = absl::StrCat("PAUSED at gate ", Str(d, "path"), ": ", Str(d, "message"),
                         " | continue: ", Str(d, "continue_with"));
    gate_deadline_ms_ = e.unix_ms + Int(d, "timeout_ms");
  } else if (t == "gate.continued" || t == "gate.timeout" || t == "gate.skipped") {
    gate_.clear();
  } else if (t == "abort") {
    abort_ = absl::StrCat("ABORTING: ", Str(d, "reason"), " -- reverting every fault");
  } else if (t == "abort.reverted") {
    abort_ =
        d.value("all_reverted", true)
            ? absl::StrCat("ABORTED: every fault reverted in ", Int(d, "revert_ms"), " ms")
            : "ABORTED: some faults not confirmed reverted (agents revert at lease/TTL expiry)";
  } else if (t == "lease.lost") {
    last_failure_ = absl::StrCat("lease lost on ", HostOf(d), ": ", Str(d, "error"));
  } else if (t == "drill.detected") {
    drill_.push_back(absl::StrCat("detected ", Str(d, "alert"), " after ",
                                  FormatClock(Int(d, "time_to_detect_ms")), " (within ",
                                  FormatClock(Int(d, "within_ms")), ")"));
  } else if (t == "drill.recovered") {
    drill_.push_back(absl::StrCat("recovered ", Str(d, "probe"), " after ",
                                  FormatClock(Int(d, "time_to_recover_ms")), " (within ",
                                  FormatClock(Int(d, "within_ms")), ")"));
  } else if (t == "drill.missed") {
    drill_.push_back(absl::StrCat("MISSED ", Str(d, "expectation"), " ",
                                  Str(d, Str(d, "expectation") == "detect" ? "alert" : "probe"),
                                  ": ", Str(d, "reason")));
  } else if (t == "run.finished") {
    finished_ = absl::StrCat(Str(d, "status"), " -- ", Str(d, "verdict"));
    phase_ = "finished";
  }
}

void LiveView::NoteAdded(const std::string& author, const std::string& text) {
  std::lock_guard lock(mu_);
  ++notes_;
  last_note_ = absl::StrCat(author, ": ", text);
}

bool LiveView::finished() const {
  std::lock_guard lock(mu_);
  return !finished_.empty();
}

std::vector<std::string> LiveView::Render(int64_t now, size_t width) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> lines;
  const int64_t elapsed = started_ms_ > 0 ? now - started_ms_ : 0;
  std::string head = absl::StrCat("== faultline: ", experiment_.empty() ? "run" : experiment_,
                                  run_id_.empty() ? "" : absl::StrCat(" | run ", run_id_), " | ",
                                  FormatClock(elapsed));
  if (planned_ms_ > 0) absl::StrAppend(&head, " of ~", FormatClock(planned_ms_));
  lines.push_back(absl::StrCat(head, " =="));

  if (!finished_.empty()) {
    lines.push_back(absl::StrCat("finished: ", finished_));
  } else if (phase_ == "method" && !step_path_.empty()) {
    std::string step = absl::StrCat("step ", step_path_);
    if (top_steps_ > 0) absl::StrAppend(&step, "/", top_steps_);
    absl::StrAppend(&step, ": ", step_label_);
    auto d = options_.step_durations.find(step_path_);
    if (!abort_.empty()) {
      absl::StrAppend(&step, " | stopped");
    } else if (d != options_.step_durations.end() && d->second.count() > 0) {
      absl::StrAppend(&step, step_kind_ == "pause" ? " | times out in " : " | time left ",
                      FormatClock(step_started_ms_ + d->second.count() - now));
    }
    lines.push_back(step);
    if (!sub_path_.empty() && TopOf(sub_path_) == step_path_) {
      lines.push_back(absl::StrCat("  latest: step ", sub_path_, ": ", sub_label_));
    }
  } else {
    lines.push_back(absl::StrCat("now: ", phase_));
  }
  if (!gate_.empty()) {
    lines.push_back(absl::StrCat(gate_, " | times out in ", FormatClock(gate_deadline_ms_ - now)));
  }
  if (!abort_.empty()) lines.push_back(abort_);

  size_t active = 0;
  for (const auto& [host, faults] : faults_) active += faults.size();
  if (active == 0) {
    lines.push_back("active faults: none");
  } else {
    lines.push_back(absl::StrCat("active faults (", active, "):"));
    for (const auto& [host, faults] : faults_) {
      lines.push_back(absl::StrCat("  ", host, ":"));
      for (const auto& [id, f] : faults) {
        std::string line = absl::StrCat("    ", f.kind);
        if (!f.engine.empty()) absl::StrAppend(&line, " [", f.engine, "]");
        if (!f.summary.empty()) absl::StrAppend(&line, " ", f.summary);
        if (f.duration_ms > 0) {
          absl::StrAppend(&line, " | ", FormatClock(f.applied_ms + f.duration_ms - now), " left");
        }
        lines.push_back(line);
      }
    }
  }
  if (!last_failure_.empty()) lines.push_back(last_failure_);

  if (!probes_.empty()) {
    lines.push_back("probes (latest):");
    size_t shown = 0;
    size_t name_width = 0;
    for (const auto& [name, p] : probes_) name_width = std::max(name_width, name.size());
    name_width = std::min<size_t>(name_width, 24);
    for (const auto& [name, p] : probes_) {
      if (shown++ == options_.max_probes) {
        lines.push_back(absl::StrCat("  ... ", probes_.size() - options_.max_probes, " more"));
        break;
      }
      char latency[32];
      std::snprintf(latency, sizeof(latency), "%.1f ms", p.latency_ms);
      std::string line =
          absl::StrCat("  ", name, std::string(name_width - std::min(name_width, name.size()), ' '),
                       p.ok ? "  ok    " : "  FAIL  ", latency, "  (", p.phase, ")");
      if (p.consecutive_failures > 1)
        absl::StrAppend(&line, " ", p.consecutive_failures, " in a row");
      if (!p.detail.empty()) absl::StrAppend(&line, " ", p.detail);
      lines.push_back(line);
    }
  }
  for (const std::string& mark : drill_) lines.push_back(absl::StrCat("drill: ", mark));
  if (notes_ > 0) lines.push_back(absl::StrCat("notes: ", notes_, " (last: ", last_note_, ")"));
  if (finished_.empty()) {
    lines.push_back(options_.notes_from_terminal
                        ? "Ctrl-C stops and reverts every fault; type a line + Enter to add a note"
                        : "Ctrl-C stops and reverts every fault");
  }
  for (std::string& line : lines) {
    // Event text could carry control characters; a frame must not.
    for (size_t i = 0; i < line.size(); ++i) {
      const auto c = static_cast<unsigned char>(line[i]);
      if (c < 0x20 || c == 0x7f) line[i] = ' ';
      // C1 controls (U+0080..U+009F, e.g. CSI) in UTF-8.
      if (c == 0xC2 && i + 1 < line.size() &&
          (static_cast<unsigned char>(line[i + 1]) & 0xE0) == 0x80) {
        line[i] = line[i + 1] = ' ';
      }
    }
    line = Fit(std::move(line), width);
  }
  return lines;
}

}  // namespace faultline::controller
