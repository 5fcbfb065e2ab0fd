#include "controller/spec/experiment.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "controller/spec/drill_reader.h"
#include "common/yaml/fields.h"
#include "controller/spec/probe_reader.h"
#include "controller/spec/rules.h"
#include "controller/spec/step_reader.h"
#include "common/yaml/yaml_tree.h"

namespace faultline::controller {
namespace {

constexpr char kApiVersion[] = "faultline/v1";

// `inventory:` is written relative to the experiment file; the plan reads it
// relative to the process, so it is joined here (lexically: parsing stays
// pure and the file may not exist yet).
std::string ResolveNextTo(const std::string& experiment_file, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (std::filesystem::path(experiment_file).parent_path() / p).lexically_normal().string();
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
    if (const YamlNode* v = f.Get("inventory")) ReadInventoryPath(*v);
    if (const YamlNode* v = f.Get("seed")) {
      if (auto seed = ReadUint64(*v, "seed", &diagnostics_)) out_->seed = *seed;
    }
    if (const YamlNode* v = f.Get("max_targets")) {
      if (auto n = ReadInt(*v, "max_targets", 1, INT32_MAX, "an integer of at least 1",
                           &diagnostics_)) {
        out_->max_targets = static_cast<int>(*n);
      }
    }
    // Targets before the method (steps refer to them), probes before
    // abort_when.
    if (const YamlNode* v = f.Get("targets")) ReadTargets(*v);
    ProbeNames probe_names;
    if (const YamlNode* v = f.Get("steady_state")) {
      ReadSteadyState(*v, &diagnostics_, &out_->steady_state, &probe_names);
    }
    if (const YamlNode* v = f.Get("abort_when")) {
      ReadAbortWhen(*v, out_->steady_state, probe_names, &diagnostics_, &out_->abort_when);
    }
    if (const YamlNode* v = f.Get("rollback")) {
      ReadRollback(*v, &diagnostics_, &out_->rollback_policy, &out_->rollback_actions);
    }
    if (const YamlNode* v = f.Get("notify")) ReadNotify(*v, &diagnostics_, out_);
    if (const YamlNode* v = f.Get("alerts")) ReadAlerts(*v, &diagnostics_, &out_->alerts);
    if (const YamlNode* v = f.Get("expect")) ReadExpect(*v, probe_names, &diagnostics_, out_);
    ReadSteps(f);
    f.Get("schedule");
    if (const YamlNode* k = f.Key("schedule")) {
      diagnostics_.Add(k->where, "\"schedule\" is not supported in an experiment: schedules "
                                 "belong in the faultline serve config (faultline serve --config "
                                 "FILE)");
    }
    f.Finish();
    if (out_->kind == "Drill" && diagnostics_.size() == 0) BuildDrillSteps(out_, &diagnostics_);
  }

 private:
  // `method` for experiments; `timeline` and `speed` for drills. With an
  // invalid kind, whichever is written is read and nothing is required.
  void ReadSteps(Fields& f) {
    const bool drill = out_->kind == "Drill";
    // No kind at all is reported once; the rest is read as an experiment.
    const bool experiment = out_->kind == "Experiment" || f.Key("kind") == nullptr;
    const YamlNode* method = f.Get("method");
    const YamlNode* timeline = f.Get("timeline");
    const YamlNode* speed = f.Get("speed");
    if (method && drill) {
      diagnostics_.Add(f.Key("method")->where,
                       "a drill's steps are its timeline: write the faults under timeline (each "
                       "with at:) instead of method");
    } else if (method) {
      ReadMethod(*method, targets_, &diagnostics_, &out_->method);
    } else if (experiment) {
      f.Require("method");
    }
    if (experiment) {
      if (timeline) {
        diagnostics_.Add(f.Key("timeline")->where,
                         "timeline is only for kind: Drill (faults at offsets from the drill's "
                         "start); an experiment lists its steps in method");
      }
      if (speed) {
        diagnostics_.Add(f.Key("speed")->where,
                         "speed is only for kind: Drill (it compresses a drill's timeline)");
      }
      return;
    }
    if (speed) ReadSpeed(*speed, &diagnostics_, &out_->speed);
    if (timeline) {
      ReadTimeline(*timeline, targets_, &diagnostics_, &out_->timeline);
    } else if (drill) {
      diagnostics_.Add(f.where(), "missing required field \"timeline\" in drill (its faults at "
                                  "their offsets: timeline: [{at: 0s, fault: ...}])");
    }
    if (drill) CheckDrillSeed();
  }

  // A drill replays the same hosts every time: a blast radius that picks
  // hosts at random needs the seed fixed in the file.
  void CheckDrillSeed() {
    if (out_->seed) return;
    std::set<std::string> used;
    for (const TimelineEntry& entry : out_->timeline) {
      used.insert(entry.step.targets.begin(), entry.step.targets.end());
    }
    for (const std::string& name : used) {
      auto it = out_->targets.find(name);
      if (it == out_->targets.end() || it->second.radius == BlastRadius::kAll) continue;
      diagnostics_.Add(it->second.where,
                       absl::StrCat("target \"", name, "\" picks ",
                                    it->second.radius == BlastRadius::kCount ? "count" : "percent",
                                    " of its hosts at random: a drill must set seed (seed: 42) "
                                    "so that every replay hits the same hosts"));
    }
  }

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
    if (*v != "Experiment" && *v != "Drill") {
      diagnostics_.Add(node.where, absl::StrCat("kind must be \"Experiment\" or \"Drill\", got ",
                                                Describe(node)));
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
    if (const YamlNode* labels = f.Get("labels")) {
      if (auto v = ReadLabels(*labels, "metadata.labels", &diagnostics_)) out_->labels = *v;
    }
    if (const YamlNode* v = f.Get("hypothesis")) {
      if (auto s = ReadString(*v, "metadata.hypothesis", &diagnostics_)) out_->hypothesis = *s;
    }
    if (const YamlNode* v = f.Get("roles")) ReadRoles(*v, &diagnostics_, &out_->roles);
    f.Finish();
  }

  void ReadInventoryPath(const YamlNode& node) {
    std::optional<std::string> v = ReadString(node, "inventory", &diagnostics_);
    if (!v) return;
    if (absl::StripAsciiWhitespace(*v).empty()) {
      diagnostics_.Add(node.where, "inventory must be the path of an inventory file (relative to "
                                   "this file), got \"\"");
      return;
    }
    out_->inventory_path = ResolveNextTo(out_->path, *v);
  }

  void ReadTargets(const YamlNode& node) {
    targets_.declared = true;
    if (!ExpectMapping(node, "targets", &diagnostics_)) return;
    Fields names(node, "targets", &diagnostics_);  // duplicate and non-string keys
    if (node.entries.empty()) {
      diagnostics_.Add(node.where, "targets must define at least one target (omit targets to "
                                   "use the embedded local agent)");
    }
    for (const auto& [key, value] : node.entries) {
      if (!key.IsScalar() || targets_.names.count(key.scalar)) continue;
      targets_.names.insert(key.scalar);
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
    const size_t before = diagnostics_.size();
    Fields f(node, context, &diagnostics_);
    Target target;
    target.name = key.scalar;
    target.where = key.where;
    const YamlNode* agents = f.Get("agents");
    const YamlNode* select = f.Get("select");
    if (!agents && !select) {
      diagnostics_.Add(node.where, absl::StrCat(context,
                                                " needs agents (addresses) or select (inventory "
                                                "labels; select: {} selects every agent)"));
    } else if (agents && select) {
      const YamlNode* second = SecondKey(f, "agents", "select");
      diagnostics_.Add(second->where, absl::StrCat("agents and select cannot be used together "
                                                   "in ",
                                                   context, "; use one"));
    }
    if (agents) ReadTargetAgents(*agents, context, &target);
    if (select) {
      if (auto v = ReadLabels(*select, absl::StrCat(context, ": select"), &diagnostics_)) {
        target.select = *v;
      }
    }
    ReadBlastRadius(f, context, agents != nullptr && select == nullptr, &target);
    f.Get("seed");
    if (const YamlNode* seed = f.Key("seed")) {
      diagnostics_.Add(seed->where, absl::StrCat("seed belongs at the top level of the "
                                                 "experiment (seed: 42), not in ",
                                                 context));
    }
    f.Finish();
    if (diagnostics_.size() == before) out_->targets.emplace(target.name, std::move(target));
  }

  void ReadTargetAgents(const YamlNode& agents, const std::string& context, Target* target) {
    const std::string field = absl::StrCat(context, ": agents");
    if (!ExpectSequence(agents, field, &diagnostics_)) return;
    if (agents.items.empty()) {
      diagnostics_.Add(agents.where, absl::StrCat(field, " must list at least one agent"));
    }
    for (size_t i = 0; i < agents.items.size(); ++i) {
      const YamlNode& item = agents.items[i];
      const std::string item_field = absl::StrCat(field, "[", i, "]");
      std::optional<std::string> address = ReadString(item, item_field, &diagnostics_);
      if (!address) continue;
      if (!IsAgentAddress(*address)) {
        diagnostics_.Add(item.where,
                         absl::StrCat(item_field,
                                      " must be host:port with port 1..65535 or unix:/path, "
                                      "got ",
                                      Describe(item)));
      } else if (std::find(target->agents.begin(), target->agents.end(), *address) !=
                 target->agents.end()) {
        diagnostics_.Add(item.where, absl::StrCat(item_field, " lists agent ", Describe(item),
                                                  " more than once"));
      } else {
        target->agents.push_back(*address);
      }
    }
  }

  // count | percent | all (at most one; all when none). `explicit_agents`:
  // the target lists agents, which a blast radius does not narrow.
  void ReadBlastRadius(Fields& f, const std::string& context, bool explicit_agents,
                       Target* target) {
    const YamlNode* count = f.Get("count");
    const YamlNode* percent = f.Get("percent");
    const YamlNode* all = f.Get("all");
    std::vector<std::string> present;
    for (const auto& [key, node] : {std::pair{"count", count}, std::pair{"percent", percent},
                                    std::pair{"all", all}}) {
      if (node) present.push_back(key);
    }
    if (present.empty()) return;
    if (present.size() > 1) {
      const YamlNode* second = SecondKey(f, present[0], present[1]);
      const std::string listed =
          present.size() == 2
              ? absl::StrCat(present[0], " and ", present[1])
              : absl::StrCat(present[0], ", ", present[1], " and ", present[2]);
      diagnostics_.Add(second->where,
                       absl::StrCat(listed, " cannot be used together in ", context, "; use one"));
    }
    if (explicit_agents) {
      diagnostics_.Add(f.Key(present[0])->where,
                       absl::StrCat(present[0], " needs select: a blast radius chooses among "
                                                "the inventory agents a selection matches, and ",
                                    context, " lists its agents"));
      return;
    }
    if (count) {
      if (auto v = ReadInt(*count, absl::StrCat(context, ": count"), 1, INT32_MAX,
                           "an integer of at least 1", &diagnostics_)) {
        target->radius = BlastRadius::kCount;
        target->count = static_cast<int>(*v);
      }
    }
    if (percent) {
      if (auto v = ReadNumber(*percent, absl::StrCat(context, ": percent"), 0, true, 100,
                              "a number greater than 0 and at most 100", &diagnostics_)) {
        target->radius = BlastRadius::kPercent;
        target->percent = *v;
      }
    }
    if (all) {
      std::optional<bool> v = ReadBool(*all, absl::StrCat(context, ": all"), &diagnostics_);
      if (v && !*v) {
        diagnostics_.Add(all->where, absl::StrCat(context,
                                                  ": all must be true (omit it, or use count or "
                                                  "percent), got false"));
      }
    }
  }

  // Of two present keys, the one written second (where a conflict is
  // reported).
  static const YamlNode* SecondKey(const Fields& f, absl::string_view a, absl::string_view b) {
    const YamlNode* ka = f.Key(a);
    const YamlNode* kb = f.Key(b);
    return std::tie(ka->where.line, ka->where.column) < std::tie(kb->where.line, kb->where.column)
               ? kb
               : ka;
  }

  Experiment* out_;
  Diagnostics diagnostics_;
  DeclaredTargets targets_;
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

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kFault: return "fault";
    case StepKind::kWait: return "wait";
    case StepKind::kParallel: return "parallel";
    case StepKind::kSerial: return "serial";
    case StepKind::kPause: return "pause";
  }
  return "unknown";
}

const char* RollbackPolicyName(RollbackPolicy policy) {
  switch (policy) {
    case RollbackPolicy::kAlways: return "always";
    case RollbackPolicy::kOnDeviation: return "on-deviation";
    case RollbackPolicy::kNeverForKills: return "never-for-kills";
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
  FL_RETURN_IF_ERROR(FinishDiagnostics(found, diagnostics));
  return experiment;
}

absl::StatusOr<Experiment> LoadExperiment(const std::string& path,
                                          std::vector<Diagnostic>* diagnostics) {
  FL_ASSIGN_OR_RETURN(std::string text, ReadYamlFile(path, "experiment", diagnostics));
  return ParseExperiment(text, path, diagnostics);
}

}  // namespace faultline::controller
