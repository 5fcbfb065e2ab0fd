#include "controller/spec/drill_reader.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/spec/drill.h"
#include "controller/spec/rules.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMaxWithin = std::chrono::hours(24);
constexpr milliseconds kMaxAt = std::chrono::hours(24);
constexpr milliseconds kMinPoll{100};
constexpr milliseconds kMaxPoll = std::chrono::minutes(1);

constexpr const char* kOtherStepKinds[] = {"wait", "parallel", "serial", "pause"};

bool IsRoleName(absl::string_view s) {
  return !s.empty() && s.size() <= kMaxNameLength && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '-';
  });
}

// Prometheus metric (and so alert) names: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsAlertName(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_' || c == ':'; });
}

// Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*.
bool IsPromLabelName(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

// http:// or https://, then a host (up to the first '/', '?' or '#', an
// optional :port after it), no whitespace anywhere.
bool IsWebUrl(absl::string_view url) {
  absl::string_view rest;
  if (absl::StartsWith(url, "http://")) {
    rest = url.substr(7);
  } else if (absl::StartsWith(url, "https://")) {
    rest = url.substr(8);
  } else {
    return false;
  }
  if (std::any_of(url.begin(), url.end(), [](char c) { return absl::ascii_isspace(c); })) {
    return false;
  }
  const absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  const absl::string_view host = authority.substr(authority.rfind('@') + 1);
  return !host.empty() && host[0] != ':';
}

std::optional<std::string> ReadWebUrl(const YamlNode& node, absl::string_view field,
                                      Diagnostics* diagnostics) {
  std::optional<std::string> v = ReadString(node, field, diagnostics);
  if (!v) return std::nullopt;
  if (!IsWebUrl(*v)) {
    diagnostics->Add(node.where, absl::StrCat(field,
                                              " must be an http:// or https:// URL that names "
                                              "a host, got ",
                                              Describe(node)));
    return std::nullopt;
  }
  return v;
}

std::optional<milliseconds> ReadWithin(const YamlNode& node, absl::string_view field,
                                       Diagnostics* diagnostics) {
  return ReadDuration(node, field, milliseconds(1), kMaxWithin, DurationRange(kMaxWithin),
                      diagnostics);
}

class ExpectReader {
 public:
  ExpectReader(const ProbeNames& probe_names, Diagnostics* diagnostics, Experiment* out)
      : probe_names_(probe_names), diagnostics_(diagnostics), out_(out) {}

  void ReadEntry(const YamlNode& node, size_t index) {
    const std::string position = absl::StrCat("expect[", index, "]");
    if (!ExpectMapping(node, position, diagnostics_)) return;
    Fields f(node, position, diagnostics_);
    const YamlNode* detect = f.Get("detect");
    const YamlNode* recover = f.Get("recover");
    f.Finish();
    if (detect && recover) {
      const YamlNode* second = f.Key("recover");
      const YamlNode* first = f.Key("detect");
      if (std::tie(second->where.line, second->where.column) <
          std::tie(first->where.line, first->where.column)) {
        std::swap(first, second);
      }
      diagnostics_->Add(second->where, absl::StrCat(position,
                                                    " has both detect and recover; write each "
                                                    "expectation as its own list entry"));
      return;
    }
    if (!detect && !recover) {
      if (node.entries.empty()) {
        diagnostics_->Add(node.where, absl::StrCat(position,
                                                   " needs detect or recover (- detect: {alert: "
                                                   "NAME, within: 5m})"));
      }
      return;
    }
    if (detect) ReadDetect(*detect);
    if (recover) ReadRecover(*recover);
  }

 private:
  void ReadDetect(const YamlNode& node) {
    if (!ExpectMapping(node, "detect", diagnostics_)) return;
    const size_t before = diagnostics_->size();
    Fields f(node, "detect", diagnostics_);
    DetectExpectation detect;
    detect.where = node.where;
    if (const YamlNode* alert = f.Require("alert")) {
      if (auto v = ReadString(*alert, "detect: alert", diagnostics_)) {
        if (IsAlertName(*v)) {
          detect.alert = *v;
        } else {
          diagnostics_->Add(alert->where,
                            absl::StrCat("detect: alert must be a Prometheus alert name (letters, "
                                         "digits, '_' and ':', not starting with a digit), got ",
                                         Describe(*alert)));
        }
      }
    }
    if (const YamlNode* within = f.Require("within")) {
      if (auto v = ReadWithin(*within, "detect: within", diagnostics_)) detect.within = *v;
    }
    if (const YamlNode* labels = f.Get("labels")) ReadAlertLabels(*labels, &detect.labels);
    f.Finish();
    if (diagnostics_->size() != before) return;
    for (const DetectExpectation& earlier : out_->expect_detect) {
      if (earlier.alert == detect.alert && earlier.labels == detect.labels) {
        diagnostics_->Add(node.where,
                          absl::StrCat("expect lists detect of alert ", Quote(detect.alert),
                                       " with the same labels more than once (first "
                                       "at ",
                                       LineColumn(earlier.where), ")"));
        return;
      }
    }
    out_->expect_detect.push_back(std::move(detect));
  }

  void ReadAlertLabels(const YamlNode& node, std::map<std::string, std::string>* out) {
    if (!ExpectMapping(node, "detect: labels", diagnostics_)) return;
    Fields keys(node, "detect: labels", diagnostics_);  // duplicate and non-string keys
    for (const auto& [key, value] : node.entries) {
      if (!key.IsScalar() || out->count(key.scalar)) continue;
      if (!IsPromLabelName(key.scalar)) {
        diagnostics_->Add(key.where, absl::StrCat("detect: labels: ", Describe(key),
                                                  " must be a Prometheus label name (letters, "
                                                  "digits and '_', not starting with a digit)"));
        continue;
      }
      if (auto v = ReadString(value, absl::StrCat("detect: labels.", key.scalar), diagnostics_)) {
        out->emplace(key.scalar, *v);
      }
    }
  }

  void ReadRecover(const YamlNode& node) {
    if (!ExpectMapping(node, "recover", diagnostics_)) return;
    const size_t before = diagnostics_->size();
    Fields f(node, "recover", diagnostics_);
    RecoverExpectation recover;
    recover.where = node.where;
    if (const YamlNode* probe = f.Require("probe")) {
      if (auto v = ReadString(*probe, "recover: probe", diagnostics_)) {
        if (probe_names_.count(*v)) {
          recover.probe = *v;
        } else {
          std::vector<std::string> known;
          for (const auto& [name, where] : probe_names_) known.push_back(name);
          diagnostics_->Add(probe->where,
                            known.empty()
                                ? absl::StrCat("recover: probe ", Describe(*probe),
                                               " is not a steady_state probe (none are defined; "
                                               "add the probe to steady_state)")
                                : absl::StrCat("recover: probe ", Describe(*probe),
                                               " is not a steady_state probe (known: ",
                                               absl::StrJoin(known, ", "), ")"));
        }
      }
    }
    if (const YamlNode* within = f.Require("within")) {
      if (auto v = ReadWithin(*within, "recover: within", diagnostics_)) recover.within = *v;
    }
    if (const YamlNode* from = f.Get("from")) {
      const std::string word = from->IsScalar() ? from->scalar : "";
      if (word == RecoverFromName(RecoverFrom::kLastRevert)) {
        recover.from = RecoverFrom::kLastRevert;
      } else if (word == RecoverFromName(RecoverFrom::kFirstFault)) {
        recover.from = RecoverFrom::kFirstFault;
      } else {
        diagnostics_->Add(from->where, absl::StrCat("recover: from must be last-revert or "
                                                    "first-fault, got ",
                                                    Describe(*from)));
      }
    }
    f.Finish();
    if (diagnostics_->size() != before) return;
    for (const RecoverExpectation& earlier : out_->expect_recover) {
      if (earlier.probe == recover.probe) {
        diagnostics_->Add(
            node.where, absl::StrCat("expect lists recover of probe ", Quote(recover.probe),
                                     " more than once (first at ", LineColumn(earlier.where), ")"));
        return;
      }
    }
    out_->expect_recover.push_back(std::move(recover));
  }

  const ProbeNames& probe_names_;
  Diagnostics* diagnostics_;
  Experiment* out_;
};

// One timeline entry: `at` is taken out here, the rest is a fault step.
std::optional<TimelineEntry> ReadTimelineEntry(const YamlNode& node, size_t index,
                                               const DeclaredTargets& targets,
                                               Diagnostics* diagnostics) {
  const std::string position = absl::StrCat("timeline[", index, "]");
  if (!ExpectMapping(node, position, diagnostics)) return std::nullopt;
  const size_t before = diagnostics->size();
  YamlNode fault_step = node;
  fault_step.entries.clear();
  const YamlNode* at_key = nullptr;
  const YamlNode* at = nullptr;
  bool has_fault = false;
  bool other_kinds = false;
  for (const auto& entry : node.entries) {
    const YamlNode& key = entry.first;
    const bool other_kind =
        key.IsScalar() && std::any_of(std::begin(kOtherStepKinds), std::end(kOtherStepKinds),
                                      [&](const char* k) { return key.scalar == k; });
    if (key.IsScalar() && key.scalar == "at") {
      if (at_key) {
        diagnostics->Add(key.where, absl::StrCat("duplicate field \"at\" in timeline entry (first "
                                                 "at ",
                                                 LineColumn(at_key->where), ")"));
      } else {
        at_key = &key;
        at = &entry.second;
      }
    } else if (other_kind) {
      other_kinds = true;
      diagnostics->Add(key.where, absl::StrCat("\"", key.scalar,
                                               "\" is not allowed in a timeline: each entry is "
                                               "one fault started at its offset (at:)"));
    } else {
      if (key.IsScalar() && key.scalar == "fault") has_fault = true;
      fault_step.entries.push_back(entry);
    }
  }
  TimelineEntry out;
  out.where = node.where;
  if (!at) {
    diagnostics->Add(node.where,
                     "missing required field \"at\" in timeline entry (when the "
                     "fault starts, from the start of the drill: at: 2m30s)");
  } else if (auto v = ReadDuration(*at, "at", milliseconds(0), kMaxAt,
                                   DurationBetween(milliseconds(0), kMaxAt), diagnostics)) {
    out.at = *v;
  }
  if (!has_fault) {
    if (other_kinds) return std::nullopt;
    diagnostics->Add(node.where,
                     "missing required field \"fault\" in timeline entry (the fault "
                     "kind, e.g. fault: process.kill)");
    return std::nullopt;
  }
  std::optional<Step> step = ReadFaultStep(fault_step, position, targets, diagnostics);
  if (!step || diagnostics->size() != before) return std::nullopt;
  out.step = std::move(*step);
  return out;
}

}  // namespace

void ReadRoles(const YamlNode& node, Diagnostics* diagnostics,
               std::map<std::string, std::string>* out) {
  if (!ExpectMapping(node, "metadata.roles", diagnostics)) return;
  Fields keys(node, "metadata.roles", diagnostics);  // duplicate and non-string keys
  for (const auto& [key, value] : node.entries) {
    if (!key.IsScalar() || out->count(key.scalar)) continue;
    if (!IsRoleName(key.scalar)) {
      diagnostics->Add(key.where, absl::StrCat("metadata.roles: role ", Describe(key),
                                               " must be 1..", kMaxNameLength,
                                               " lowercase letters, digits, '_' and '-' "
                                               "(incident_commander, scribe, observers)"));
      continue;
    }
    if (auto v = ReadString(value, absl::StrCat("metadata.roles.", key.scalar), diagnostics)) {
      out->emplace(key.scalar, *v);
    }
  }
}

void ReadNotify(const YamlNode& node, Diagnostics* diagnostics, Experiment* out) {
  if (!ExpectMapping(node, "notify", diagnostics)) return;
  Fields f(node, "notify", diagnostics);
  NotifySpec notify;
  notify.where = node.where;
  std::optional<std::string> url;
  if (const YamlNode* webhook = f.Require("webhook")) {
    url = ReadWebUrl(*webhook, "notify.webhook", diagnostics);
  }
  f.Finish();
  if (!url) return;
  notify.webhook = *url;
  out->notify = std::move(notify);
}

void ReadAlerts(const YamlNode& node, Diagnostics* diagnostics, AlertSourceSpec* out) {
  if (!ExpectMapping(node, "alerts", diagnostics)) return;
  Fields f(node, "alerts", diagnostics);
  out->where = node.where;
  if (const YamlNode* url = f.Get("alertmanager")) {
    if (auto v = ReadWebUrl(*url, "alerts.alertmanager", diagnostics)) out->alertmanager = *v;
  }
  if (const YamlNode* poll = f.Get("poll")) {
    if (auto v = ReadDuration(*poll, "alerts.poll", kMinPoll, kMaxPoll,
                              DurationBetween(kMinPoll, kMaxPoll), diagnostics)) {
      out->poll = *v;
    }
  }
  f.Finish();
}

void ReadExpect(const YamlNode& node, const ProbeNames& probe_names, Diagnostics* diagnostics,
                Experiment* out) {
  if (!ExpectSequence(node, "expect", diagnostics)) return;
  if (node.items.empty()) {
    diagnostics->Add(node.where,
                     "expect must list at least one expectation (omit expect when "
                     "there is none)");
  }
  ExpectReader reader(probe_names, diagnostics, out);
  for (size_t i = 0; i < node.items.size(); ++i) reader.ReadEntry(node.items[i], i);
}

void ReadSpeed(const YamlNode& node, Diagnostics* diagnostics, double* out) {
  absl::StatusOr<double> speed =
      node.IsScalar() ? ParseSpeed(node.scalar) : absl::InvalidArgumentError("not a scalar");
  if (!speed.ok()) {
    diagnostics->Add(node.where, absl::StrCat("speed must be a number greater than 0 and at "
                                              "most 1000, optionally followed by x (10x, 0.5x), "
                                              "got ",
                                              Describe(node)));
    return;
  }
  *out = *speed;
}

void ReadTimeline(const YamlNode& node, const DeclaredTargets& targets, Diagnostics* diagnostics,
                  std::vector<TimelineEntry>* out) {
  if (!ExpectSequence(node, "timeline", diagnostics)) return;
  if (node.items.empty()) {
    diagnostics->Add(node.where, "timeline must list at least one fault");
    return;
  }
  for (size_t i = 0; i < node.items.size(); ++i) {
    std::optional<TimelineEntry> entry = ReadTimelineEntry(node.items[i], i, targets, diagnostics);
    if (entry) out->push_back(std::move(*entry));
  }
}

}  // namespace faultline::controller
