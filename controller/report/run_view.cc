#include "controller/report/run_view.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace faultline::controller {
namespace {

using nlohmann::json;

const json& Field(const json& data, const char* key) {
  static const json kNull;
  if (!data.is_object()) return kNull;
  auto it = data.find(key);
  return it == data.end() ? kNull : *it;
}

std::tm UtcTm(int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}

// Index of the fault `fault_id` on `agent` (agents match when either is
// unknown), most recent first; -1 when there is none.
int FindFault(const RunView& view, const std::string& fault_id, const std::string& agent) {
  for (int i = static_cast<int>(view.faults.size()) - 1; i >= 0; --i) {
    const FaultView& f = view.faults[static_cast<size_t>(i)];
    if (f.fault_id != fault_id) continue;
    if (agent.empty() || f.agent.empty() || f.agent == agent) return i;
  }
  return -1;
}

std::string DerivedVerdict(const RunRecord& run, const RunView& view) {
  switch (run.status) {
    case RunStatus::kRunning:
      return "still running";
    case RunStatus::kPassed:
      return "steady state held";
    case RunStatus::kDeviated: {
      std::vector<std::string> failed;
      for (const ProbeResultView& p : view.probes) {
        if (!p.ok) failed.push_back(absl::StrCat(p.probe, " (", p.phase, ")"));
      }
      if (failed.empty()) return "steady state deviated";
      return absl::StrCat("steady state deviated: ", absl::StrJoin(failed, ", "), " failed");
    }
    case RunStatus::kAborted:
      return view.abort_reason.empty() ? "aborted" : absl::StrCat("aborted: ", view.abort_reason);
    case RunStatus::kFailed:
      for (const StepView& s : view.steps) {
        if (!s.failures.empty()) return absl::StrCat("failed: ", s.failures.front());
      }
      return "failed";
    case RunStatus::kInterrupted:
      return view.interrupt_reason.empty() ? "interrupted"
                                           : absl::StrCat("interrupted: ", view.interrupt_reason);
    case RunStatus::kSkipped:  // serve journals why in schedule.skipped / run.finished
      return "skipped";
  }
  return "";
}

// A JSON object of scalars as sorted (key, one-line text) pairs.
std::vector<std::pair<std::string, std::string>> Pairs(const json& object) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!object.is_object()) return out;
  for (auto it = object.begin(); it != object.end(); ++it) {
    out.emplace_back(OneLine(it.key()), OneLine(ValueText(it.value())));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Folds one drill.* event into the expectation it reports on (the first
// still-pending one of that type and subject), adding one when the run
// announced none, and adds the matching timeline marker.
void ApplyDrillEvent(RunView& v, const Event& e, int64_t at) {
  const json& d = e.data;
  std::string type = e.type == "drill.detected"    ? "detect"
                     : e.type == "drill.recovered" ? "recover"
                                                   : OneLine(Str(d, "expectation"));
  std::string subject = OneLine(type == "recover" ? Str(d, "probe") : Str(d, "alert"));
  ExpectationView* ex = nullptr;
  for (ExpectationView& candidate : v.expectations) {
    if (candidate.type == type && candidate.subject == subject &&
        candidate.outcome == ExpectationView::Outcome::kPending) {
      ex = &candidate;
      break;
    }
  }
  if (ex == nullptr) {
    ExpectationView added;
    added.type = type;
    added.subject = subject;
    v.expectations.push_back(std::move(added));
    ex = &v.expectations.back();
  }
  auto ms = [&d](const char* key) -> std::optional<int64_t> {
    std::optional<double> n = Num(d, key);
    if (!n) return std::nullopt;
    return std::llround(*n);
  };
  auto offset = [&](const char* key) -> std::optional<int64_t> {
    std::optional<int64_t> unix_ms = ms(key);
    if (!unix_ms || *unix_ms <= 0) return std::nullopt;
    return *unix_ms - v.base_unix_ms;
  };
  if (std::optional<int64_t> within = ms("within_ms")) ex->within_ms = within;
  if (!Str(d, "from").empty()) ex->from = OneLine(Str(d, "from"));
  if (e.type == "drill.missed") {
    ex->outcome = ExpectationView::Outcome::kMissed;
    ex->reason = OneLine(Str(d, "reason"));
    ex->at_ms = at;
    v.markers.push_back({at, "missed", absl::StrCat("missed: ", ex->Name(),
                                                    ex->reason.empty() ? "" : " - " + ex->reason)});
    return;
  }
  if (e.type == "drill.detected") {
    ex->measured_ms = ms("time_to_detect_ms");
    ex->at_ms = offset("seen_unix_ms");
    ex->reference_ms = offset("first_fault_unix_ms");
    ex->source = OneLine(Str(d, "source"));
    ex->time_to_fire_ms = ms("time_to_fire_ms");
  } else {
    ex->never_deviated = Bool(d, "never_deviated").value_or(false);
    ex->measured_ms = ms("time_to_recover_ms");
    ex->at_ms = offset("recovered_unix_ms");
    ex->reference_ms = offset("reference_unix_ms");
  }
  if (!ex->at_ms) ex->at_ms = at;
  // A measurement beyond the target is a miss even if the engine wrote it
  // as detected / recovered.
  bool late = ex->measured_ms && ex->within_ms && *ex->measured_ms > *ex->within_ms;
  ex->outcome = late ? ExpectationView::Outcome::kMissed : ExpectationView::Outcome::kMet;
  std::string what = type == "detect" ? absl::StrCat("detected ", subject)
                                      : absl::StrCat("recovered ", subject);
  if (ex->measured_ms) absl::StrAppend(&what, " (", FormatSpan(*ex->measured_ms), ")");
  v.markers.push_back({*ex->at_ms, type, what});
}

std::vector<DeviationSpan> Deviations(const std::vector<ProbeResultView>& probes) {
  std::vector<DeviationSpan> done;
  std::map<std::string, DeviationSpan> open;
  for (const ProbeResultView& p : probes) {
    auto it = open.find(p.probe);
    if (!p.ok) {
      if (it == open.end()) {
        DeviationSpan span;
        span.probe = p.probe;
        span.start_ms = p.offset_ms;
        it = open.emplace(p.probe, std::move(span)).first;
      }
      ++it->second.failures;
    } else if (it != open.end()) {
      it->second.end_ms = p.offset_ms;
      done.push_back(std::move(it->second));
      open.erase(it);
    }
  }
  for (auto& [name, span] : open) done.push_back(std::move(span));
  std::stable_sort(done.begin(), done.end(), [](const DeviationSpan& a, const DeviationSpan& b) {
    return a.start_ms < b.start_ms;
  });
  return done;
}

}  // namespace

std::string Str(const json& data, const char* key) {
  const json& v = Field(data, key);
  if (v.is_null()) return "";
  return ValueText(v);
}

std::optional<double> Num(const json& data, const char* key) {
  const json& v = Field(data, key);
  if (!v.is_number()) return std::nullopt;
  return v.get<double>();
}

std::optional<bool> Bool(const json& data, const char* key) {
  const json& v = Field(data, key);
  if (!v.is_boolean()) return std::nullopt;
  return v.get<bool>();
}

std::string SafeDump(const json& value, int indent) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string CleanText(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (c == '\r') {
        // dropped: CRLF reads as LF, a lone CR must not rewrite the line
      } else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
        out.push_back('?');
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    }
    bool valid = len > 0 && i + len <= n;
    for (size_t k = 1; valid && k < len; ++k) {
      unsigned char b = s[i + k];
      unsigned char min = k == 1 ? lo : 0x80, max = k == 1 ? hi : 0xbf;
      if (b < min || b > max) valid = false;
    }
    if (!valid) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
      continue;
    }
    if (len == 2 && c == 0xc2 && s[i + 1] <= 0x9f) {
      out.push_back('?');  // C1 control (U+0080..U+009F), e.g. CSI
    } else {
      out.append(text, i, len);
    }
    i += len;
  }
  return out;
}

std::string OneLine(const std::string& text) {
  std::string out = CleanText(text);
  for (char& c : out) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return out;
}

std::string FormatOffset(int64_t offset_ms) {
  const char* sign = offset_ms < 0 ? "-" : "+";
  int64_t ms = offset_ms < 0 ? -offset_ms : offset_ms;
  int64_t hours = ms / 3'600'000;
  int64_t minutes = (ms / 60'000) % 60;
  int64_t seconds = (ms / 1000) % 60;
  int64_t millis = ms % 1000;
  if (hours > 0) {
    return absl::StrFormat("%s%d:%02d:%02d.%03d", sign, hours, minutes, seconds, millis);
  }
  return absl::StrFormat("%s%02d:%02d.%03d", sign, minutes, seconds, millis);
}

std::string FormatUtc(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  std::tm tm = UtcTm(unix_ms);
  return absl::StrFormat("%04d-%02d-%02d %02d:%02d:%02d.%03d UTC", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         unix_ms % 1000);
}

std::string FormatUtcMinutes(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  std::tm tm = UtcTm(unix_ms);
  return absl::StrFormat("%04d-%02d-%02d %02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min);
}

std::string FormatIsoUtc(int64_t unix_ms) {
  std::tm tm = UtcTm(std::max<int64_t>(unix_ms, 0));
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string FormatSpan(int64_t ms) {
  if (ms < 0) return absl::StrCat("-", FormatSpan(-ms));
  if (ms < 1000) return absl::StrCat(ms, "ms");
  if (ms < 10'000) return absl::StrFormat("%.3fs", static_cast<double>(ms) / 1000);
  if (ms < 60'000) return absl::StrFormat("%.1fs", static_cast<double>(ms) / 1000);
  int64_t s = ms / 1000;
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm%02ds", s / 3600, (s / 60) % 60, s % 60);
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (std::fabs(value) < 1e15 && value == std::floor(value)) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  if (std::fabs(value) >= 1e15 || std::fabs(value) < 1e-3) return absl::StrFormat("%g", value);
  std::string s = absl::StrFormat("%.3f", value);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string ValueText(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return CleanText(value.get_ref<const std::string&>());
    case json::value_t::number_integer:
      return absl::StrCat(value.get<int64_t>());
    case json::value_t::number_unsigned:
      return absl::StrCat(value.get<uint64_t>());
    case json::value_t::number_float:
      return FormatNumber(value.get<double>());
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::null:
      return "null";
    case json::value_t::array: {
      bool scalars = std::all_of(value.begin(), value.end(),
                                 [](const json& v) { return v.is_primitive(); });
      if (!scalars) return CleanText(SafeDump(value));
      std::vector<std::string> parts;
      for (const json& v : value) parts.push_back(ValueText(v));
      return absl::StrJoin(parts, ", ");
    }
    default:
      return CleanText(SafeDump(value));
  }
}

std::string KeyValues(const json& object) {
  if (!object.is_object()) return object.is_null() ? "" : ValueText(object);
  std::vector<std::string> parts;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const json& v = it.value();
    std::string text;
    if (v.is_string()) {
      text = ValueText(v);
      if (text.empty() || text.find_first_of(" =\"\t\n") != std::string::npos) {
        text = CleanText(SafeDump(json(text)));
      }
    } else if (v.is_structured()) {
      text = CleanText(SafeDump(v));
    } else {
      text = ValueText(v);
    }
    parts.push_back(absl::StrCat(CleanText(it.key()), "=", text));
  }
  return absl::StrJoin(parts, " ");
}

int64_t OffsetMs(const RunView& view, const Event& event) {
  return event.unix_ms - view.base_unix_ms;
}

std::string EventDetails(const Event& event) {
  const json& d = event.data;
  const std::string& t = event.type;
  std::string out;
  auto add = [&out](const std::string& piece) {
    if (piece.empty()) return;
    if (!out.empty()) out += " ";
    out += piece;
  };
  auto dur = [&d](const char* key) -> std::string {
    std::optional<double> ms = Num(d, key);
    return ms ? FormatSpan(static_cast<int64_t>(std::llround(*ms))) : "";
  };
  if (!d.is_object() && !d.is_null()) return OneLine(ValueText(d));

  if (t == "run.started") {
    if (Str(d, "kind") == "Drill") add("drill");
    add(Str(d, "experiment"));
    if (!Str(d, "file").empty()) add(absl::StrCat("from ", Str(d, "file")));
    const json& targets = Field(d, "targets");
    if (targets.is_object() && !targets.empty()) {
      std::vector<std::string> parts;
      for (auto it = targets.begin(); it != targets.end(); ++it) {
        parts.push_back(absl::StrCat(it.key(), ": ", ValueText(it.value())));
      }
      add(absl::StrCat("targets ", absl::StrJoin(parts, "; ")));
    }
    if (Bool(d, "embedded").value_or(false)) add("(embedded local agent)");
    if (Bool(d, "dry_run").value_or(false)) add("(dry run)");
    if (std::optional<double> speed = Num(d, "speed"); speed && *speed != 1) {
      add(absl::StrCat("at ", FormatNumber(*speed), "x"));
    }
  } else if (t == "plan") {
    std::optional<double> steps = Num(d, "steps");
    const json& faults = Field(d, "faults");
    if (steps) add(absl::StrCat(FormatNumber(*steps), " steps"));
    if (faults.is_array()) add(absl::StrCat(faults.size(), " fault applications"));
    const json& agents = Field(d, "agents");
    if (agents.is_array() && !agents.empty()) add(absl::StrCat("on ", ValueText(agents)));
  } else if (t == "probe.result") {
    add(Str(d, "probe"));
    if (!Str(d, "phase").empty()) add(absl::StrCat("(", Str(d, "phase"), ")"));
    std::optional<bool> ok = Bool(d, "ok");
    if (ok) add(*ok ? "ok" : "FAILED");
    std::optional<double> latency = Num(d, "latency_ms");
    if (latency) add(absl::StrCat("in ", FormatNumber(*latency), "ms"));
    if (!Str(d, "detail").empty()) add(absl::StrCat("- ", Str(d, "detail")));
    if (!Str(d, "error").empty()) add(absl::StrCat("- error: ", Str(d, "error")));
  } else if (t == "step.started") {
    std::string index = Str(d, "index");
    std::string label = Str(d, "label");
    add(absl::StrCat("step", index.empty() ? "" : " " + index, label.empty() ? "" : ": " + label));
    if (!Str(d, "kind").empty()) add(absl::StrCat("(", Str(d, "kind"), ")"));
  } else if (t == "fault.applied") {
    add(Str(d, "fault_id"));
    add(Str(d, "kind"));
    if (!Str(d, "target").empty()) add(absl::StrCat("on ", Str(d, "target")));
    if (!Str(d, "agent").empty()) add(absl::StrCat("@ ", Str(d, "agent")));
    if (!Str(d, "engine").empty()) add(absl::StrCat("via ", Str(d, "engine")));
    if (!dur("duration_ms").empty()) add(absl::StrCat("for ", dur("duration_ms")));
    std::string params =
        !Str(d, "summary").empty() ? Str(d, "summary") : KeyValues(Field(d, "params"));
    if (!params.empty()) out += absl::StrCat(": ", params);
    if (!Str(d, "resolved").empty()) out += absl::StrCat("; resolved: ", Str(d, "resolved"));
  } else if (t == "fault.observed") {
    add(Str(d, "fault_id"));
    if (!Str(d, "agent").empty()) add(absl::StrCat("@ ", Str(d, "agent")));
    std::string figures = KeyValues(Field(d, "observed"));
    if (!figures.empty()) out += absl::StrCat(": ", figures);
  } else if (t == "fault.reverted") {
    add(Str(d, "fault_id"));
    add(Str(d, "kind"));
    if (!Str(d, "agent").empty()) add(absl::StrCat("@ ", Str(d, "agent")));
    if (!Str(d, "reason").empty()) add(absl::StrCat("(", Str(d, "reason"), ")"));
    std::string figures = KeyValues(Field(d, "observed"));
    if (!figures.empty()) out += absl::StrCat(": ", figures);
  } else if (t == "fault.failed") {
    add(Str(d, "fault_id"));
    add(Str(d, "kind"));
    if (!Str(d, "agent").empty()) add(absl::StrCat("@ ", Str(d, "agent")));
    std::string why = Str(d, "code");
    if (!Str(d, "error").empty()) why = why.empty() ? Str(d, "error") : why + ": " + Str(d, "error");
    if (!why.empty()) out += absl::StrCat(out.empty() ? "" : ": ", why);
  } else if (t == "wait.finished") {
    add(dur("duration_ms").empty() ? "wait over" : absl::StrCat("waited ", dur("duration_ms")));
  } else if (t == "lease.lost") {
    add(Str(d, "agent"));
    if (!Str(d, "error").empty()) out += absl::StrCat(out.empty() ? "" : ": ", Str(d, "error"));
  } else if (t == "run.aborted" || t == "run.interrupted") {
    add(Str(d, "reason"));
  } else if (t == "run.finished") {
    std::string status = Str(d, "status");
    std::string verdict = Str(d, "verdict");
    if (verdict.empty() || status.empty() || verdict.rfind(status, 0) == 0) {
      add(verdict.empty() ? status : verdict);
    } else {
      add(absl::StrCat(status, ": ", verdict));
    }
    if (!Str(d, "exit_code").empty()) add(absl::StrCat("(exit ", Str(d, "exit_code"), ")"));
  } else if (t == "drill.detected") {
    add(Str(d, "alert"));
    add("firing");
    if (!dur("time_to_detect_ms").empty()) add(absl::StrCat("after ", dur("time_to_detect_ms")));
    if (!dur("within_ms").empty()) add(absl::StrCat("(target ", dur("within_ms"), ")"));
    if (!Str(d, "source").empty()) add(absl::StrCat("via ", Str(d, "source")));
  } else if (t == "drill.recovered") {
    add(Str(d, "probe"));
    add("recovered");
    if (!dur("time_to_recover_ms").empty()) add(absl::StrCat("after ", dur("time_to_recover_ms")));
    if (!Str(d, "from").empty()) add(absl::StrCat("from ", Str(d, "from")));
    if (!dur("within_ms").empty()) add(absl::StrCat("(target ", dur("within_ms"), ")"));
  } else if (t == "drill.missed") {
    add(Str(d, "expectation"));
    add(!Str(d, "alert").empty() ? Str(d, "alert") : Str(d, "probe"));
    if (!dur("within_ms").empty()) add(absl::StrCat("not within ", dur("within_ms")));
    if (!Str(d, "reason").empty()) add(absl::StrCat("- ", Str(d, "reason")));
  } else if (t == "agent.call") {
    add(Str(d, "rpc"));
    if (Bool(d, "dry_run").value_or(false)) add("(dry run)");
    add(Str(d, "fault_id"));
    add(Str(d, "kind"));
    add(absl::StrCat("on ", Str(d, "agent")));
    add(absl::StrCat("by ", Str(d, "identity")));
    add(absl::StrCat("-> ", Str(d, "code")));
    if (!Str(d, "error").empty()) add(absl::StrCat("- ", Str(d, "error")));
  } else if (t == "note") {
    std::string author = Str(d, "author");
    add(author.empty() ? Str(d, "text") : absl::StrCat(author, ": ", Str(d, "text")));
  } else {
    add(KeyValues(d));
  }
  return OneLine(out);
}

std::string StatusAndVerdict(const RunRecord& run, const RunView& view) {
  std::string status = RunStatusName(run.status);
  if (view.verdict.empty()) return status;
  if (view.verdict.rfind(status, 0) == 0) return view.verdict;
  return absl::StrCat(status, ": ", view.verdict);
}

std::string ExpectationView::Name() const {
  std::string out = absl::StrCat(type.empty() ? "expect" : type, " ", subject);
  if (within_ms) absl::StrAppend(&out, " within ", FormatSpan(*within_ms));
  if (type == "recover" && !from.empty()) absl::StrAppend(&out, " from ", from);
  return out;
}

std::string ExpectationView::OutcomeName() const {
  switch (outcome) {
    case Outcome::kMet:
      return "met";
    case Outcome::kMissed:
      return "missed";
    case Outcome::kPending:
      return "pending";
  }
  return "";
}

std::string ExpectationView::Detail() const {
  std::vector<std::string> parts;
  if (!reason.empty()) parts.push_back(reason);
  if (!source.empty()) parts.push_back(absl::StrCat("seen via ", source));
  if (time_to_fire_ms) {
    parts.push_back(absl::StrCat("alert firing ", FormatSpan(*time_to_fire_ms), " after the first fault"));
  }
  if (never_deviated) parts.push_back("never deviated");
  if (reference_ms) parts.push_back(absl::StrCat("measured from ", FormatOffset(*reference_ms)));
  return absl::StrJoin(parts, "; ");
}

int64_t SpanLengthMs(const RunView& view, const DeviationSpan& span) {
  return std::max<int64_t>(0, span.end_ms.value_or(std::max(view.end_ms, span.start_ms)) -
                                  span.start_ms);
}

std::string RoleTitle(const std::string& role) {
  std::string out = OneLine(role);
  for (char& c : out) {
    if (c == '_' || c == '-') c = ' ';
  }
  return out;
}

std::string FaultView::ParamsText() const {
  return !summary.empty() ? summary : KeyValues(params);
}

RunView BuildRunView(const RunRecord& run, const std::vector<Event>& events) {
  RunView v;
  v.base_unix_ms = run.started_unix_ms;
  if (v.base_unix_ms == 0 && !events.empty()) v.base_unix_ms = events.front().unix_ms;
  if (IsFinal(run.status) && run.ended_unix_ms > 0) {
    v.duration_ms = std::max<int64_t>(0, run.ended_unix_ms - v.base_unix_ms);
  }
  std::string finished_verdict;
  auto open_step = [&v]() -> StepView* {
    if (v.steps.empty() || v.steps.back().ended_ms.has_value()) return nullptr;
    return &v.steps.back();
  };
  auto close_step = [&](int64_t at) {
    if (StepView* s = open_step()) s->ended_ms = at;
  };
  auto cut_step = [&](const std::string& type, const std::string& why) {
    StepView* s = open_step();
    if (s != nullptr && s->error.empty()) {
      s->error = why;
      s->error_type = type;
    }
  };

  for (const Event& e : events) {
    const json& d = e.data;
    int64_t at = OffsetMs(v, e);
    if (e.type == "run.started") {
      v.embedded = Bool(d, "embedded").value_or(false);
      if (Field(d, "targets").is_object()) v.targets = Field(d, "targets");
      v.kind = OneLine(Str(d, "kind"));
      v.hypothesis = CleanText(Str(d, "hypothesis"));
      v.owner = OneLine(Str(d, "owner"));
      v.roles = Pairs(Field(d, "roles"));
      v.labels = Pairs(Field(d, "labels"));
      v.speed = Num(d, "speed");
      if (Field(d, "expect").is_array()) {
        for (const json& x : Field(d, "expect")) {
          ExpectationView ex;
          ex.type = OneLine(Str(x, "type"));
          ex.subject = OneLine(ex.type == "recover" ? Str(x, "probe") : Str(x, "alert"));
          if (std::optional<double> w = Num(x, "within_ms")) ex.within_ms = std::llround(*w);
          ex.from = OneLine(Str(x, "from"));
          v.expectations.push_back(std::move(ex));
        }
      }
    } else if (e.type == "drill.detected" || e.type == "drill.recovered" ||
               e.type == "drill.missed") {
      ApplyDrillEvent(v, e, at);
    } else if (e.type == "probe.result") {
      ProbeResultView p;
      p.offset_ms = at;
      p.probe = Str(d, "probe");
      p.phase = Str(d, "phase");
      p.ok = Bool(d, "ok").value_or(false);
      p.latency_ms = Num(d, "latency_ms");
      p.detail = Str(d, "detail");
      p.error = Str(d, "error");
      if (p.phase == "after") close_step(at);
      v.probes.push_back(std::move(p));
    } else if (e.type == "step.started") {
      close_step(at);
      StepView s;
      s.index = Field(d, "index").is_null() ? absl::StrCat(v.steps.size() + 1) : Str(d, "index");
      s.kind = Str(d, "kind");
      s.label = Str(d, "label");
      s.started_ms = at;
      v.steps.push_back(std::move(s));
    } else if (e.type == "fault.applied") {
      FaultView f;
      f.fault_id = Str(d, "fault_id");
      f.kind = Str(d, "kind");
      f.target = Str(d, "target");
      f.agent = Str(d, "agent");
      f.engine = Str(d, "engine");
      f.resolved = Str(d, "resolved");
      f.params = Field(d, "params");
      f.summary = Str(d, "summary");
      if (std::optional<double> ms = Num(d, "duration_ms")) f.duration_ms = std::llround(*ms);
      f.applied_ms = at;
      f.step = open_step() != nullptr ? static_cast<int>(v.steps.size()) - 1 : -1;
      v.faults.push_back(std::move(f));
    } else if (e.type == "fault.observed") {
      int i = FindFault(v, Str(d, "fault_id"), Str(d, "agent"));
      if (i >= 0 && Field(d, "observed").is_object()) {
        v.faults[static_cast<size_t>(i)].observed = Field(d, "observed");
      }
    } else if (e.type == "fault.reverted" || e.type == "fault.failed") {
      std::string id = Str(d, "fault_id");
      std::string agent = Str(d, "agent");
      int i = FindFault(v, id, agent);
      if (i < 0) {
        FaultView f;
        f.fault_id = id;
        f.kind = Str(d, "kind");
        f.agent = agent;
        f.step = open_step() != nullptr ? static_cast<int>(v.steps.size()) - 1 : -1;
        v.faults.push_back(std::move(f));
        i = static_cast<int>(v.faults.size()) - 1;
      }
      FaultView& f = v.faults[static_cast<size_t>(i)];
      if (f.kind.empty()) f.kind = Str(d, "kind");
      if (e.type == "fault.reverted") {
        f.reverted_ms = at;
        f.revert_reason = Str(d, "reason");
        if (Field(d, "observed").is_object()) f.observed = Field(d, "observed");
      } else {
        f.failed_ms = at;
        f.error = Str(d, "error");
        f.code = Str(d, "code");
        std::string line = absl::StrCat("fault ", f.fault_id, f.kind.empty() ? "" : " (" + f.kind + ")",
                                        f.agent.empty() ? "" : " on " + f.agent, ": ",
                                        f.code.empty() ? "" : f.code + ": ", f.error);
        int step = f.step >= 0 ? f.step
                               : (open_step() != nullptr ? static_cast<int>(v.steps.size()) - 1 : -1);
        if (step >= 0) {
          StepView& s = v.steps[static_cast<size_t>(step)];
          if (s.failures.empty()) s.failure_code = f.code;
          s.failures.push_back(OneLine(line));
        }
      }
    } else if (e.type == "lease.lost") {
      std::string line = absl::StrCat("lease lost on ", Str(d, "agent"), ": ", Str(d, "error"));
      v.lease_losses.push_back(OneLine(line));
      cut_step("lease.lost", v.lease_losses.back());
    } else if (e.type == "run.aborted") {
      v.abort_reason = OneLine(Str(d, "reason"));
      cut_step("run.aborted", absl::StrCat("run aborted: ", v.abort_reason));
      close_step(at);
    } else if (e.type == "run.interrupted") {
      v.interrupt_reason = OneLine(Str(d, "reason"));
      cut_step("run.interrupted", absl::StrCat("run interrupted: ", v.interrupt_reason));
      // The event is written at the next start; the run was last seen earlier.
      close_step(run.ended_unix_ms > 0 ? run.ended_unix_ms - v.base_unix_ms : at);
    } else if (e.type == "run.finished") {
      finished_verdict = OneLine(Str(d, "verdict"));
      close_step(at);
    } else if (e.type == "note") {
      v.notes.push_back({at, Str(d, "author"), Str(d, "text")});
      std::string author = OneLine(Str(d, "author"));
      v.markers.push_back({at, "note", absl::StrCat(author.empty() ? "" : author + ": ",
                                                    OneLine(Str(d, "text")))});
    }
    if (e.type == "abort") {
      v.markers.push_back({at, "abort", absl::StrCat("abort: ", OneLine(Str(d, "reason")))});
    } else if (e.type == "run.aborted") {
      // The runner writes `abort` when it decides and `run.aborted` when done;
      // one marker is enough.
      bool seen = std::any_of(v.markers.begin(), v.markers.end(),
                              [](const MarkerView& m) { return m.kind == "abort"; });
      if (!seen) v.markers.push_back({at, "abort", absl::StrCat("aborted: ", v.abort_reason)});
    } else if (e.type == "lease.lost") {
      v.markers.push_back({at, "lease", v.lease_losses.back()});
    } else if (e.type == "run.interrupted") {
      v.markers.push_back({at, "interrupt", absl::StrCat("interrupted: ", v.interrupt_reason)});
    }
    v.end_ms = std::max(v.end_ms, at);
  }
  if (v.duration_ms) v.end_ms = *v.duration_ms;
  v.deviations = Deviations(v.probes);
  if (IsFinal(run.status) && run.ended_unix_ms > 0) close_step(run.ended_unix_ms - v.base_unix_ms);
  v.verdict = finished_verdict.empty() ? DerivedVerdict(run, v) : finished_verdict;
  return v;
}

size_t Columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

std::string Pad(const std::string& s, size_t width) {
  size_t cols = Columns(s);
  return cols >= width ? s : s + std::string(width - cols, ' ');
}

}  // namespace faultline::controller
