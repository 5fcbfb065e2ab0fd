#include "controller/spec/experiment.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/units.h"
#include "controller/spec/fault_params.h"
#include "controller/spec/fields.h"
#include "controller/spec/yaml_tree.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

constexpr char kApiVersion[] = "faultline/v1";
constexpr size_t kMaxNameLength = 63;
constexpr size_t kMaxFileBytes = 1 << 20;
constexpr milliseconds kMaxProbeTimeout = std::chrono::seconds(60);
constexpr milliseconds kMaxStepDuration = std::chrono::hours(24);

// Name rules: experiment names end up in run ids and file names, target and
// probe names are referenced from other sections and shown in reports.
bool IsName(absl::string_view s, bool allow_underscore) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = absl::ascii_islower(c) || absl::ascii_isdigit(c) ||
                    (i > 0 && (c == '-' || (allow_underscore && c == '_')));
    if (!ok) return false;
  }
  return true;
}

bool IsPort(absl::string_view s) {
  int port = 0;
  return !s.empty() && std::all_of(s.begin(), s.end(), absl::ascii_isdigit) &&
         absl::SimpleAtoi(s, &port) && port >= 1 && port <= 65535;
}

// "host:port" or "[v6]:port"; the host is a name or an address.
bool IsHostPort(absl::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos) return false;
  absl::string_view host = s.substr(0, colon);
  if (!IsPort(s.substr(colon + 1))) return false;
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
    return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
      return absl::ascii_isxdigit(c) || c == ':' || c == '.';
    });
  }
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
  });
}

bool IsAgentAddress(absl::string_view s) {
  if (absl::StartsWith(s, "unix:")) return s.size() > 6 && s[5] == '/';
  return IsHostPort(s);
}

std::string DurationRange(milliseconds max) {
  return absl::StrCat("a duration greater than 0 and at most ", FormatDuration(max));
}

class ExperimentReader {
 public:
  explicit ExperimentReader(Experiment* out) : out_(out) {}

  Diagnostics& diagnostics() { return diagnostics_; }

  void Read(const YamlNode& root) {
    if (!root.IsMapping()) {
      diagnostics_.Add(root.where, absl::StrCat("expected a mapping at the top level of the "
                                                "experiment, got ",
                                                Describe(root)));
      return;
    }
    Fields f(root, "experiment", &diagnostics_);
    if (const YamlNode* v = f.Require("apiVersion")) ReadApiVersion(*v);
    if (const YamlNode* v = f.Require("kind")) ReadKind(*v);
    if (const YamlNode* v = f.Require("metadata")) ReadMetadata(*v);
    // Targets first: steps refer to them.
    if (const YamlNode* v = f.Get("targets")) ReadTargets(*v);
    if (const YamlNode* v = f.Get("steady_state")) ReadSteadyState(*v);
    if (const YamlNode* v = f.Require("method")) ReadMethod(*v);
    for (const char* later :
         {"inventory", "abort_when", "schedule", "rollback", "timeline", "expect"}) {
      f.Later(later);
    }
    f.Finish();
  }

 private:
  void ReadApiVersion(const YamlNode& node) {
    std::optional<std::string> v = ReadString(node, "apiVersion", &diagnostics_);
    if (!v) return;
    if (*v != kApiVersion) {
      diagnostics_.Add(node.where, absl::StrCat("apiVersion must be \"", kApiVersion,
                                                "\", got ", Describe(node)));
      return;
    }
    out_->api_version = *v;
  }

  void ReadKind(const YamlNode& node) {
    std::optional<std::string> v = ReadString(node, "kind", &diagnostics_);
    if (!v) return;
    if (*v == "Drill") {
      diagnostics_.Add(node.where,
                       "kind \"Drill\" is not supported yet by this version of faultline");
    } else if (*v != "Experiment") {
      diagnostics_.Add(node.where,
                       absl::StrCat("kind must be \"Experiment\", got ", Describe(node)));
    } else {
      out_->kind = *v;
    }
  }

  void ReadMetadata(const YamlNode& node) {
    if (!ExpectMapping(node, "metadata", &diagnostics_)) return;
    Fields f(node, "metadata", &diagnostics_);
    if (const YamlNode* name = f.Require("name")) {
      if (std::optional<std::string> v = ReadString(*name, "metadata.name", &diagnostics_)) {
        if (IsName(*v, /*allow_underscore=*/false)) {
          out_->name = *v;
        } else {
          diagnostics_.Add(name->where,
                           absl::StrCat("metadata.name must be 1..", kMaxNameLength,
                                        " lowercase letters, digits and '-', starting with a "
                                        "letter or digit, got ",
                                        Describe(*name)));
        }
      }
    }
    const std::pair<const char*, std::string*> optional[] = {
        {"owner", &out_->owner}, {"runbook", &out_->runbook}, {"description", &out_->description}};
    for (const auto& [key, field] : optional) {
      if (const YamlNode* v = f.Get(key)) {
        if (auto s = ReadString(*v, absl::StrCat("metadata.", key), &diagnostics_)) *field = *s;
      }
    }
    f.Later("labels");
    f.Finish();
  }

  void ReadTargets(const YamlNode& node) {
    targets_declared_ = true;
    if (!ExpectMapping(node, "targets", &diagnostics_)) return;
    Fields names(node, "targets", &diagnostics_);  // duplicate and non-string keys
    if (node.entries.empty()) {
      diagnostics_.Add(node.where, "targets must define at least one target (omit targets to "
                                   "use the embedded local agent)");
    }
    for (const auto& [key, value] : node.entries) {
      if (!key.IsScalar() || target_names_.count(key.scalar)) continue;
      target_names_.insert(key.scalar);
      if (!IsName(key.scalar, /*allow_underscore=*/true)) {
        diagnostics_.Add(key.where,
                         absl::StrCat("target name ", Describe(key), " must be 1..",
                                      kMaxNameLength,
                                      " lowercase letters, digits, '-' and '_', starting with a "
                                      "letter or digit"));
        continue;
      }
      ReadTarget(key, value);
    }
  }

  void ReadTarget(const YamlNode& key, const YamlNode& node) {
    const std::string context = absl::StrCat("target \"", key.scalar, "\"");
    if (!ExpectMapping(node, context, &diagnostics_)) return;
    Fields f(node, context, &diagnostics_);
    Target target{.name = key.scalar, .agents = {}, .where = key.where};
    bool ok = true;
    if (const YamlNode* agents = f.Require("agents")) {
      const std::string field = absl::StrCat(context, ": agents");
      if (!ExpectSequence(*agents, field, &diagnostics_)) {
        ok = false;
      } else if (agents->items.empty()) {
        diagnostics_.Add(agents->where, absl::StrCat(field, " must list at least one agent"));
        ok = false;
      }
      for (size_t i = 0; agents->IsSequence() && i < agents->items.size(); ++i) {
        const YamlNode& item = agents->items[i];
        const std::string item_field = absl::StrCat(field, "[", i, "]");
        std::optional<std::string> address = ReadString(item, item_field, &diagnostics_);
        if (!address) {
          ok = false;
        } else if (!IsAgentAddress(*address)) {
          diagnostics_.Add(item.where,
                           absl::StrCat(item_field,
                                        " must be host:port with port 1..65535 or unix:/path, "
                                        "got ",
                                        Describe(item)));
          ok = false;
        } else if (std::find(target.agents.begin(), target.agents.end(), *address) !=
                   target.agents.end()) {
          diagnostics_.Add(item.where, absl::StrCat(item_field, " lists agent ",
                                                    Describe(item), " more than once"));
          ok = false;
        } else {
          target.agents.push_back(*address);
        }
      }
    } else {
      ok = false;
    }
    for (const char* later : {"select", "count", "percent", "all", "seed"}) f.Later(later);
    f.Finish();
    if (ok) out_->targets.emplace(target.name, std::move(target));
  }

  void ReadSteadyState(const YamlNode& node) {
    if (!ExpectSequence(node, "steady_state", &diagnostics_)) return;
    std::map<std::string, SourceLocation> seen;
    for (size_t i = 0; i < node.items.size(); ++i) {
      ReadProbe(node.items[i], i, &seen);
    }
  }

  void ReadProbe(const YamlNode& node, size_t index,
                 std::map<std::string, SourceLocation>* seen) {
    const std::string position = absl::StrCat("steady_state[", index, "]");
    if (!ExpectMapping(node, position, &diagnostics_)) return;
    // Name first so every later message can say which probe it is about.
    std::string context = absl::StrCat("probe ", position);
    Probe probe;
    probe.where = node.where;
    bool ok = true;
    Fields f(node, context, &diagnostics_);
    if (const YamlNode* name = f.Require("name")) {
      std::optional<std::string> v = ReadString(*name, absl::StrCat(position, ".name"),
                                                &diagnostics_);
      if (!v) {
        ok = false;
      } else if (!IsName(*v, /*allow_underscore=*/true)) {
        diagnostics_.Add(name->where,
                         absl::StrCat("probe name must be 1..", kMaxNameLength,
                                      " lowercase letters, digits, '-' and '_', starting with a "
                                      "letter or digit, got ",
                                      Describe(*name)));
        ok = false;
      } else {
        probe.name = *v;
        context = absl::StrCat("probe \"", *v, "\"");
        auto [it, inserted] = seen->emplace(*v, name->where);
        if (!inserted) {
          diagnostics_.Add(name->where, absl::StrCat("duplicate probe name \"", *v,
                                                     "\" (first at ", LineColumn(it->second),
                                                     ")"));
          ok = false;
        }
      }
    } else {
      ok = false;
    }
    const YamlNode* http = f.Get("http");
    const YamlNode* tcp = f.Get("tcp");
    const YamlNode* exec = f.Get("exec");
    f.Later("prometheus");
    f.Later("during");
    std::vector<std::pair<std::string, const YamlNode*>> kinds;
    for (const auto& [key, value] : node.entries) {
      if (key.IsScalar() && (key.scalar == "http" || key.scalar == "tcp" || key.scalar == "exec")) {
        kinds.emplace_back(key.scalar, &key);
      }
    }
    if (kinds.empty() && !f.Key("prometheus")) {
      diagnostics_.Add(node.where, absl::StrCat(context, " needs one of http, tcp or exec"));
      ok = false;
    } else if (kinds.size() > 1) {
      diagnostics_.Add(kinds[1].second->where,
                       absl::StrCat(context, " has both ", kinds[0].first, " and ",
                                    kinds[1].first, "; use one probe kind per entry"));
      ok = false;
    }
    if (http) {
      probe.kind = ProbeKind::kHttp;
      ok &= ReadHttp(*http, context, &probe);
    } else if (tcp) {
      probe.kind = ProbeKind::kTcp;
      ok &= ReadTcp(*tcp, context, &probe);
    } else if (exec) {
      probe.kind = ProbeKind::kExec;
      ok &= ReadExec(*exec, context, &probe);
    }
    if (const YamlNode* timeout = f.Get("timeout")) {
      if (auto v = ReadDuration(*timeout, absl::StrCat(context, ": timeout"), milliseconds(1),
                                kMaxProbeTimeout, DurationRange(kMaxProbeTimeout),
                                &diagnostics_)) {
        probe.timeout = *v;
      } else {
        ok = false;
      }
    }
    f.Finish();
    if (ok) out_->steady_state.push_back(std::move(probe));
  }

  bool ReadHttp(const YamlNode& node, const std::string& context, Probe* probe) {
    const size_t before = diagnostics_.size();
    if (!ExpectMapping(node, absl::StrCat(context, ": http"), &diagnostics_)) return false;
    Fields f(node, absl::StrCat("http ", context), &diagnostics_);
    if (const YamlNode* url = f.Require("url")) {
      if (auto v = ReadString(*url, absl::StrCat(context, ": http.url"), &diagnostics_)) {
        if (!absl::StartsWith(*v, "http://") || v->size() <= 7) {
          diagnostics_.Add(url->where, absl::StrCat(context,
                                                    ": http.url must start with http:// and name "
                                                    "a host (https is not supported yet), got ",
                                                    Describe(*url)));
        } else {
          probe->url = *v;
        }
      }
    }
    if (const YamlNode* status = f.Get("status")) {
      if (auto v = ReadInt(*status, absl::StrCat(context, ": http.status"), 100, 599,
                           "an http status code 100..599", &diagnostics_)) {
        probe->expect_status = static_cast<int>(*v);
      }
    }
    f.Finish();
    return diagnostics_.size() == before;
  }

  bool ReadTcp(const YamlNode& node, const std::string& context, Probe* probe) {
    const size_t before = diagnostics_.size();
    if (!ExpectMapping(node, absl::StrCat(context, ": tcp"), &diagnostics_)) return false;
    Fields f(node, absl::StrCat("tcp ", context), &diagnostics_);
    if (const YamlNode* address = f.Require("address")) {
      const std::string field = absl::StrCat(context, ": tcp.address");
      if (auto v = ReadString(*address, field, &diagnostics_)) {
        if (!IsHostPort(*v)) {
          diagnostics_.Add(address->where,
                           absl::StrCat(field, " must be host:port with port 1..65535, got ",
                                        Describe(*address)));
        } else {
          probe->address = *v;
        }
      }
    }
    f.Finish();
    return diagnostics_.size() == before;
  }

  bool ReadExec(const YamlNode& node, const std::string& context, Probe* probe) {
    const size_t before = diagnostics_.size();
    if (!ExpectMapping(node, absl::StrCat(context, ": exec"), &diagnostics_)) return false;
    Fields f(node, absl::StrCat("exec ", context), &diagnostics_);
    if (const YamlNode* command = f.Require("command")) {
      const std::string field = absl::StrCat(context, ": exec.command");
      if (auto v = ReadString(*command, field, &diagnostics_)) {
        if (absl::StripAsciiWhitespace(*v).empty()) {
          diagnostics_.Add(command->where, absl::StrCat(field, " must not be empty"));
        } else {
          probe->command = *v;
        }
      }
    }
    f.Finish();
    return diagnostics_.size() == before;
  }

  void ReadMethod(const YamlNode& node) {
    if (!ExpectSequence(node, "method", &diagnostics_)) return;
    if (node.items.empty()) {
      diagnostics_.Add(node.where, "method must have at least one step");
      return;
    }
    for (size_t i = 0; i < node.items.size(); ++i) ReadStep(node.items[i], i);
  }

  void ReadStep(const YamlNode& node, size_t index) {
    const std::string position = absl::StrCat("method[", index, "]");
    if (!ExpectMapping(node, position, &diagnostics_)) return;
    static constexpr const char* kStepKinds[] = {"fault", "wait", "parallel", "serial", "pause"};
    std::vector<const YamlNode*> kind_keys;
    for (const auto& [key, value] : node.entries) {
      if (!key.IsScalar()) continue;
      const bool is_kind = std::find(std::begin(kStepKinds), std::end(kStepKinds),
                                     key.scalar) != std::end(kStepKinds);
      // A repeated key is reported as a duplicate by Fields, not as a second kind.
      const bool repeated = std::any_of(kind_keys.begin(), kind_keys.end(),
                                        [&](const YamlNode* k) { return k->scalar == key.scalar; });
      if (is_kind && !repeated) {
        kind_keys.push_back(&key);
      }
    }
    if (kind_keys.size() > 1) {
      diagnostics_.Add(kind_keys[1]->where,
                       absl::StrCat("method step has both \"", kind_keys[0]->scalar, "\" and \"",
                                    kind_keys[1]->scalar, "\"; use one per step"));
    }
    const std::string kind = kind_keys.empty() ? "" : kind_keys[0]->scalar;
    if (kind == "fault" && kind_keys.size() == 1) {
      ReadFaultStep(node);
      return;
    }
    if (kind == "wait" && kind_keys.size() == 1) {
      ReadWaitStep(node);
      return;
    }
    // Not a single readable kind: report what can be said about the keys.
    Fields f(node, "method step", &diagnostics_);
    f.Get("fault");
    f.Get("wait");
    f.Get("target");
    f.Get("params");
    f.Get("duration");
    for (const char* later : {"parallel", "serial", "pause"}) f.Later(later);
    if (kind_keys.empty()) {
      diagnostics_.Add(node.where, "method step needs one of fault or wait");
    }
    f.Finish();
  }

  void ReadWaitStep(const YamlNode& node) {
    Fields f(node, "wait step", &diagnostics_);
    const YamlNode* wait = f.Get("wait");
    f.Finish();
    if (auto v = ReadDuration(*wait, "wait", milliseconds(1), kMaxStepDuration,
                              DurationRange(kMaxStepDuration), &diagnostics_)) {
      Step step;
      step.kind = StepKind::kWait;
      step.where = node.where;
      step.duration = *v;
      step.label = absl::StrCat("wait ", FormatDuration(*v));
      out_->method.push_back(std::move(step));
    }
  }

  void ReadFaultStep(const YamlNode& node) {
    const size_t before = diagnostics_.size();
    const YamlNode* fault = nullptr;
    for (const auto& [key, value] : node.entries) {
      if (key.IsScalar() && key.scalar == "fault") {
        fault = &value;
        break;
      }
    }
    std::optional<std::string> kind = ReadString(*fault, "fault", &diagnostics_);
    bool known_kind = false;
    if (kind) {
      const std::vector<std::string>& supported = SupportedFaultKinds();
      known_kind = std::find(supported.begin(), supported.end(), *kind) != supported.end();
      if (!known_kind && IsLaterFaultKind(*kind)) {
        diagnostics_.Add(fault->where,
                         absl::StrCat("fault kind \"", *kind,
                                      "\" is not supported yet by this version of faultline"));
      } else if (!known_kind) {
        diagnostics_.Add(fault->where,
                         absl::StrCat("unknown fault kind ", Describe(*fault), " (known: ",
                                      absl::StrJoin(supported, ", "), ")"));
      }
    }
    const std::string step_name = known_kind ? *kind : "fault";
    Fields f(node, absl::StrCat(step_name, " step"), &diagnostics_);
    f.Get("fault");

    Step step;
    step.kind = StepKind::kFault;
    step.where = node.where;
    if (known_kind) step.fault_kind = *kind;
    const YamlNode* target = f.Get("target");
    if (target) {
      if (auto v = ReadString(*target, "target", &diagnostics_)) {
        if (!targets_declared_) {
          diagnostics_.Add(target->where,
                           absl::StrCat("unknown target ", Describe(*target),
                                        " (no targets are defined; remove target to use the "
                                        "embedded local agent)"));
        } else if (!target_names_.count(*v)) {
          diagnostics_.Add(target->where, absl::StrCat("unknown target ", Describe(*target),
                                                       " (known: ", KnownTargets(), ")"));
        } else {
          step.target = *v;
        }
      }
    } else if (targets_declared_ && !target_names_.empty()) {
      diagnostics_.Add(node.where, absl::StrCat("missing required field \"target\" in ",
                                                f.context(), " (known: ", KnownTargets(), ")"));
    }
    if (const YamlNode* duration = f.Require("duration")) {
      if (auto v = ReadDuration(*duration, absl::StrCat(step_name, ": duration"), milliseconds(1),
                                kMaxStepDuration, DurationRange(kMaxStepDuration),
                                &diagnostics_)) {
        step.duration = *v;
      }
    }
    if (const YamlNode* params = f.Require("params")) {
      if (known_kind && ExpectMapping(*params, absl::StrCat(step_name, " params"), &diagnostics_)) {
        if (std::optional<FaultParams> p =
                ReadFaultParams(*kind, *params, step.duration, &diagnostics_)) {
          step.spec = std::move(p->spec);
          step.params_summary = std::move(p->summary);
        }
      }
    }
    f.Finish();
    if (diagnostics_.size() != before) return;
    step.label = step.target.empty() ? step.fault_kind
                                     : absl::StrCat(step.fault_kind, " on ", step.target);
    out_->method.push_back(std::move(step));
  }

  std::string KnownTargets() const { return absl::StrJoin(target_names_, ", "); }

  Experiment* out_;
  Diagnostics diagnostics_;
  bool targets_declared_ = false;
  std::set<std::string> target_names_;  // every key of `targets`, even invalid ones
};

}  // namespace

const char* ProbeKindName(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kHttp: return "http";
    case ProbeKind::kTcp: return "tcp";
    case ProbeKind::kExec: return "exec";
    case ProbeKind::kPrometheus: return "prometheus";
  }
  return "unknown";
}

const char* ComparisonName(Comparison op) {
  switch (op) {
    case Comparison::kLess: return "<";
    case Comparison::kLessEqual: return "<=";
    case Comparison::kGreater: return ">";
    case Comparison::kGreaterEqual: return ">=";
    case Comparison::kEqual: return "==";
    case Comparison::kBetween: return "between";
  }
  return "unknown";
}

std::string Diagnostic::ToString() const {
  if (where.line <= 0) return absl::StrCat(where.file, ": ", message);
  return absl::StrCat(where.file, ":", where.line, ":", where.column, ": ", message);
}

absl::StatusOr<Experiment> ParseExperiment(const std::string& yaml_text,
                                           const std::string& file_name,
                                           std::vector<Diagnostic>* diagnostics) {
  Experiment experiment;
  experiment.path = file_name;
  experiment.source_text = yaml_text;
  ExperimentReader reader(&experiment);
  std::vector<Diagnostic>& found = reader.diagnostics().list();
  if (std::optional<YamlNode> root = ParseYaml(yaml_text, file_name, &found)) {
    reader.Read(*root);
  }
  if (found.empty()) return experiment;
  std::stable_sort(found.begin(), found.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
  });
  std::string message = found.front().ToString();
  if (found.size() > 1) {
    absl::StrAppend(&message, " (and ", found.size() - 1, " more problem",
                    found.size() > 2 ? "s" : "", ")");
  }
  if (diagnostics != nullptr) {
    diagnostics->insert(diagnostics->end(), found.begin(), found.end());
  }
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<Experiment> LoadExperiment(const std::string& path,
                                          std::vector<Diagnostic>* diagnostics) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::string text;
  char buffer[64 * 1024];
  while (true) {
    const size_t n = std::fread(buffer, 1, sizeof(buffer), file.get());
    text.append(buffer, n);
    if (text.size() > kMaxFileBytes) {
      Diagnostic too_big{{path, 0, 0}, "experiment file is larger than 1 MiB"};
      if (diagnostics != nullptr) diagnostics->push_back(too_big);
      return absl::InvalidArgumentError(too_big.ToString());
    }
    if (n < sizeof(buffer)) break;
  }
  if (std::ferror(file.get())) {
    const int error = errno;
    if (error == EISDIR) {
      return absl::InvalidArgumentError(absl::StrCat("read ", path, ": is a directory"));
    }
    return ErrnoToStatus(error, absl::StrCat("read ", path));
  }
  return ParseExperiment(text, path, diagnostics);
}

}  // namespace faultline::controller
