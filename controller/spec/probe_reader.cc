#include "controller/spec/probe_reader.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/units.h"
#include "controller/spec/fault_params.h"
#include "controller/spec/rules.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMaxProbeTimeout = std::chrono::seconds(60);
constexpr milliseconds kMinProbeInterval{100};
constexpr milliseconds kMaxProbeInterval = std::chrono::hours(1);
constexpr milliseconds kMaxActionTimeout = std::chrono::minutes(10);
constexpr int64_t kMaxFailures = 10000;
constexpr size_t kMaxProbeRegexLength = 1024;

constexpr const char* kProbeKinds[] = {"http", "tcp", "exec", "prometheus"};

std::string FailuresAllowed() {
  return absl::StrCat("an integer 1..", kMaxFailures, " (consecutive failures)");
}

// A regex searched in a probe's output.
std::optional<std::string> ReadRegex(const YamlNode& node, const std::string& field,
                                     Diagnostics* diagnostics) {
  std::optional<std::string> v = ReadString(node, field, diagnostics);
  if (!v) return std::nullopt;
  if (v->empty()) {
    diagnostics->Add(node.where, absl::StrCat(field, " must not be empty (omit it for no check)"));
    return std::nullopt;
  }
  if (v->size() > kMaxProbeRegexLength) {
    diagnostics->Add(node.where, absl::StrCat(field, " must be at most ", kMaxProbeRegexLength,
                                              " characters, got ", v->size()));
    return std::nullopt;
  }
  if (std::optional<std::string> error = RegexError(*v)) {
    diagnostics->Add(node.where,
                     absl::StrCat(field, " must be an RE2 regex, got ", Quote(*v), ": ", *error));
    return std::nullopt;
  }
  return v;
}

std::optional<Comparison> ReadComparison(const YamlNode& node, const std::string& field,
                                         Diagnostics* diagnostics) {
  static constexpr std::pair<const char*, Comparison> kOps[] = {
      {"<", Comparison::kLess},    {"<=", Comparison::kLessEqual},
      {">", Comparison::kGreater}, {">=", Comparison::kGreaterEqual},
      {"==", Comparison::kEqual},  {"between", Comparison::kBetween}};
  if (node.IsScalar()) {
    for (const auto& [name, op] : kOps) {
      if (node.scalar == name) return op;
    }
  }
  diagnostics->Add(node.where, absl::StrCat(field,
                                            " must be one of <, <=, >, >=, == or between, "
                                            "got ",
                                            Describe(node)));
  return std::nullopt;
}

std::optional<double> NumberOf(const YamlNode& node) {
  double value = 0;
  if (node.IsScalar() && !node.quoted && absl::SimpleAtod(node.scalar, &value) &&
      std::isfinite(value)) {
    return value;
  }
  return std::nullopt;
}

// A number, or [low, high] when `op` is between. True when read.
bool ReadNumberOrRange(const YamlNode& node, const std::string& field, Comparison op, double* low,
                       double* high, Diagnostics* diagnostics) {
  if (op != Comparison::kBetween) {
    std::optional<double> v = NumberOf(node);
    if (!v) {
      diagnostics->Add(node.where, absl::StrCat(field, " must be a number, got ", Describe(node)));
      return false;
    }
    *low = *v;
    return true;
  }
  if (!node.IsSequence() || node.items.size() != 2) {
    diagnostics->Add(node.where, absl::StrCat(field, " must be [low, high] for op between, got ",
                                              Describe(node)));
    return false;
  }
  bool ok = true;
  double bounds[2] = {0, 0};
  for (size_t i = 0; i < 2; ++i) {
    std::optional<double> v = NumberOf(node.items[i]);
    if (!v) {
      diagnostics->Add(node.items[i].where, absl::StrCat(field, "[", i, "] must be a number, got ",
                                                         Describe(node.items[i])));
      ok = false;
    } else {
      bounds[i] = *v;
    }
  }
  if (!ok) return false;
  if (bounds[0] > bounds[1]) {
    diagnostics->Add(node.where,
                     absl::StrCat(field, " must be [low, high] with low <= high, got [",
                                  node.items[0].scalar, ", ", node.items[1].scalar, "]"));
    return false;
  }
  *low = bounds[0];
  *high = bounds[1];
  return true;
}

// "status", "data.items[0].state", "[0].name": names separated by dots, each
// optionally followed by [index]; the path may start with an index.
bool IsJsonPath(absl::string_view path) {
  if (path.empty()) return false;
  size_t i = 0;
  bool expect_name = path[0] != '[';
  while (i < path.size()) {
    if (expect_name) {
      const size_t start = i;
      while (i < path.size() && path[i] != '.' && path[i] != '[' && path[i] != ']') ++i;
      if (i == start) return false;
      expect_name = false;
      continue;
    }
    if (path[i] == '[') {
      const size_t start = ++i;
      while (i < path.size() && absl::ascii_isdigit(path[i])) ++i;
      if (i == start || i >= path.size() || path[i] != ']') return false;
      ++i;
    } else if (path[i] == '.') {
      ++i;
      if (i >= path.size()) return false;
      expect_name = true;
    } else {
      return false;
    }
  }
  return true;
}

class ProbeReader {
 public:
  explicit ProbeReader(Diagnostics* diagnostics) : diagnostics_(diagnostics) {}

  void ReadProbe(const YamlNode& node, size_t index, std::vector<Probe>* out, ProbeNames* seen) {
    const std::string position = absl::StrCat("steady_state[", index, "]");
    if (!ExpectMapping(node, position, diagnostics_)) return;
    const size_t before = diagnostics_->size();
    // Name first so every later message can say which probe it is about.
    context_ = absl::StrCat("probe ", position);
    Probe probe;
    probe.where = node.where;
    Fields f(node, context_, diagnostics_);
    if (const YamlNode* name = f.Require("name")) {
      std::optional<std::string> v =
          ReadString(*name, absl::StrCat(position, ".name"), diagnostics_);
      if (v && !IsName(*v, /*allow_underscore=*/true)) {
        diagnostics_->Add(name->where,
                          absl::StrCat("probe name must be 1..", kMaxNameLength,
                                       " lowercase letters, digits, '-' and '_', starting with a "
                                       "letter or digit, got ",
                                       Describe(*name)));
      } else if (v) {
        probe.name = *v;
        context_ = absl::StrCat("probe \"", *v, "\"");
        auto [it, inserted] = seen->emplace(*v, name->where);
        if (!inserted) {
          diagnostics_->Add(name->where,
                            absl::StrCat("duplicate probe name \"", *v, "\" (first at ",
                                         LineColumn(it->second), ")"));
        }
      }
    }
    std::vector<const YamlNode*> kinds;  // key nodes in document order
    for (const auto& entry : node.entries) {
      const YamlNode& key = entry.first;  // a named variable: clang 14 (fuzz build)
                                          // cannot capture a structured binding
      if (!key.IsScalar()) continue;
      const bool is_kind =
          std::find_if(std::begin(kProbeKinds), std::end(kProbeKinds),
                       [&](const char* k) { return key.scalar == k; }) != std::end(kProbeKinds);
      const bool repeated = std::any_of(kinds.begin(), kinds.end(),
                                        [&](const YamlNode* k) { return k->scalar == key.scalar; });
      if (is_kind && !repeated) kinds.push_back(&key);
    }
    if (kinds.empty()) {
      diagnostics_->Add(node.where,
                        absl::StrCat(context_, " needs one of http, tcp, exec or prometheus"));
    } else if (kinds.size() > 1) {
      diagnostics_->Add(kinds[1]->where,
                        absl::StrCat(context_, " has both ", kinds[0]->scalar, " and ",
                                     kinds[1]->scalar, "; use one probe kind per entry"));
    }
    const YamlNode* http = f.Get("http");
    const YamlNode* tcp = f.Get("tcp");
    const YamlNode* exec = f.Get("exec");
    const YamlNode* prometheus = f.Get("prometheus");
    const YamlNode* max_latency = nullptr;
    if (!kinds.empty()) {
      const std::string& kind = kinds[0]->scalar;
      if (kind == "http") {
        probe.kind = ProbeKind::kHttp;
        max_latency = ReadHttp(*http, &probe);
      } else if (kind == "tcp") {
        probe.kind = ProbeKind::kTcp;
        ReadTcp(*tcp, &probe);
      } else if (kind == "exec") {
        probe.kind = ProbeKind::kExec;
        ReadExec(*exec, &probe);
      } else {
        probe.kind = ProbeKind::kPrometheus;
        ReadPrometheus(*prometheus, &probe);
      }
    }
    bool timeout_ok = true;
    if (const YamlNode* timeout = f.Get("timeout")) {
      if (auto v = ReadDuration(*timeout, absl::StrCat(context_, ": timeout"), milliseconds(1),
                                kMaxProbeTimeout, DurationRange(kMaxProbeTimeout), diagnostics_)) {
        probe.timeout = *v;
      } else {
        timeout_ok = false;
      }
    }
    if (max_latency != nullptr && timeout_ok && probe.max_latency > probe.timeout) {
      diagnostics_->Add(
          max_latency->where,
          absl::StrCat(context_, ": http.max_latency (", FormatDuration(probe.max_latency),
                       ") must not be longer than the probe timeout (",
                       FormatDuration(probe.timeout), ")"));
    }
    ReadWhen(f, &probe);
    if (const YamlNode* failures = f.Get("failures")) {
      if (auto v = ReadInt(*failures, absl::StrCat(context_, ": failures"), 1, kMaxFailures,
                           FailuresAllowed(), diagnostics_)) {
        probe.failures = static_cast<int>(*v);
      }
    }
    f.Get("during");
    if (const YamlNode* during = f.Key("during")) {
      diagnostics_->Add(during->where,
                        absl::StrCat("\"during\" is not a field of ", context_,
                                     "; list it in when, e.g. when: [before, during, after]"));
    }
    f.Finish();
    if (diagnostics_->size() == before) out->push_back(std::move(probe));
  }

 private:
  std::string Field(absl::string_view name) const { return absl::StrCat(context_, ": ", name); }

  // Returns the max_latency node when one was read (for the timeout check).
  const YamlNode* ReadHttp(const YamlNode& node, Probe* probe) {
    if (!ExpectMapping(node, Field("http"), diagnostics_)) return nullptr;
    Fields f(node, absl::StrCat("http ", context_), diagnostics_);
    if (const YamlNode* url = f.Require("url")) {
      if (auto v = ReadHttpUrl(*url, Field("http.url"), diagnostics_)) probe->url = *v;
    }
    if (const YamlNode* status = f.Get("status")) {
      if (auto v = ReadInt(*status, Field("http.status"), 100, 599, "an http status code 100..599",
                           diagnostics_)) {
        probe->expect_status = static_cast<int>(*v);
      }
    }
    if (const YamlNode* body = f.Get("body_matches")) {
      if (auto v = ReadRegex(*body, Field("http.body_matches"), diagnostics_)) {
        probe->body_regex = *v;
      }
    }
    if (const YamlNode* json = f.Get("json")) ReadJsonChecks(*json, probe);
    const YamlNode* max_latency = f.Get("max_latency");
    if (max_latency) {
      if (auto v = ReadDuration(*max_latency, Field("http.max_latency"), milliseconds(1),
                                kMaxProbeTimeout, DurationRange(kMaxProbeTimeout), diagnostics_)) {
        probe->max_latency = *v;
      } else {
        max_latency = nullptr;
      }
    }
    f.Finish();
    return max_latency;
  }

  void ReadJsonChecks(const YamlNode& node, Probe* probe) {
    if (!ExpectSequence(node, Field("http.json"), diagnostics_)) return;
    if (node.items.empty()) {
      diagnostics_->Add(node.where, absl::StrCat(Field("http.json"),
                                                 " must list at least one check (omit it for no "
                                                 "json check)"));
    }
    for (size_t i = 0; i < node.items.size(); ++i) {
      const YamlNode& item = node.items[i];
      const std::string name = absl::StrCat("http.json[", i, "]");
      if (!ExpectMapping(item, Field(name), diagnostics_)) continue;
      const size_t before = diagnostics_->size();
      Fields f(item, absl::StrCat(name, " of ", context_), diagnostics_);
      JsonCheck check;
      check.where = item.where;
      if (const YamlNode* field = f.Require("field")) {
        if (auto v = ReadString(*field, Field(absl::StrCat(name, ".field")), diagnostics_)) {
          if (!IsJsonPath(*v)) {
            diagnostics_->Add(field->where, absl::StrCat(Field(absl::StrCat(name, ".field")),
                                                         " must be a path such as status or "
                                                         "data.items[0].state, got ",
                                                         Describe(*field)));
          } else {
            check.field = *v;
          }
        }
      }
      bool op_ok = true;
      if (const YamlNode* op = f.Get("op")) {
        if (auto v = ReadComparison(*op, Field(absl::StrCat(name, ".op")), diagnostics_)) {
          check.op = *v;
        } else {
          op_ok = false;
        }
      }
      if (const YamlNode* value = f.Require("value")) {
        if (op_ok) ReadJsonValue(*value, name, &check);
      }
      f.Finish();
      if (diagnostics_->size() == before) probe->json.push_back(std::move(check));
    }
  }

  void ReadJsonValue(const YamlNode& value, const std::string& name, JsonCheck* check) {
    const std::string field = Field(absl::StrCat(name, ".value"));
    if (check->op == Comparison::kBetween) {
      check->is_number = ReadNumberOrRange(value, field, check->op, &check->number,
                                           &check->number_high, diagnostics_);
      return;
    }
    if (value.IsSequence() || value.IsMapping()) {
      diagnostics_->Add(value.where, absl::StrCat(field,
                                                  " must be a number, a string, true, false or "
                                                  "null, got ",
                                                  Describe(value)));
      return;
    }
    if (std::optional<double> number = NumberOf(value)) {
      check->is_number = true;
      check->number = *number;
      return;
    }
    const std::string lower = absl::AsciiStrToLower(value.scalar);
    if (value.IsNull() || (!value.quoted && (lower == "null" || lower == "~"))) {
      check->text = "null";
    } else if (!value.quoted && (lower == "true" || lower == "false")) {
      check->text = lower;
    } else {
      check->text = value.scalar;
    }
    if (check->op != Comparison::kEqual) {
      diagnostics_->Add(value.where, absl::StrCat(Field(absl::StrCat(name, ".op")), " ",
                                                  ComparisonName(check->op),
                                                  " needs a number value, got ", Describe(value),
                                                  " (strings, true, false and null compare "
                                                  "only with ==)"));
    }
  }

  void ReadTcp(const YamlNode& node, Probe* probe) {
    if (!ExpectMapping(node, Field("tcp"), diagnostics_)) return;
    Fields f(node, absl::StrCat("tcp ", context_), diagnostics_);
    if (const YamlNode* address = f.Require("address")) {
      if (auto v = ReadString(*address, Field("tcp.address"), diagnostics_)) {
        if (!IsHostPort(*v)) {
          diagnostics_->Add(
              address->where,
              absl::StrCat(Field("tcp.address"), " must be host:port with port 1..65535, got ",
                           Describe(*address)));
        } else {
          probe->address = *v;
        }
      }
    }
    f.Finish();
  }

  void ReadExec(const YamlNode& node, Probe* probe) {
    if (!ExpectMapping(node, Field("exec"), diagnostics_)) return;
    Fields f(node, absl::StrCat("exec ", context_), diagnostics_);
    if (const YamlNode* command = f.Require("command")) {
      if (auto v = ReadNonEmptyString(*command, Field("exec.command"), diagnostics_)) {
        probe->command = *v;
      }
    }
    if (const YamlNode* code = f.Get("exit_code")) {
      if (auto v =
              ReadInt(*code, Field("exec.exit_code"), 0, 255, "an integer 0..255", diagnostics_)) {
        probe->expect_exit = static_cast<int>(*v);
      }
    }
    if (const YamlNode* output = f.Get("output_matches")) {
      if (auto v = ReadRegex(*output, Field("exec.output_matches"), diagnostics_)) {
        probe->output_regex = *v;
      }
    }
    f.Finish();
  }

  void ReadPrometheus(const YamlNode& node, Probe* probe) {
    if (!ExpectMapping(node, Field("prometheus"), diagnostics_)) return;
    Fields f(node, absl::StrCat("prometheus ", context_), diagnostics_);
    if (const YamlNode* server = f.Require("server")) {
      if (auto v = ReadHttpUrl(*server, Field("prometheus.server"), diagnostics_)) {
        probe->server = *v;
      }
    }
    if (const YamlNode* query = f.Require("query")) {
      if (auto v = ReadNonEmptyString(*query, Field("prometheus.query"), diagnostics_)) {
        probe->query = *v;
      }
    }
    const YamlNode* op = f.Require("op");
    const YamlNode* value = f.Require("value");
    std::optional<Comparison> comparison;
    if (op) comparison = ReadComparison(*op, Field("prometheus.op"), diagnostics_);
    if (comparison) probe->op = *comparison;
    if (value && comparison) {
      ReadNumberOrRange(*value, Field("prometheus.value"), *comparison, &probe->value,
                        &probe->value_high, diagnostics_);
    }
    f.Finish();
  }

  void ReadWhen(Fields& f, Probe* probe) {
    const YamlNode* when = f.Get("when");
    const YamlNode* interval = f.Get("interval");
    bool when_ok = true;
    if (when) {
      std::vector<const YamlNode*> items;
      if (when->IsScalar()) {
        items.push_back(when);
      } else if (when->IsSequence()) {
        for (const YamlNode& item : when->items) items.push_back(&item);
        if (items.empty()) {
          diagnostics_->Add(when->where, absl::StrCat(Field("when"),
                                                      " must list at least one of before, during "
                                                      "or after"));
          when_ok = false;
        }
      } else {
        diagnostics_->Add(when->where, absl::StrCat(Field("when"),
                                                    " must be a list of before, during and "
                                                    "after, got ",
                                                    Describe(*when)));
        when_ok = false;
      }
      std::vector<std::string> seen;
      for (size_t i = 0; i < items.size(); ++i) {
        const YamlNode& item = *items[i];
        const std::string word = item.IsScalar() ? item.scalar : "";
        if (word != "before" && word != "during" && word != "after") {
          diagnostics_->Add(item.where,
                            absl::StrCat(Field(when->IsSequence() ? absl::StrCat("when[", i, "]")
                                                                  : std::string("when")),
                                         " must be before, during or after, got ", Describe(item)));
          when_ok = false;
          continue;
        }
        if (std::find(seen.begin(), seen.end(), word) != seen.end()) {
          diagnostics_->Add(item.where,
                            absl::StrCat(Field("when"), " lists ", word, " more than once"));
          when_ok = false;
          continue;
        }
        seen.push_back(word);
      }
      if (when_ok) {
        auto has = [&](const char* w) {
          return std::find(seen.begin(), seen.end(), w) != seen.end();
        };
        probe->before = has("before");
        probe->during = has("during");
        probe->after = has("after");
      }
    }
    if (interval) {
      if (when_ok && !probe->during) {
        diagnostics_->Add(f.Key("interval")->where,
                          absl::StrCat(Field("interval"),
                                       " applies only to probes that run during the method; add "
                                       "during to when"));
      } else if (auto v = ReadDuration(*interval, Field("interval"), kMinProbeInterval,
                                       kMaxProbeInterval,
                                       DurationBetween(kMinProbeInterval, kMaxProbeInterval),
                                       diagnostics_)) {
        probe->interval = *v;
      }
    }
  }

  Diagnostics* diagnostics_;
  std::string context_;
};

}  // namespace

void ReadSteadyState(const YamlNode& node, Diagnostics* diagnostics, std::vector<Probe>* out,
                     ProbeNames* names) {
  if (!ExpectSequence(node, "steady_state", diagnostics)) return;
  ProbeReader reader(diagnostics);
  for (size_t i = 0; i < node.items.size(); ++i) reader.ReadProbe(node.items[i], i, out, names);
}

void ReadAbortWhen(const YamlNode& node, const std::vector<Probe>& probes, const ProbeNames& names,
                   Diagnostics* diagnostics, std::vector<AbortCondition>* out) {
  if (!ExpectSequence(node, "abort_when", diagnostics)) return;
  std::map<std::string, SourceLocation> used;
  for (size_t i = 0; i < node.items.size(); ++i) {
    const YamlNode& item = node.items[i];
    const std::string position = absl::StrCat("abort_when[", i, "]");
    if (!ExpectMapping(item, position, diagnostics)) continue;
    const size_t before = diagnostics->size();
    Fields f(item, position, diagnostics);
    AbortCondition condition;
    condition.where = item.where;
    const Probe* probe = nullptr;
    if (const YamlNode* name = f.Require("probe")) {
      if (auto v = ReadString(*name, absl::StrCat(position, ".probe"), diagnostics)) {
        auto it = std::find_if(probes.begin(), probes.end(),
                               [&](const Probe& p) { return p.name == *v; });
        if (!names.count(*v)) {
          std::vector<std::string> known;
          for (const auto& [n, where] : names) known.push_back(n);
          diagnostics->Add(
              name->where,
              absl::StrCat(position, ": unknown probe ", Describe(*name),
                           known.empty()
                               ? std::string(" (no probes are defined in "
                                             "steady_state)")
                               : absl::StrCat(" (known: ", absl::StrJoin(known, ", "), ")")));
        } else if (auto [first, inserted] = used.emplace(*v, name->where); !inserted) {
          diagnostics->Add(name->where,
                           absl::StrCat(position, " names probe \"", *v, "\" again (first at ",
                                        LineColumn(first->second), ")"));
        } else if (it != probes.end()) {  // else: the probe's own problem is reported
          probe = &*it;
          if (!probe->during) {
            diagnostics->Add(name->where,
                             absl::StrCat(position, ": probe \"", *v,
                                          "\" does not run during the method; add during to its "
                                          "when (when: [before, during, after])"));
          }
        }
        condition.probe = *v;
      }
    }
    condition.failures = probe != nullptr ? probe->failures : 1;
    if (const YamlNode* failures = f.Get("failures")) {
      if (auto v = ReadInt(*failures, absl::StrCat(position, ".failures"), 1, kMaxFailures,
                           FailuresAllowed(), diagnostics)) {
        condition.failures = static_cast<int>(*v);
      }
    }
    f.Finish();
    if (diagnostics->size() == before) out->push_back(std::move(condition));
  }
}

void ReadRollback(const YamlNode& node, Diagnostics* diagnostics, RollbackPolicy* policy,
                  std::vector<RollbackAction>* actions) {
  if (!ExpectMapping(node, "rollback", diagnostics)) return;
  Fields f(node, "rollback", diagnostics);
  if (const YamlNode* p = f.Get("policy")) {
    static constexpr std::pair<const char*, RollbackPolicy> kPolicies[] = {
        {"always", RollbackPolicy::kAlways},
        {"on-deviation", RollbackPolicy::kOnDeviation},
        {"never-for-kills", RollbackPolicy::kNeverForKills}};
    bool found = false;
    for (const auto& [name, value] : kPolicies) {
      if (p->IsScalar() && p->scalar == name) {
        *policy = value;
        found = true;
      }
    }
    if (!found) {
      diagnostics->Add(p->where, absl::StrCat("rollback.policy must be always, on-deviation or "
                                              "never-for-kills, got ",
                                              Describe(*p)));
    }
  }
  const YamlNode* list = f.Get("actions");
  f.Finish();
  if (list == nullptr || !ExpectSequence(*list, "rollback.actions", diagnostics)) return;
  std::map<std::string, SourceLocation> names;
  for (size_t i = 0; i < list->items.size(); ++i) {
    const YamlNode& item = list->items[i];
    const std::string position = absl::StrCat("rollback.actions[", i, "]");
    if (!ExpectMapping(item, position, diagnostics)) continue;
    const size_t before = diagnostics->size();
    std::string context = position;
    RollbackAction action;
    action.where = item.where;
    action.name = absl::StrCat("rollback[", i, "]");
    Fields a(item, position, diagnostics);
    if (const YamlNode* name = a.Get("name")) {
      std::optional<std::string> v =
          ReadString(*name, absl::StrCat(position, ".name"), diagnostics);
      if (v && !IsName(*v, /*allow_underscore=*/true)) {
        diagnostics->Add(name->where,
                         absl::StrCat(position, ".name must be 1..", kMaxNameLength,
                                      " lowercase letters, digits, '-' and '_', starting with a "
                                      "letter or digit, got ",
                                      Describe(*name)));
      } else if (v) {
        action.name = *v;
        context = absl::StrCat("rollback action \"", *v, "\"");
        if (auto [it, inserted] = names.emplace(*v, name->where); !inserted) {
          diagnostics->Add(name->where, absl::StrCat("duplicate rollback action name \"", *v,
                                                     "\" (first at ", LineColumn(it->second), ")"));
        }
      }
    }
    const YamlNode* exec = a.Get("exec");
    const YamlNode* http = a.Get("http");
    if (!exec && !http) {
      diagnostics->Add(item.where, absl::StrCat(context, " needs one of exec or http"));
    } else if (exec && http) {
      const YamlNode* e = a.Key("exec");
      const YamlNode* h = a.Key("http");
      const bool exec_first =
          std::tie(e->where.line, e->where.column) < std::tie(h->where.line, h->where.column);
      diagnostics->Add(
          exec_first ? h->where : e->where,
          absl::StrCat(context, " has both ", exec_first ? "exec and http" : "http and exec",
                       "; use one per action"));
    } else if (exec) {
      action.kind = RollbackAction::Kind::kExec;
      if (ExpectMapping(*exec, absl::StrCat(context, ": exec"), diagnostics)) {
        Fields e(*exec, absl::StrCat("exec ", context), diagnostics);
        if (const YamlNode* command = e.Require("command")) {
          if (auto v = ReadNonEmptyString(*command, absl::StrCat(context, ": exec.command"),
                                          diagnostics)) {
            action.command = *v;
          }
        }
        e.Finish();
      }
    } else {
      action.kind = RollbackAction::Kind::kHttp;
      if (ExpectMapping(*http, absl::StrCat(context, ": http"), diagnostics)) {
        Fields h(*http, absl::StrCat("http ", context), diagnostics);
        if (const YamlNode* url = h.Require("url")) {
          if (auto v = ReadHttpUrl(*url, absl::StrCat(context, ": http.url"), diagnostics)) {
            action.url = *v;
          }
        }
        if (const YamlNode* method = h.Get("method")) {
          const std::string upper = method->IsScalar() ? absl::AsciiStrToUpper(method->scalar) : "";
          if (upper == "GET" || upper == "POST" || upper == "PUT" || upper == "DELETE") {
            action.method = upper;
          } else {
            diagnostics->Add(method->where, absl::StrCat(context,
                                                         ": http.method must be GET, POST, PUT or "
                                                         "DELETE, got ",
                                                         Describe(*method)));
          }
        }
        if (const YamlNode* body = h.Get("body")) {
          if (auto v = ReadString(*body, absl::StrCat(context, ": http.body"), diagnostics)) {
            action.body = *v;
          }
        }
        h.Finish();
      }
    }
    if (const YamlNode* timeout = a.Get("timeout")) {
      if (auto v = ReadDuration(*timeout, absl::StrCat(context, ": timeout"), milliseconds(1),
                                kMaxActionTimeout, DurationRange(kMaxActionTimeout), diagnostics)) {
        action.timeout = *v;
      }
    }
    a.Finish();
    if (diagnostics->size() == before) actions->push_back(std::move(action));
  }
}

}  // namespace faultline::controller
