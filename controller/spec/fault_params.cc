#include "controller/spec/fault_params.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/units.h"
#include "controller/spec/network_params.h"
#include "controller/spec/rules.h"
#include "re2/re2.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

// /proc/PID/comm holds at most TASK_COMM_LEN - 1 characters.
constexpr size_t kMaxCommLength = 15;
// PID_MAX_LIMIT on 64-bit Linux.
constexpr int64_t kMaxPid = 4194304;
constexpr int64_t kMaxWorkers = 1024;
constexpr int64_t kMaxCpu = 4095;
constexpr size_t kMaxCmdlineRegexLength = 256;
// The agent's compile budget for a cmdline pattern
// (agent/faults/process_target.h kCmdlineRegexMaxMem): a pattern that fits
// here fits there.
constexpr int64_t kRegexMaxMem = int64_t{4} << 20;
constexpr milliseconds kMaxRamp = std::chrono::hours(1);

// Linux signal numbers (x86-64 and arm64 agree on these).
constexpr std::array<std::pair<const char*, int>, 32> kSignals = {{
    {"HUP", 1},     {"INT", 2},     {"QUIT", 3},   {"ILL", 4},     {"TRAP", 5},
    {"ABRT", 6},    {"IOT", 6},     {"BUS", 7},    {"FPE", 8},     {"KILL", 9},
    {"USR1", 10},   {"SEGV", 11},   {"USR2", 12},  {"PIPE", 13},   {"ALRM", 14},
    {"TERM", 15},   {"STKFLT", 16}, {"CHLD", 17},  {"CONT", 18},   {"STOP", 19},
    {"TSTP", 20},   {"TTIN", 21},   {"TTOU", 22},  {"URG", 23},    {"XCPU", 24},
    {"XFSZ", 25},   {"VTALRM", 26}, {"PROF", 27},  {"WINCH", 28},  {"IO", 29},
    {"PWR", 30},    {"SYS", 31},
}};

// Of two present keys, the one written second (where a conflict is reported).
const YamlNode* SecondOf(const Fields& fields, absl::string_view a, absl::string_view b) {
  const YamlNode* ka = fields.Key(a);
  const YamlNode* kb = fields.Key(b);
  return WrittenBefore(ka->where, kb->where) ? kb : ka;
}

std::string FormatNumber(double value) { return absl::StrCat(value); }

// Reports a conflict between mutually exclusive keys `present` (2 or more)
// at the second one written.
void ReportExclusive(const Fields& fields, const std::vector<std::string>& present,
                     Diagnostics* diagnostics) {
  const YamlNode* second = SecondOf(fields, present[0], present[1]);
  diagnostics->Add(second->where,
                   absl::StrCat(absl::StrJoin(present, " and "), " cannot be used together in ",
                                fields.context(), "; use one"));
}

class ParamReader {
 public:
  ParamReader(absl::string_view kind, const YamlNode& params, Diagnostics* diagnostics)
      : kind_(kind),
        fields_(params, absl::StrCat(kind, " params"), diagnostics),
        diagnostics_(diagnostics),
        errors_before_(diagnostics->size()) {}

  std::string Field(absl::string_view name) const { return absl::StrCat(kind_, ": ", name); }
  Fields& fields() { return fields_; }
  Diagnostics* diagnostics() { return diagnostics_; }
  bool ok() const { return diagnostics_->size() == errors_before_; }
  void Summary(absl::string_view part) {
    if (!summary_.empty()) summary_ += ' ';
    absl::StrAppend(&summary_, part);
  }
  std::string& summary() { return summary_; }

  // Reads the process selector (pid | name | cmdline) into `target`.
  void ReadProcessTarget(v1::ProcessTarget* target) {
    const YamlNode* pid = fields_.Get("pid");
    const YamlNode* name = fields_.Get("name");
    const YamlNode* cmdline = fields_.Get("cmdline");
    fields_.Later("cgroup");
    std::vector<std::string> present;
    if (pid) present.push_back("pid");
    if (name) present.push_back("name");
    if (cmdline) present.push_back("cmdline");
    if (present.empty()) {
      diagnostics_->Add(fields_.where(), absl::StrCat(kind_,
                                                      " params need one of pid, name or cmdline "
                                                      "to choose the processes"));
    } else if (present.size() > 1) {
      ReportExclusive(fields_, present, diagnostics_);
    }
    if (pid) {
      if (auto v = ReadInt(*pid, Field("pid"), 2, kMaxPid,
                           absl::StrCat("an integer 2..", kMaxPid, " (pid 1 is never signalled)"),
                           diagnostics_)) {
        target->set_pid(static_cast<int32_t>(*v));
        Summary(absl::StrCat("pid=", *v));
      }
    }
    if (name) {
      if (auto v = ReadString(*name, Field("name"), diagnostics_)) {
        if (v->empty()) {
          diagnostics_->Add(name->where, absl::StrCat(Field("name"), " must not be empty"));
        } else if (v->size() > kMaxCommLength) {
          diagnostics_->Add(
              name->where,
              absl::StrCat(Field("name"), " must be at most ", kMaxCommLength,
                           " characters because the kernel truncates process names (comm) to ",
                           kMaxCommLength, ", got ", Quote(*v), " (", v->size(),
                           " characters); use cmdline to match longer names"));
        } else {
          target->set_name(*v);
          Summary(absl::StrCat("name=", *v));
        }
      }
    }
    if (cmdline) {
      if (auto v = ReadString(*cmdline, Field("cmdline"), diagnostics_)) {
        if (v->empty()) {
          diagnostics_->Add(cmdline->where, absl::StrCat(Field("cmdline"), " must not be empty"));
        } else if (v->size() > kMaxCmdlineRegexLength) {
          diagnostics_->Add(cmdline->where,
                            absl::StrCat(Field("cmdline"), " must be at most ",
                                         kMaxCmdlineRegexLength, " characters, got ", v->size()));
        } else if (std::optional<std::string> error = RegexError(*v)) {
          diagnostics_->Add(cmdline->where, absl::StrCat(Field("cmdline"),
                                                         " must be an RE2 regex, got ",
                                                         Quote(*v), ": ", *error));
        } else {
          target->set_cmdline(*v);
          Summary(absl::StrCat("cmdline=", Quote(*v)));
        }
      }
    }
  }

  // Reads count | percent (both optional, not together).
  void ReadHowMany(uint32_t* count, double* percent) {
    const YamlNode* count_node = fields_.Get("count");
    const YamlNode* percent_node = fields_.Get("percent");
    if (count_node && percent_node) ReportExclusive(fields_, {"count", "percent"}, diagnostics_);
    if (count_node) {
      if (auto v = ReadInt(*count_node, Field("count"), 1, INT32_MAX, "an integer of at least 1",
                           diagnostics_)) {
        *count = static_cast<uint32_t>(*v);
        Summary(absl::StrCat("count=", *v));
      }
    }
    if (percent_node) {
      if (auto v = ReadNumber(*percent_node, Field("percent"), 0, true, 100,
                              "a number greater than 0 and at most 100", diagnostics_)) {
        *percent = *v;
        Summary(absl::StrCat("percent=", FormatNumber(*v)));
      }
    }
  }

 private:
  std::string kind_;
  Fields fields_;
  Diagnostics* diagnostics_;
  size_t errors_before_;
  std::string summary_;
};

void ReadCpuPressure(ParamReader& r, v1::CpuPressure* out) {
  Fields& f = r.fields();
  if (const YamlNode* load = f.Require("load")) {
    if (auto v = ReadInt(*load, r.Field("load"), 1, 100, "an integer 1..100", r.diagnostics())) {
      out->set_load_pct(static_cast<uint32_t>(*v));
      r.Summary(absl::StrCat("load=", *v));
    }
  }
  out->set_workers(1);
  if (const YamlNode* workers = f.Get("workers")) {
    if (auto v = ReadInt(*workers, r.Field("workers"), 0, kMaxWorkers,
                         absl::StrCat("an integer 0..", kMaxWorkers, " (0 = one per online cpu)"),
                         r.diagnostics())) {
      out->set_workers(static_cast<uint32_t>(*v));
    }
  }
  r.Summary(absl::StrCat("workers=", out->workers()));
  if (const YamlNode* cores = f.Get("cores")) {
    if (ExpectSequence(*cores, r.Field("cores"), r.diagnostics())) {
      if (cores->items.empty()) {
        r.diagnostics()->Add(cores->where,
                             absl::StrCat(r.Field("cores"),
                                          " must list at least one cpu (omit it to use any cpu)"));
      }
      std::vector<int64_t> seen;
      for (size_t i = 0; i < cores->items.size(); ++i) {
        const YamlNode& item = cores->items[i];
        auto v = ReadInt(item, r.Field(absl::StrCat("cores[", i, "]")), 0, kMaxCpu,
                         absl::StrCat("a cpu number 0..", kMaxCpu), r.diagnostics());
        if (!v) continue;
        if (std::find(seen.begin(), seen.end(), *v) != seen.end()) {
          r.diagnostics()->Add(item.where, absl::StrCat(r.Field("cores"), " lists cpu ", *v,
                                                        " more than once"));
          continue;
        }
        seen.push_back(*v);
        out->add_cores(static_cast<uint32_t>(*v));
      }
      if (!seen.empty()) r.Summary(absl::StrCat("cores=", absl::StrJoin(seen, ",")));
    }
  }
  f.Later("ramp");
}

void ReadMemoryPressure(ParamReader& r, milliseconds step_duration, v1::MemoryPressure* out) {
  Fields& f = r.fields();
  const YamlNode* size = f.Get("size");
  const YamlNode* percent = f.Get("percent");
  if (!size && !percent) {
    r.diagnostics()->Add(f.where(), "memory.pressure params need one of size or percent");
  } else if (size && percent) {
    ReportExclusive(f, {"size", "percent"}, r.diagnostics());
  }
  if (size) {
    absl::StatusOr<uint64_t> bytes =
        size->IsScalar() ? ParseBytes(size->scalar) : absl::InvalidArgumentError("not a scalar");
    if (!bytes.ok() || *bytes == 0) {
      r.diagnostics()->Add(size->where,
                           absl::StrCat(r.Field("size"),
                                        " must be a size greater than 0 such as 512Mi or 2Gi, got ",
                                        Describe(*size)));
    } else {
      out->set_size_bytes(*bytes);
      r.Summary(absl::StrCat("size=", FormatBytes(*bytes)));
    }
  }
  if (percent) {
    if (auto v = ReadNumber(*percent, r.Field("percent"), 0, true, 100,
                            "a number greater than 0 and at most 100 (percent of MemTotal)",
                            r.diagnostics())) {
      out->set_percent(*v);
      r.Summary(absl::StrCat("percent=", FormatNumber(*v)));
    }
  }
  if (const YamlNode* ramp = f.Get("ramp")) {
    if (auto v = ReadDuration(*ramp, r.Field("ramp"), milliseconds(0), kMaxRamp,
                              absl::StrCat("a duration of at most ", FormatDuration(kMaxRamp)),
                              r.diagnostics())) {
      if (step_duration.count() > 0 && *v > step_duration) {
        r.diagnostics()->Add(ramp->where,
                             absl::StrCat(r.Field("ramp"),
                                          " must not be longer than the step duration (",
                                          FormatDuration(step_duration), "), got ",
                                          FormatDuration(*v)));
      } else {
        out->set_ramp_ms(static_cast<uint64_t>(v->count()));
        if (v->count() > 0) r.Summary(absl::StrCat("ramp=", FormatDuration(*v)));
      }
    }
  }
  f.Later("hold");
}

void ReadProcessKill(ParamReader& r, v1::ProcessKill* out) {
  Fields& f = r.fields();
  r.ReadProcessTarget(out->mutable_target());
  out->set_signal(9);
  if (const YamlNode* signal = f.Get("signal")) {
    std::optional<int> number;
    if (signal->IsScalar()) number = ParseSignal(signal->scalar);
    if (!number) {
      r.diagnostics()->Add(signal->where,
                           absl::StrCat(r.Field("signal"),
                                        " must be a signal name such as KILL, TERM or STOP, or a "
                                        "number 1..64, got ",
                                        Describe(*signal)));
    } else {
      out->set_signal(*number);
    }
  }
  r.Summary(absl::StrCat("signal=", SignalName(out->signal())));
  uint32_t count = 0;
  double percent = 0;
  r.ReadHowMany(&count, &percent);
  out->set_count(count);
  out->set_percent(percent);
  if (const YamlNode* interval = f.Get("interval")) {
    if (auto v = ReadDuration(*interval, r.Field("interval"), kMinKillInterval, kMaxKillInterval,
                              DurationBetween(kMinKillInterval, kMaxKillInterval),
                              r.diagnostics())) {
      out->set_interval_ms(static_cast<uint64_t>(v->count()));
      r.Summary(absl::StrCat("interval=", FormatDuration(*v)));
    }
  }
}

void ReadProcessPause(ParamReader& r, v1::ProcessPause* out) {
  r.ReadProcessTarget(out->mutable_target());
  uint32_t count = 0;
  double percent = 0;
  r.ReadHowMany(&count, &percent);
  out->set_count(count);
  out->set_percent(percent);
}

}  // namespace

const std::vector<std::string>& SupportedFaultKinds() {
  static const auto* kinds = [] {
    auto* all = new std::vector<std::string>(NetworkFaultKinds());
    all->insert(all->end(), {"cpu.pressure", "memory.pressure", "process.kill", "process.pause"});
    return all;
  }();
  return *kinds;
}

bool IsLaterFaultKind(absl::string_view kind) { return false; }

std::optional<FaultParams> ReadFaultParams(absl::string_view kind, const YamlNode& params,
                                           milliseconds step_duration, Diagnostics* diagnostics) {
  ParamReader reader(kind, params, diagnostics);
  FaultParams result;
  if (kind == "cpu.pressure") {
    ReadCpuPressure(reader, result.spec.mutable_cpu_pressure());
  } else if (kind == "memory.pressure") {
    ReadMemoryPressure(reader, step_duration, result.spec.mutable_memory_pressure());
  } else if (kind == "process.kill") {
    ReadProcessKill(reader, result.spec.mutable_process_kill());
  } else if (kind == "process.pause") {
    ReadProcessPause(reader, result.spec.mutable_process_pause());
  } else if (IsNetworkFaultKind(kind)) {
    ReadNetworkParams(kind, reader.fields(), diagnostics, &result.spec, &reader.summary());
  } else {
    diagnostics->Add(params.where, absl::StrCat("unknown fault kind \"", kind, "\""));
    return std::nullopt;
  }
  reader.fields().Finish();
  if (!reader.ok()) return std::nullopt;
  result.summary = std::move(reader.summary());
  return result;
}

std::optional<int> ParseSignal(absl::string_view text) {
  int number = 0;
  if (absl::SimpleAtoi(text, &number)) {
    if (number >= 1 && number <= 64) return number;
    return std::nullopt;
  }
  std::string name = absl::AsciiStrToUpper(text);
  if (absl::StartsWith(name, "SIG")) name = name.substr(3);
  for (const auto& [signal_name, signal_number] : kSignals) {
    if (name == signal_name) return signal_number;
  }
  return std::nullopt;
}

std::string SignalName(int signal) {
  for (const auto& [signal_name, signal_number] : kSignals) {
    if (signal_number == signal) return signal_name;
  }
  return absl::StrCat(signal);
}

std::optional<std::string> RegexError(const std::string& pattern) {
  // The agent's options (agent/faults/process_target.cc): byte-wise, no
  // captures, same memory budget, so exactly the same patterns compile.
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingLatin1);
  options.set_never_capture(true);
  options.set_log_errors(false);
  options.set_max_mem(kRegexMaxMem);
  RE2 regex(pattern, options);
  if (regex.ok()) return std::nullopt;
  std::string reason = regex.error();
  const std::string& arg = regex.error_arg();
  // What RE2 leaves out on purpose (it needs backtracking) is the likely
  // surprise for someone used to Perl or ECMAScript regexes.
  if (regex.error_code() == RE2::ErrorBadPerlOp &&
      (arg == "(?=" || arg == "(?!" || arg == "(?<")) {
    absl::StrAppend(&reason, "; RE2 has no lookahead or lookbehind");
  } else if (regex.error_code() == RE2::ErrorBadEscape && arg.size() == 2 && arg[1] >= '1' &&
             arg[1] <= '9') {
    absl::StrAppend(&reason, "; RE2 has no backreferences");
  }
  return reason;
}

}  // namespace faultline::controller
