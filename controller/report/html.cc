// HTML report: one self-contained HTML5 file a reviewer opens from disk or
// an artifact store. Inline CSS, an inline SVG timeline, no script, and no
// URL the browser would fetch (no src/href at all, so it renders the same
// offline and cannot leak that somebody opened it). URLs from the journal
// (webhooks, runbooks in the source) appear only as escaped text.
//
// The SVG uses stable classes and data attributes so people (and the
// browser test) can find things: see report.h.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <utility>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "controller/report/report.h"
#include "controller/report/run_view.h"

namespace faultline::controller {
namespace {

// Character data and attribute values alike (quotes escaped everywhere).
std::string Esc(const std::string& text) {
  std::string clean = CleanText(text);
  std::string out;
  out.reserve(clean.size() + clean.size() / 8);
  for (char c : clean) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// At most `max` code points of a one-line text, with an ellipsis when cut.
std::string Shorten(const std::string& text, size_t max) {
  std::string line = OneLine(text);
  size_t points = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;
    if (points == max) return line.substr(0, i) + "\xE2\x80\xA6";
    ++points;
  }
  return line;
}

std::string Px(double v) { return absl::StrFormat("%.1f", v); }

constexpr char kStyle[] = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2329;margin:24px auto;max-width:1280px;padding:0 16px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
.verdict{font-weight:600;padding:6px 10px;border-radius:4px;display:inline-block;margin:6px 0}
.status-passed{background:#e3f4e5;color:#1b5e20}.status-deviated,.status-failed,.status-aborted,.status-interrupted{background:#fde7e7;color:#8e1b1b}
.status-running,.status-skipped{background:#eef1f4;color:#37424d}
.context dt{font-weight:600;float:left;clear:left;width:170px}.context dt.role::first-letter{text-transform:uppercase}.context dd{margin:0 0 4px 180px}
table{border-collapse:collapse;margin:6px 0 12px;width:100%}th,td{border:1px solid #d8dde3;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}td.ok{color:#1b5e20;font-weight:600}td.bad{color:#b71c1c;font-weight:600}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}pre{background:#f6f8fa;padding:10px;overflow:auto}
.empty{color:#6a737d;font-style:italic}
svg.timeline{width:100%;height:auto;border:1px solid #d8dde3;background:#fcfcfd}
svg text{font:11px system-ui,sans-serif;fill:#1d2329}svg .axis line{stroke:#c5ccd3}svg .axis text{fill:#5a6570}
svg .lane-bg{fill:#f4f6f8}svg .probe-lane .lane-bg{fill:#f7f9f7}svg .lane-label{font-weight:600}
svg .fault-bar rect{fill:#f7a350;stroke:#c56a14}svg .fault-bar.open rect{stroke-dasharray:4 3;fill:#f9c48d}
svg .fault-bar.failed rect{fill:#e57373;stroke:#b71c1c}svg .fault-bar text{font-size:10.5px}
svg .deviation{fill:#f8d7d7}svg .expect-window rect{fill:#e8eaf6;stroke:#7986cb}
svg .expect-window.met rect{fill:#e3f4e5;stroke:#66bb6a}svg .expect-window.missed rect{fill:#fde7e7;stroke:#e57373}svg .probe-series{fill:none;stroke:#90a4ae;stroke-width:1}
svg .probe-mark.pass{fill:#2e7d32}svg .probe-mark.fail{fill:#c62828;stroke:#fff;stroke-width:1}
svg .marker line{stroke-width:1.5;stroke-dasharray:5 3}svg .marker text{font-size:10.5px}
svg .marker.note line{stroke:#1565c0}svg .marker.note text{fill:#0d47a1}
svg .marker.detect line{stroke:#6a1b9a}svg .marker.detect text{fill:#4a148c}
svg .marker.recover line{stroke:#2e7d32}svg .marker.recover text{fill:#1b5e20}
svg .marker.abort line,svg .marker.missed line,svg .marker.interrupt line,svg .marker.lease line{stroke:#c62828}
svg .marker.abort text,svg .marker.missed text,svg .marker.interrupt text,svg .marker.lease text{fill:#b71c1c}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border-radius:2px}
)css";

// The SVG timeline.
class Timeline {
 public:
  explicit Timeline(const RunView& view) : view_(view) {
    int64_t end = std::max<int64_t>(view.end_ms, 1000);
    for (const FaultView& f : view.faults) {
      if (f.reverted_ms) end = std::max(end, *f.reverted_ms);
      if (f.failed_ms) end = std::max(end, *f.failed_ms);
      if (f.applied_ms && f.duration_ms && !f.reverted_ms) {
        end = std::max(end, *f.applied_ms + *f.duration_ms);
      }
    }
    for (const MarkerView& m : view.markers) end = std::max(end, m.offset_ms);
    for (const ProbeResultView& p : view.probes) end = std::max(end, p.offset_ms);
    start_ = 0;
    for (const ProbeResultView& p : view.probes) start_ = std::min(start_, p.offset_ms);
    end_ = end + (end - start_) / 50;  // a little room after the last event
  }

  std::string Render() {
    std::string body;
    double y = kTop;
    // Host lanes: one per agent that had a fault (applied or failed).
    std::vector<std::string> hosts;
    for (const FaultView& f : view_.faults) {
      std::string host = HostOf(f);
      if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
    }
    for (const std::string& host : hosts) y = HostLane(body, host, y);
    // Probe lanes: one per probe, in first-result order; then expectations.
    std::vector<std::string> probes;
    for (const ProbeResultView& p : view_.probes) {
      if (std::find(probes.begin(), probes.end(), p.probe) == probes.end()) {
        probes.push_back(p.probe);
      }
    }
    for (const std::string& probe : probes) y = ProbeLane(body, probe, y);
    y = ExpectLane(body, y);
    if (hosts.empty() && probes.empty()) {
      absl::StrAppend(&body, "<text class=\"empty\" x=\"", Px(kLeft), "\" y=\"", Px(y + 16),
                      "\">No faults or probe results recorded.</text>\n");
      y += 28;
    }
    const double lanes_bottom = y;
    std::string markers = Markers(lanes_bottom, &y);
    const double height = y + 8;

    std::string out = absl::StrCat(
        "<svg class=\"timeline\" role=\"img\" "
        "aria-label=\"run timeline\" viewBox=\"0 0 ",
        kWidth, " ", Px(height), "\" width=\"", kWidth, "\" height=\"", Px(height),
        "\" data-start-ms=\"", start_, "\" data-end-ms=\"", end_, "\">\n");
    out += Axis(lanes_bottom);
    out += body;
    out += markers;
    out += "</svg>\n";
    return out;
  }

 private:
  static constexpr int kWidth = 1200;
  static constexpr double kLeft = 190;   // lane labels
  static constexpr double kRight = 16;
  static constexpr double kTop = 30;     // axis labels
  static constexpr double kRow = 20;     // one row of fault bars
  static constexpr double kProbeLane = 44;

  double X(int64_t ms) const {
    double span = static_cast<double>(std::max<int64_t>(1, end_ - start_));
    return kLeft + (static_cast<double>(ms - start_) / span) * (kWidth - kLeft - kRight);
  }

  static std::string HostOf(const FaultView& f) {
    if (!f.agent.empty()) return f.agent;
    if (!f.target.empty()) return f.target;
    return "(unknown host)";
  }

  std::string Axis(double bottom) const {
    static constexpr int64_t kSteps[] = {100,     250,     500,       1000,      2000,
                                         5000,    10'000,  15'000,    30'000,    60'000,
                                         120'000, 300'000, 600'000,   900'000,   1'800'000,
                                         3'600'000, 7'200'000, 21'600'000, 43'200'000, 86'400'000};
    int64_t step = kSteps[std::size(kSteps) - 1];
    for (int64_t s : kSteps) {
      if ((end_ - start_) / s <= 10) {
        step = s;
        break;
      }
    }
    std::string out = "<g class=\"axis\">\n";
    int64_t first = start_ >= 0 ? 0 : -((-start_) / step) * step;
    for (int64_t t = first; t <= end_; t += step) {
      double x = X(t);
      std::string label = FormatOffset(t);
      // "+00:30.000" -> "+00:30" on whole-second ticks.
      if (step % 1000 == 0 && label.size() > 4) label = label.substr(0, label.size() - 4);
      absl::StrAppend(&out, "<line x1=\"", Px(x), "\" y1=\"", Px(kTop - 6), "\" x2=\"", Px(x),
                      "\" y2=\"", Px(bottom), "\"/><text class=\"tick\" x=\"", Px(x), "\" y=\"",
                      Px(kTop - 10), "\" text-anchor=\"middle\" data-offset-ms=\"", t, "\">",
                      Esc(label), "</text>\n");
    }
    out += "</g>\n";
    return out;
  }

  double HostLane(std::string& out, const std::string& host, double y) const {
    // Faults of this host, placed in the first row where they do not overlap.
    struct Bar {
      const FaultView* fault;
      int64_t from, to;
      int row;
    };
    std::vector<Bar> bars;
    std::vector<int64_t> row_end;
    for (const FaultView& f : view_.faults) {
      if (HostOf(f) != host) continue;
      int64_t from = f.applied_ms.value_or(f.failed_ms.value_or(0));
      int64_t to = f.reverted_ms ? *f.reverted_ms
                   : f.applied_ms ? end_
                                  : from + std::max<int64_t>(1, (end_ - start_) / 200);
      if (!f.applied_ms && f.failed_ms) to = std::max(to, from);
      int row = 0;
      while (row < static_cast<int>(row_end.size()) && row_end[static_cast<size_t>(row)] > from) {
        ++row;
      }
      if (row == static_cast<int>(row_end.size())) row_end.push_back(0);
      row_end[static_cast<size_t>(row)] = to;
      bars.push_back({&f, from, to, row});
    }
    const double height = std::max<size_t>(1, row_end.size()) * kRow + 8;
    absl::StrAppend(&out, "<g class=\"lane host-lane\" data-host=\"", Esc(host), "\">\n",
                    "<rect class=\"lane-bg\" x=\"0\" y=\"", Px(y), "\" width=\"", kWidth,
                    "\" height=\"", Px(height - 2), "\"/>\n<text class=\"lane-label\" x=\"8\" y=\"",
                    Px(y + 15), "\">", Esc(Shorten(host, 28)), "<title>host ", Esc(host),
                    "</title></text>\n");
    for (const Bar& b : bars) {
      const FaultView& f = *b.fault;
      std::string cls = "fault-bar";
      if (!f.applied_ms && f.failed_ms) {
        cls += " failed";
      } else if (!f.reverted_ms) {
        cls += " open";
      }
      double x1 = X(b.from), x2 = std::max(X(b.to), x1 + 4);
      double top = y + 4 + b.row * kRow;
      std::string label = absl::StrCat(f.kind, " ", f.ParamsText());
      std::string title = absl::StrCat(f.fault_id, " ", f.kind, " on ", host,
                                       f.engine.empty() ? "" : " via " + f.engine, "\n",
                                       f.ParamsText());
      if (f.applied_ms) absl::StrAppend(&title, "\napplied ", FormatOffset(*f.applied_ms));
      if (f.reverted_ms) {
        absl::StrAppend(&title, "\nreverted ", FormatOffset(*f.reverted_ms),
                        f.revert_reason.empty() ? "" : " (" + f.revert_reason + ")");
      } else if (f.applied_ms) {
        absl::StrAppend(&title, "\nno revert recorded");
      }
      if (f.failed_ms) {
        absl::StrAppend(&title, "\nfailed ", FormatOffset(*f.failed_ms), ": ",
                        f.code.empty() ? "" : f.code + ": ", f.error);
      }
      if (f.observed.is_object() && !f.observed.empty()) {
        absl::StrAppend(&title, "\nobserved ", KeyValues(f.observed));
      }
      size_t fits = static_cast<size_t>(std::max(0.0, (x2 - x1 - 6) / 6.0));
      absl::StrAppend(&out, "<g class=\"", cls, "\" data-kind=\"", Esc(f.kind),
                      "\" data-fault-id=\"", Esc(f.fault_id), "\" data-host=\"", Esc(host),
                      "\" data-applied-ms=\"",
                      f.applied_ms ? absl::StrCat(*f.applied_ms) : std::string(),
                      "\" data-reverted-ms=\"",
                      f.reverted_ms ? absl::StrCat(*f.reverted_ms) : std::string(), "\">",
                      "<title>", Esc(title), "</title><rect x=\"", Px(x1), "\" y=\"", Px(top),
                      "\" width=\"", Px(x2 - x1), "\" height=\"", Px(kRow - 4), "\" rx=\"2\"/>");
      if (fits >= 3) {
        absl::StrAppend(&out, "<text x=\"", Px(x1 + 3), "\" y=\"", Px(top + 12), "\">",
                        Esc(Shorten(label, fits)), "</text>");
      }
      out += "</g>\n";
    }
    out += "</g>\n";
    return y + height;
  }

  double ProbeLane(std::string& out, const std::string& probe, double y) const {
    const double h = kProbeLane;
    absl::StrAppend(&out, "<g class=\"lane probe-lane\" data-probe=\"", Esc(probe), "\">\n",
                    "<rect class=\"lane-bg\" x=\"0\" y=\"", Px(y), "\" width=\"", kWidth,
                    "\" height=\"", Px(h - 2), "\"/>\n<text class=\"lane-label\" x=\"8\" y=\"",
                    Px(y + 15), "\">", Esc(Shorten(probe, 22)), " <tspan font-weight=\"400\">probe</tspan>",
                    "<title>probe ", Esc(probe), "</title></text>\n");
    for (const DeviationSpan& d : view_.deviations) {
      if (d.probe != probe) continue;
      int64_t to = d.end_ms.value_or(std::max(end_, d.start_ms));
      double x1 = X(d.start_ms), x2 = std::max(X(to), x1 + 2);
      absl::StrAppend(&out, "<rect class=\"deviation\" data-probe=\"", Esc(probe),
                      "\" data-start-ms=\"", d.start_ms, "\" x=\"", Px(x1), "\" y=\"", Px(y),
                      "\" width=\"", Px(x2 - x1), "\" height=\"", Px(h - 2), "\"><title>",
                      Esc(absl::StrCat(probe, " failing from ", FormatOffset(d.start_ms),
                                       d.end_ms ? " to " + FormatOffset(*d.end_ms)
                                                : " until the end (never passed again)",
                                       " (", FormatSpan(SpanLengthMs(view_, d)), ", ",
                                       d.failures, d.failures == 1 ? " failure)" : " failures)")),
                      "</title></rect>\n");
    }
    // Latency as the series' height; failed results sit on the baseline.
    double max_latency = 0;
    for (const ProbeResultView& p : view_.probes) {
      if (p.probe == probe && p.latency_ms) max_latency = std::max(max_latency, *p.latency_ms);
    }
    auto cy = [&](const ProbeResultView& p) {
      double base = y + h - 9, top = y + 9;
      if (!p.latency_ms || max_latency <= 0) return (base + top) / 2;
      return base - (*p.latency_ms / max_latency) * (base - top);
    };
    std::vector<std::string> points;
    for (const ProbeResultView& p : view_.probes) {
      if (p.probe == probe) points.push_back(absl::StrCat(Px(X(p.offset_ms)), ",", Px(cy(p))));
    }
    if (points.size() > 1) {
      absl::StrAppend(&out, "<polyline class=\"probe-series\" points=\"",
                      absl::StrJoin(points, " "), "\"/>\n");
    }
    for (const ProbeResultView& p : view_.probes) {
      if (p.probe != probe) continue;
      std::string title = absl::StrCat(probe, " (", p.phase, ") ", p.ok ? "ok" : "FAILED", " at ",
                                       FormatOffset(p.offset_ms));
      if (p.latency_ms) absl::StrAppend(&title, "\nlatency ", FormatNumber(*p.latency_ms), " ms");
      if (!p.detail.empty()) absl::StrAppend(&title, "\n", p.detail);
      if (!p.error.empty()) absl::StrAppend(&title, "\nerror: ", p.error);
      absl::StrAppend(&out, "<circle class=\"probe-mark ", p.ok ? "pass" : "fail",
                      "\" data-probe=\"", Esc(probe), "\" data-phase=\"", Esc(p.phase),
                      "\" data-offset-ms=\"", p.offset_ms, "\" cx=\"", Px(X(p.offset_ms)),
                      "\" cy=\"", Px(cy(p)), "\" r=\"", p.ok ? "3.5" : "4.5", "\"><title>",
                      Esc(title), "</title></circle>\n");
    }
    out += "</g>\n";
    return y + h;
  }

  // Where an expectation's clock starts: the recorded reference, else the
  // first fault applied (detect, recover from first-fault) or the last revert.
  std::optional<int64_t> Reference(const ExpectationView& x) const {
    if (x.reference_ms) return x.reference_ms;
    std::optional<int64_t> first, last;
    for (const FaultView& f : view_.faults) {
      if (f.applied_ms && (!first || *f.applied_ms < *first)) first = f.applied_ms;
      if (f.reverted_ms && (!last || *f.reverted_ms > *last)) last = f.reverted_ms;
    }
    if (x.type == "recover" && x.from != "first-fault") return last;
    return first;
  }

  // One lane with each expectation's target window (reference to reference
  // + within), coloured by its outcome.
  double ExpectLane(std::string& out, double y) const {
    std::vector<std::pair<const ExpectationView*, int64_t>> windows;
    for (const ExpectationView& x : view_.expectations) {
      std::optional<int64_t> ref = Reference(x);
      if (x.within_ms && ref) windows.emplace_back(&x, *ref);
    }
    if (windows.empty()) return y;
    const double h = windows.size() * kRow + 8;
    absl::StrAppend(&out, "<g class=\"lane expect-lane\">\n<rect class=\"lane-bg\" x=\"0\" y=\"", Px(y),
                    "\" width=\"", kWidth, "\" height=\"", Px(h - 2),
                    "\"/>\n<text class=\"lane-label\" x=\"8\" y=\"", Px(y + 15),
                    "\">expectations</text>\n");
    for (size_t i = 0; i < windows.size(); ++i) {
      const ExpectationView& x = *windows[i].first;
      const int64_t from = windows[i].second, to = from + *x.within_ms;
      double x1 = X(from), x2 = std::max(X(std::min(to, end_)), x1 + 4);
      double top = y + 4 + static_cast<double>(i) * kRow;
      std::string title = absl::StrCat(x.Name(), ": ", x.OutcomeName(),
                                       x.measured_ms ? " after " + FormatSpan(*x.measured_ms) : "",
                                       "\nwindow ", FormatOffset(from), " to ", FormatOffset(to));
      if (!x.Detail().empty()) absl::StrAppend(&title, "\n", x.Detail());
      size_t fits = static_cast<size_t>(std::max(0.0, (x2 - x1 - 6) / 6.0));
      absl::StrAppend(&out, "<g class=\"expect-window ", x.OutcomeName(), "\" data-expectation=\"",
                      Esc(x.Name()), "\" data-outcome=\"", x.OutcomeName(), "\"><title>", Esc(title),
                      "</title><rect x=\"", Px(x1), "\" y=\"", Px(top), "\" width=\"", Px(x2 - x1),
                      "\" height=\"", Px(kRow - 4), "\" rx=\"2\"/>");
      if (fits >= 3) {
        absl::StrAppend(&out, "<text x=\"", Px(x1 + 3), "\" y=\"", Px(top + 12), "\">",
                        Esc(Shorten(x.Name(), fits)), "</text>");
      }
      out += "</g>\n";
    }
    out += "</g>\n";
    return y + h;
  }

  // Vertical lines over every lane, labels in staggered rows below them.
  std::string Markers(double lanes_bottom, double* y) const {
    std::string out;
    std::vector<double> row_end;  // right edge of the last label in each row
    constexpr double kLabelRow = 15;
    for (const MarkerView& m : view_.markers) {
      double x = X(m.offset_ms);
      std::string label = Shorten(m.label, 48);
      double width = 6.0 * static_cast<double>(label.size() > 60 ? 60 : label.size()) + 8;
      bool left = x + width > kWidth - kRight;  // label to the left of the line near the end
      double from = left ? x - width : x, to = left ? x : x + width;
      int row = 0;
      while (row < static_cast<int>(row_end.size()) && row_end[static_cast<size_t>(row)] > from) {
        ++row;
      }
      if (row == static_cast<int>(row_end.size())) row_end.push_back(0);
      row_end[static_cast<size_t>(row)] = to;
      double text_y = lanes_bottom + 14 + row * kLabelRow;
      absl::StrAppend(&out, "<g class=\"marker ", Esc(m.kind), "\" data-kind=\"", Esc(m.kind),
                      "\" data-offset-ms=\"", m.offset_ms, "\"><title>",
                      Esc(absl::StrCat(FormatOffset(m.offset_ms), " ", m.label)),
                      "</title><line x1=\"", Px(x), "\" y1=\"", Px(kTop - 4), "\" x2=\"", Px(x),
                      "\" y2=\"", Px(text_y - 10), "\"/><text x=\"", Px(left ? x - 3 : x + 3),
                      "\" y=\"", Px(text_y), "\"", left ? " text-anchor=\"end\"" : "", ">",
                      Esc(label), "</text></g>\n");
    }
    *y = lanes_bottom + (row_end.empty() ? 6 : 8 + row_end.size() * kLabelRow);
    return out;
  }

  const RunView& view_;
  int64_t start_ = 0;
  int64_t end_ = 0;
};

void Table(std::string& out, const std::vector<std::string>& header,
           const std::vector<std::vector<std::string>>& rows,
           const std::set<size_t>& numeric = {}) {
  out += "<table><thead><tr>";
  for (const std::string& h : header) absl::StrAppend(&out, "<th>", Esc(h), "</th>");
  out += "</tr></thead><tbody>\n";
  for (const auto& row : rows) {
    out += "<tr>";
    for (size_t i = 0; i < row.size(); ++i) {
      // Cells are pre-escaped HTML (so a cell may carry <code> or a class).
      absl::StrAppend(&out, numeric.count(i) ? "<td class=\"num\">" : "<td>", row[i], "</td>");
    }
    out += "</tr>\n";
  }
  out += "</tbody></table>\n";
}

std::string OkCell(bool ok, const std::string& yes = "pass", const std::string& no = "FAIL") {
  return ok ? absl::StrCat("<span class=\"ok\">", Esc(yes), "</span>")
            : absl::StrCat("<strong class=\"bad\">", Esc(no), "</strong>");
}

std::string Opt(const std::optional<int64_t>& ms) { return ms ? FormatOffset(*ms) : "-"; }

}  // namespace

std::string RenderHtml(const RunRecord& run, const std::vector<Event>& events) {
  RunView view = BuildRunView(run, events);
  const std::string status = RunStatusName(run.status);
  std::string out;
  absl::StrAppend(&out,
                  "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<meta name=\"generator\" content=\"faultline\">\n<title>Faultline ",
                  view.kind == "Drill" ? "drill" : "run", ": ", Esc(run.experiment), " (",
                  Esc(run.run_id), ")</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n");
  absl::StrAppend(&out, "<header>\n<h1>Faultline ", view.kind == "Drill" ? "drill" : "run",
                  ": ", Esc(run.experiment), "</h1>\n<div>Run <code>", Esc(run.run_id),
                  "</code>", run.dry_run ? " (dry run)" : "", "</div>\n<p class=\"verdict status-",
                  Esc(status), "\" data-status=\"", Esc(status), "\">",
                  Esc(StatusAndVerdict(run, view)), "</p>\n</header>\n");

  // Who and why: hypothesis, roles, labels.
  out += "<section id=\"context\"><dl class=\"context\">\n";
  absl::StrAppend(&out, "<dt>Hypothesis</dt><dd class=\"hypothesis\">",
                  view.hypothesis.empty() ? "<span class=\"empty\">none recorded</span>"
                                          : Esc(view.hypothesis),
                  "</dd>\n");
  if (!view.owner.empty()) absl::StrAppend(&out, "<dt>Owner</dt><dd>", Esc(view.owner), "</dd>\n");
  for (const auto& [role, who] : view.roles) {
    absl::StrAppend(&out, "<dt class=\"role\" data-role=\"", Esc(role), "\">", Esc(RoleTitle(role)),
                    "</dt><dd>", Esc(who), "</dd>\n");
  }
  if (!view.labels.empty()) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : view.labels) parts.push_back(absl::StrCat("<code>", Esc(k), "=", Esc(v), "</code>"));
    absl::StrAppend(&out, "<dt>Labels</dt><dd>", absl::StrJoin(parts, " "), "</dd>\n");
  }
  out += "</dl></section>\n";

  out += "<section id=\"timeline-section\"><h2>Timeline</h2>\n";
  out += Timeline(view).Render();
  out += "<div class=\"legend\"><span><i style=\"background:#f7a350\"></i>fault applied</span>"
         "<span><i style=\"background:#e57373\"></i>fault failed</span>"
         "<span><i style=\"background:#2e7d32;border-radius:6px\"></i>probe passed</span>"
         "<span><i style=\"background:#c62828;border-radius:6px\"></i>probe failed</span>"
         "<span><i style=\"background:#f8d7d7\"></i>probe deviating</span>"
         "<span><i style=\"background:#1565c0\"></i>note</span>"
         "<span><i style=\"background:#6a1b9a\"></i>detected</span>"
         "<span><i style=\"background:#2e7d32\"></i>recovered</span>"
         "<span><i style=\"background:#c62828\"></i>abort / missed</span></div>\n";
  out += "</section>\n";

  out += "<section id=\"summary\"><h2>Summary</h2>\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"Status", Esc(status)});
  rows.push_back({"Verdict", Esc(view.verdict)});
  rows.push_back({"Kind", Esc(view.kind.empty() ? (run.kind.empty() ? "Experiment" : run.kind)
                                                : view.kind)});
  rows.push_back({"Experiment", absl::StrCat(Esc(run.experiment),
                                             run.experiment_path.empty()
                                                 ? ""
                                                 : " (<code>" + Esc(run.experiment_path) + "</code>)")});
  rows.push_back({"Started", Esc(FormatUtc(run.started_unix_ms))});
  rows.push_back({"Ended", Esc(run.ended_unix_ms > 0 ? FormatUtc(run.ended_unix_ms) : "-")});
  rows.push_back({"Duration", Esc(view.duration_ms ? FormatSpan(*view.duration_ms) : "-")});
  rows.push_back({"Exit code", run.exit_code >= 0 ? absl::StrCat(run.exit_code) : "-"});
  rows.push_back({"Controller", Esc(absl::StrCat(run.host, " (pid ", run.controller_pid, ")"))});
  if (view.speed) rows.push_back({"Speed", Esc(FormatNumber(*view.speed) + "x")});
  Table(out, {"Field", "Value"}, rows);
  out += "</section>\n";

  out += "<section id=\"expectations\"><h2>Expectations</h2>\n";
  if (view.expectations.empty()) {
    out += "<p class=\"empty\">No detection or recovery expectations.</p>\n";
  } else {
    rows.clear();
    for (const ExpectationView& x : view.expectations) {
      std::string detail = x.Detail();
      rows.push_back({Esc(x.Name()),
                      x.outcome == ExpectationView::Outcome::kPending
                          ? "pending"
                          : OkCell(x.outcome == ExpectationView::Outcome::kMet, "met", "MISSED"),
                      Esc(x.measured_ms ? FormatSpan(*x.measured_ms) : "-"),
                      Esc(x.within_ms ? FormatSpan(*x.within_ms) : "-"), Esc(Opt(x.at_ms)),
                      Esc(detail)});
    }
    Table(out, {"Expectation", "Outcome", "Measured", "Target", "At", "Detail"}, rows, {2, 3, 4});
  }
  out += "</section>\n";

  out += "<section id=\"faults\"><h2>Faults</h2>\n";
  if (view.faults.empty()) {
    out += "<p class=\"empty\">No faults applied.</p>\n";
  } else {
    rows.clear();
    for (const FaultView& f : view.faults) {
      std::string reverted = f.reverted_ms ? FormatOffset(*f.reverted_ms) : "";
      if (f.reverted_ms && !f.revert_reason.empty()) absl::StrAppend(&reverted, " (", f.revert_reason, ")");
      std::string cell = Esc(reverted);
      if (f.failed_ms) {
        absl::StrAppend(&cell, cell.empty() ? "" : "<br>", "<strong class=\"bad\">failed</strong> ",
                        Esc(absl::StrCat(FormatOffset(*f.failed_ms), ": ",
                                         f.code.empty() ? "" : f.code + ": ", f.error)));
      }
      if (cell.empty()) {
        cell = IsFinal(run.status) ? "<strong class=\"bad\">no revert recorded</strong>" : "active";
      }
      rows.push_back({absl::StrCat("<code>", Esc(f.fault_id), "</code>"),
                      absl::StrCat("<code>", Esc(f.kind), "</code>"), Esc(f.target), Esc(f.agent),
                      Esc(f.engine), Esc(f.ParamsText()), Esc(Opt(f.applied_ms)), cell,
                      Esc(f.applied_ms && f.reverted_ms ? FormatSpan(*f.reverted_ms - *f.applied_ms)
                                                        : "-"),
                      Esc(KeyValues(f.observed))});
    }
    Table(out, {"Fault", "Kind", "Target", "Host", "Engine", "Parameters", "Applied", "Reverted",
                "Held", "Observed"},
          rows, {6, 8});
  }
  out += "</section>\n";

  out += "<section id=\"probes\"><h2>Steady-state probes</h2>\n";
  if (view.probes.empty()) {
    out += "<p class=\"empty\">No probe results recorded.</p>\n";
  } else {
    std::vector<std::string> names;
    for (const ProbeResultView& p : view.probes) {
      if (std::find(names.begin(), names.end(), p.probe) == names.end()) names.push_back(p.probe);
    }
    rows.clear();
    for (const std::string& name : names) {
      int total = 0, failed = 0, spans = 0;
      int64_t deviated = 0;
      for (const ProbeResultView& p : view.probes) {
        if (p.probe != name) continue;
        ++total;
        failed += p.ok ? 0 : 1;
      }
      for (const DeviationSpan& d : view.deviations) {
        if (d.probe != name) continue;
        ++spans;
        deviated += SpanLengthMs(view, d);
      }
      rows.push_back({Esc(name), absl::StrCat(total), absl::StrCat(failed), absl::StrCat(spans),
                      Esc(spans > 0 ? FormatSpan(deviated) : "-")});
    }
    Table(out, {"Probe", "Results", "Failed", "Deviations", "Deviated for"}, rows, {1, 2, 3, 4});
    out += "<details><summary>Every probe result</summary>\n";
    rows.clear();
    for (const ProbeResultView& p : view.probes) {
      std::string detail = p.detail;
      if (!p.error.empty()) detail = detail.empty() ? "error: " + p.error : detail + "; error: " + p.error;
      rows.push_back({Esc(FormatOffset(p.offset_ms)), Esc(p.probe), Esc(p.phase), OkCell(p.ok),
                      Esc(p.latency_ms ? FormatNumber(*p.latency_ms) + " ms" : "-"), Esc(detail)});
    }
    Table(out, {"Offset", "Probe", "Phase", "Result", "Latency", "Detail"}, rows, {0, 4});
    out += "</details>\n";
  }
  out += "</section>\n";

  out += "<section id=\"notes\"><h2>Notes</h2>\n";
  if (view.notes.empty()) {
    out += "<p class=\"empty\">No notes.</p>\n";
  } else {
    out += "<ul class=\"notes\">\n";
    for (const NoteView& n : view.notes) {
      absl::StrAppend(&out, "<li class=\"note\"><code>", Esc(FormatOffset(n.offset_ms)), "</code> ",
                      n.author.empty() ? "" : "<strong>" + Esc(n.author) + "</strong>: ",
                      Esc(n.text), "</li>\n");
    }
    out += "</ul>\n";
  }
  out += "</section>\n";

  out += "<section id=\"events\"><h2>Journal</h2>\n";
  if (events.empty()) {
    out += "<p class=\"empty\">No events recorded.</p>\n";
  } else {
    rows.clear();
    for (const Event& e : events) {
      rows.push_back({Esc(FormatOffset(OffsetMs(view, e))),
                      absl::StrCat("<code>", Esc(e.type), "</code>"), Esc(EventDetails(e))});
    }
    out += "<details><summary>Every event (" + absl::StrCat(events.size()) + ")</summary>\n";
    Table(out, {"Offset", "Event", "Details"}, rows, {0});
    out += "</details>\n";
  }
  out += "</section>\n";

  if (!run.source_text.empty()) {
    absl::StrAppend(&out, "<section id=\"source\"><h2>Experiment source</h2>\n<details><summary>",
                    Esc(run.experiment_path.empty() ? run.experiment : run.experiment_path),
                    "</summary><pre>", Esc(run.source_text), "</pre></details></section>\n");
  }
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace faultline::controller
