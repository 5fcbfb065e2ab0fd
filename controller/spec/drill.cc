#include "controller/spec/drill.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/units.h"
#include "controller/spec/drill_reader.h"
#include "controller/spec/fault_params.h"
#include "common/yaml/fields.h"
#include "controller/spec/rules.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

// Scales one duration of a drill by its speed (rounded to the millisecond).
class Scaler {
 public:
  Scaler(double speed, const std::string& position, const SourceLocation& where,
         Diagnostics* diagnostics)
      : speed_(speed), position_(position), where_(where), diagnostics_(diagnostics) {}

  milliseconds Offset(milliseconds d) const {
    return milliseconds(std::llround(static_cast<double>(d.count()) / speed_));
  }

  // `what` names the value ("duration", "flap.on"); `min` is what the
  // scaled value must stay at or above.
  milliseconds Duration(milliseconds d, absl::string_view what, milliseconds min) {
    const milliseconds scaled = Offset(d);
    if (scaled < min) {
      diagnostics_->Add(
          where_, absl::StrCat(position_, ": ", what, " ", FormatDuration(d), " at speed ",
                               FormatSpeed(speed_), " is ", FormatDuration(scaled), ", below ",
                               FormatDuration(min)));
    }
    return scaled;
  }

  // The time parameters inside a fault spec: process.kill interval and
  // memory.pressure ramp (with the summary text that shows them).
  void Spec(v1::FaultSpec* spec, std::string* summary) {
    if (spec->has_process_kill() && spec->process_kill().interval_ms() > 0) {
      const milliseconds old(spec->process_kill().interval_ms());
      const milliseconds now = Duration(old, "process.kill interval", kMinKillInterval);
      spec->mutable_process_kill()->set_interval_ms(static_cast<uint64_t>(now.count()));
      Resummarize("interval=", old, now, summary);
    }
    if (spec->has_memory_pressure() && spec->memory_pressure().ramp_ms() > 0) {
      const milliseconds old(spec->memory_pressure().ramp_ms());
      const milliseconds now = Duration(old, "memory.pressure ramp", milliseconds(1));
      spec->mutable_memory_pressure()->set_ramp_ms(static_cast<uint64_t>(now.count()));
      Resummarize("ramp=", old, now, summary);
    }
  }

 private:
  static void Resummarize(absl::string_view key, milliseconds old, milliseconds now,
                          std::string* summary) {
    *summary = absl::StrReplaceAll(*summary, {{absl::StrCat(key, FormatDuration(old)),
                                               absl::StrCat(key, FormatDuration(now))}});
  }

  double speed_;
  const std::string& position_;
  const SourceLocation& where_;
  Diagnostics* diagnostics_;
};

// The serial step of one timeline entry: [wait at/speed, the fault].
Step BuildEntry(const TimelineEntry& entry, size_t index, double speed, Diagnostics* diagnostics) {
  const std::string position = absl::StrCat("timeline[", index, "]");
  Scaler scale(speed, position, entry.where, diagnostics);
  const std::string at = FormatDuration(entry.at);
  const bool compressed = speed != 1;

  Step fault = entry.step;
  fault.duration = scale.Duration(entry.step.duration, "duration", milliseconds(1));
  if (fault.flap) {
    fault.flap->on = scale.Duration(entry.step.flap->on, "flap.on", milliseconds(1));
    fault.flap->off = scale.Duration(entry.step.flap->off, "flap.off", milliseconds(1));
  }
  scale.Spec(&fault.spec, &fault.params_summary);
  if (fault.ramp) {
    for (size_t i = 0; i < fault.ramp->specs.size(); ++i) {
      scale.Spec(&fault.ramp->specs[i], &fault.ramp->summaries[i]);
    }
    const auto slices = static_cast<int64_t>(fault.ramp->specs.size());
    if (fault.duration.count() >= 1 && fault.duration.count() / slices < 1) {
      diagnostics->Add(entry.where,
                       absl::StrCat(position, ": a ramp slice (",
                                    FormatDuration(entry.step.duration / slices),
                                    ") at speed ", FormatSpeed(speed), " is below 1ms"));
    }
  }
  fault.label = absl::StrCat(entry.step.label, " at ", at,
                             compressed ? absl::StrCat(" (", FormatSpeed(speed), ")") : "");

  Step serial;
  serial.kind = StepKind::kSerial;
  serial.where = entry.where;
  serial.label = absl::StrCat("at ", at, ": ", entry.step.label);
  const milliseconds wait = scale.Offset(entry.at);
  if (wait.count() > 0) {
    Step w;
    w.kind = StepKind::kWait;
    w.where = entry.where;
    w.duration = wait;
    w.label = compressed ? absl::StrCat("wait until ", at, " (", FormatDuration(wait), " at ",
                                        FormatSpeed(speed), ")")
                         : absl::StrCat("wait until ", at);
    serial.steps.push_back(std::move(w));
  }
  serial.steps.push_back(std::move(fault));
  return serial;
}

}  // namespace

const char* RecoverFromName(RecoverFrom from) {
  switch (from) {
    case RecoverFrom::kLastRevert: return "last-revert";
    case RecoverFrom::kFirstFault: return "first-fault";
  }
  return "unknown";
}

absl::StatusOr<double> ParseSpeed(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  if (!t.empty() && (t.back() == 'x' || t.back() == 'X')) t.remove_suffix(1);
  double value = 0;
  if (t.empty() || !absl::SimpleAtod(t, &value) || !std::isfinite(value) || value <= 0 ||
      value > kMaxSpeed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "speed must be a number greater than 0 and at most 1000, optionally followed by x "
        "(10x, 0.5x), got \"",
        text, "\""));
  }
  return value;
}

std::string FormatSpeed(double speed) { return absl::StrCat(speed, "x"); }

absl::Status CheckStandaloneAlertSource(const Experiment& experiment) {
  if (experiment.expect_detect.empty() || !experiment.alerts.alertmanager.empty()) {
    return absl::OkStatus();
  }
  const DetectExpectation& first = experiment.expect_detect.front();
  Diagnostic d{first.where,
               absl::StrCat("expect: detect of alert ", Quote(first.alert),
                            " needs alerts.alertmanager (an Alertmanager URL) when run with "
                            "faultline run; only faultline serve receives alerts by webhook")};
  return absl::InvalidArgumentError(d.ToString());
}

void BuildDrillSteps(Experiment* drill, Diagnostics* diagnostics) {
  drill->method.clear();
  if (!(drill->speed > 0 && drill->speed <= kMaxSpeed)) {
    diagnostics->Add(
        {drill->path, 0, 0},
        absl::StrCat("speed must be greater than 0 and at most 1000, got ", drill->speed));
    return;
  }
  if (drill->timeline.empty()) {
    diagnostics->Add({drill->path, 0, 0}, "timeline must list at least one fault");
    return;
  }
  Step parallel;
  parallel.kind = StepKind::kParallel;
  parallel.where = drill->timeline.front().where;
  for (size_t i = 0; i < drill->timeline.size(); ++i) {
    parallel.steps.push_back(BuildEntry(drill->timeline[i], i, drill->speed, diagnostics));
  }
  const size_t n = drill->timeline.size();
  parallel.label =
      absl::StrCat("timeline (", n, n == 1 ? " fault" : " faults",
                   drill->speed != 1 ? absl::StrCat(" at ", FormatSpeed(drill->speed)) : "", ")");
  drill->method.push_back(std::move(parallel));
}

absl::Status BuildDrillMethod(Experiment* drill) {
  Diagnostics diagnostics;
  BuildDrillSteps(drill, &diagnostics);
  if (diagnostics.size() > 0) drill->method.clear();
  return FinishDiagnostics(diagnostics.list(), nullptr);
}

}  // namespace faultline::controller
