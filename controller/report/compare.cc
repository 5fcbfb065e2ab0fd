// `faultline compare A B`: two runs of the same experiment or drill side by
// side, so a team sees whether a fix made detection faster, recovery
// shorter, or the steady state steadier. Every figure comes from RunView,
// so it reads as the reports do.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/report/report.h"
#include "controller/report/run_view.h"

namespace faultline::controller {
namespace {

using nlohmann::json;

enum class Unit { kText, kCount, kSpan };

struct Row {
  std::string metric;
  std::string a, b, delta;
  std::optional<int64_t> a_value, b_value;
  Unit unit = Unit::kText;
};

struct Counts {
  int64_t faults_applied = 0, faults_failed = 0, faults_unreverted = 0;
  int64_t probe_results = 0, probe_failures = 0;
};

Counts Count(const RunView& v) {
  Counts c;
  for (const FaultView& f : v.faults) {
    c.faults_applied += f.applied_ms ? 1 : 0;
    c.faults_failed += f.failed_ms ? 1 : 0;
    c.faults_unreverted += f.applied_ms && !f.reverted_ms ? 1 : 0;
  }
  for (const ProbeResultView& p : v.probes) {
    ++c.probe_results;
    c.probe_failures += p.ok ? 0 : 1;
  }
  return c;
}

std::string Signed(int64_t d, Unit unit) {
  if (d == 0) return "0";
  std::string magnitude = unit == Unit::kSpan ? FormatSpan(d < 0 ? -d : d) : absl::StrCat(d < 0 ? -d : d);
  return absl::StrCat(d < 0 ? "-" : "+", magnitude);
}

Row TextRow(const std::string& metric, const std::string& a, const std::string& b) {
  Row r;
  r.metric = metric;
  r.a = a;
  r.b = b;
  r.delta = a == b ? "" : "changed";
  return r;
}

Row NumberRow(const std::string& metric, std::optional<int64_t> a, std::optional<int64_t> b,
              Unit unit, const std::string& a_suffix = "", const std::string& b_suffix = "") {
  Row r;
  r.metric = metric;
  r.unit = unit;
  r.a_value = a;
  r.b_value = b;
  auto text = [unit](std::optional<int64_t> v) {
    if (!v) return std::string("-");
    return unit == Unit::kSpan ? FormatSpan(*v) : absl::StrCat(*v);
  };
  r.a = text(a) + a_suffix;
  r.b = text(b) + b_suffix;
  if (a && b) r.delta = Signed(*b - *a, unit);
  return r;
}

// "detect DatabaseLatencyHigh" / "recover health": expectations pair up by
// what they measure, whatever their targets were.
std::string ExpectationKey(const ExpectationView& x) { return x.type + " " + x.subject; }

struct ProbeDeviation {
  int64_t spans = 0;
  int64_t total_ms = 0;
};

std::map<std::string, ProbeDeviation> DeviationsByProbe(const RunView& v) {
  std::map<std::string, ProbeDeviation> out;
  for (const ProbeResultView& p : v.probes) out[p.probe];
  for (const DeviationSpan& d : v.deviations) {
    ++out[d.probe].spans;
    out[d.probe].total_ms += SpanLengthMs(v, d);
  }
  return out;
}

std::vector<Row> Rows(const RunRecord& a, const RunView& va, const RunRecord& b, const RunView& vb) {
  std::vector<Row> rows;
  auto kind = [](const RunRecord& r, const RunView& v) {
    return !v.kind.empty() ? v.kind : (r.kind.empty() ? "Experiment" : r.kind);
  };
  rows.push_back(TextRow("experiment", OneLine(a.experiment), OneLine(b.experiment)));
  rows.push_back(TextRow("kind", kind(a, va), kind(b, vb)));
  rows.push_back(TextRow("status", RunStatusName(a.status), RunStatusName(b.status)));
  rows.push_back(TextRow("verdict", va.verdict, vb.verdict));
  rows.push_back(TextRow("started", FormatUtc(a.started_unix_ms), FormatUtc(b.started_unix_ms)));
  rows.back().delta = Signed(b.started_unix_ms - a.started_unix_ms, Unit::kSpan);
  rows.push_back(NumberRow("duration", va.duration_ms, vb.duration_ms, Unit::kSpan));
  if (va.speed || vb.speed) {
    rows.push_back(TextRow("speed", va.speed ? FormatNumber(*va.speed) + "x" : "-",
                           vb.speed ? FormatNumber(*vb.speed) + "x" : "-"));
  }
  Counts ca = Count(va), cb = Count(vb);
  rows.push_back(NumberRow("faults applied", ca.faults_applied, cb.faults_applied, Unit::kCount));
  rows.push_back(NumberRow("faults failed", ca.faults_failed, cb.faults_failed, Unit::kCount));
  rows.push_back(NumberRow("faults without revert", ca.faults_unreverted, cb.faults_unreverted,
                           Unit::kCount));
  rows.push_back(NumberRow("probe results", ca.probe_results, cb.probe_results, Unit::kCount));
  rows.push_back(NumberRow("probe failures", ca.probe_failures, cb.probe_failures, Unit::kCount));
  rows.push_back(NumberRow("notes", static_cast<int64_t>(va.notes.size()),
                           static_cast<int64_t>(vb.notes.size()), Unit::kCount));

  // Expectations, in A's order then those only B has.
  std::vector<std::string> keys;
  for (const RunView* v : {&va, &vb}) {
    for (const ExpectationView& x : v->expectations) {
      if (std::find(keys.begin(), keys.end(), ExpectationKey(x)) == keys.end()) {
        keys.push_back(ExpectationKey(x));
      }
    }
  }
  auto find = [](const RunView& v, const std::string& key) -> const ExpectationView* {
    for (const ExpectationView& x : v.expectations) {
      if (ExpectationKey(x) == key) return &x;
    }
    return nullptr;
  };
  for (const std::string& key : keys) {
    const ExpectationView* xa = find(va, key);
    const ExpectationView* xb = find(vb, key);
    const ExpectationView& any = xa != nullptr ? *xa : *xb;
    std::string metric = absl::StrCat(any.type == "recover" ? "time to recover " : "time to detect ",
                                      any.subject);
    auto suffix = [](const ExpectationView* x) {
      if (x == nullptr) return std::string("");
      std::string s = absl::StrCat(" (", x->OutcomeName());
      if (x->within_ms) absl::StrAppend(&s, ", target ", FormatSpan(*x->within_ms));
      return s + ")";
    };
    Row r = NumberRow(metric, xa ? xa->measured_ms : std::nullopt, xb ? xb->measured_ms : std::nullopt,
                      Unit::kSpan, suffix(xa), suffix(xb));
    if (xa == nullptr) r.a = "(not expected)";
    if (xb == nullptr) r.b = "(not expected)";
    rows.push_back(std::move(r));
  }

  std::map<std::string, ProbeDeviation> da = DeviationsByProbe(va), db = DeviationsByProbe(vb);
  std::map<std::string, bool> probes;
  for (const auto& [name, d] : da) probes[name] = true;
  for (const auto& [name, d] : db) probes[name] = true;
  for (const auto& [name, unused] : probes) {
    auto ia = da.find(name), ib = db.find(name);
    std::optional<int64_t> sa, sb, ta, tb;
    if (ia != da.end()) {
      sa = ia->second.spans;
      ta = ia->second.total_ms;
    }
    if (ib != db.end()) {
      sb = ib->second.spans;
      tb = ib->second.total_ms;
    }
    rows.push_back(NumberRow(absl::StrCat("probe ", name, " deviations"), sa, sb, Unit::kCount));
    rows.push_back(NumberRow(absl::StrCat("probe ", name, " deviated for"), ta, tb, Unit::kSpan));
  }
  for (Row& r : rows) {
    r.metric = OneLine(r.metric);
    r.a = OneLine(r.a);
    r.b = OneLine(r.b);
  }
  return rows;
}

std::vector<std::string> Warnings(const RunRecord& a, const RunRecord& b) {
  std::vector<std::string> w;
  if (a.experiment != b.experiment) {
    w.push_back(absl::StrCat("runs are of different experiments (", OneLine(a.experiment), " vs ",
                             OneLine(b.experiment), "): figures may not be comparable"));
  }
  if (a.run_id == b.run_id) w.push_back("both sides are the same run");
  if (!IsFinal(a.status) || !IsFinal(b.status)) {
    w.push_back("a run is still running: its figures are not final");
  }
  return w;
}

}  // namespace

absl::StatusOr<CompareFormat> ParseCompareFormat(const std::string& name) {
  if (name == "text") return CompareFormat::kText;
  if (name == "md" || name == "markdown") return CompareFormat::kMarkdown;
  if (name == "json") return CompareFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown compare format \"", name, "\": want text, md or json"));
}

std::string RenderComparison(CompareFormat format, const RunRecord& a,
                             const std::vector<Event>& a_events, const RunRecord& b,
                             const std::vector<Event>& b_events) {
  RunView va = BuildRunView(a, a_events);
  RunView vb = BuildRunView(b, b_events);
  std::vector<Row> rows = Rows(a, va, b, vb);
  std::vector<std::string> warnings = Warnings(a, b);

  if (format == CompareFormat::kJson) {
    json list = json::array();
    for (const Row& r : rows) {
      json row = {{"metric", r.metric}, {"a", r.a}, {"b", r.b}, {"delta", r.delta}};
      if (r.unit != Unit::kText) {
        row["unit"] = r.unit == Unit::kSpan ? "ms" : "count";
        row["a_value"] = r.a_value ? json(*r.a_value) : json();
        row["b_value"] = r.b_value ? json(*r.b_value) : json();
        row["delta_value"] = r.a_value && r.b_value ? json(*r.b_value - *r.a_value) : json();
      }
      list.push_back(std::move(row));
    }
    auto side = [](const RunRecord& r) {
      return json{{"run_id", r.run_id},
                  {"experiment", r.experiment},
                  {"status", RunStatusName(r.status)},
                  {"started_unix_ms", r.started_unix_ms}};
    };
    json doc = {{"compare_version", 1}, {"a", side(a)},       {"b", side(b)},
                {"rows", list},         {"warnings", warnings}};
    return SafeDump(doc, 2) + "\n";
  }

  const std::string a_head = absl::StrCat("A ", OneLine(a.run_id));
  const std::string b_head = absl::StrCat("B ", OneLine(b.run_id));
  std::string out;
  if (format == CompareFormat::kMarkdown) {
    absl::StrAppend(&out, "# Faultline compare: ", MarkdownCell(a.experiment),
                    a.experiment == b.experiment ? "" : " vs " + MarkdownCell(b.experiment), "\n\n");
    for (const std::string& w : warnings) absl::StrAppend(&out, "> **Warning:** ", MarkdownCell(w), "\n\n");
    absl::StrAppend(&out, "| Figure | ", MarkdownCell(a_head), " | ", MarkdownCell(b_head),
                    " | Delta (B - A) |\n| --- | --- | --- | --: |\n");
    for (const Row& r : rows) {
      absl::StrAppend(&out, "| ", MarkdownCell(r.metric), " | ", MarkdownCell(r.a), " | ",
                      MarkdownCell(r.b), " | ", MarkdownCell(r.delta), " |\n");
    }
    return out;
  }

  for (const std::string& w : warnings) absl::StrAppend(&out, "warning: ", w, "\n");
  if (!warnings.empty()) out += "\n";
  size_t wm = Columns("FIGURE"), wa = Columns(a_head), wb = Columns(b_head);
  for (const Row& r : rows) {
    wm = std::max(wm, Columns(r.metric));
    wa = std::max(wa, Columns(r.a));
    wb = std::max(wb, Columns(r.b));
  }
  auto line = [&](const std::string& m, const std::string& x, const std::string& y,
                  const std::string& d) {
    std::string l = absl::StrCat(Pad(m, wm), "  ", Pad(x, wa), "  ", Pad(y, wb), "  ", d);
    while (!l.empty() && l.back() == ' ') l.pop_back();
    absl::StrAppend(&out, l, "\n");
  };
  line("FIGURE", a_head, b_head, "DELTA (B-A)");
  for (const Row& r : rows) line(r.metric, r.a, r.b, r.delta);
  return out;
}

}  // namespace faultline::controller
