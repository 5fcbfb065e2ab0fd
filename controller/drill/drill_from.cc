#include "controller/drill/drill_from.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/units.h"
#include "controller/spec/drill.h"
#include "controller/spec/experiment.h"
#include "controller/spec/rules.h"
#include "yaml-cpp/yaml.h"

namespace faultline::controller {
namespace {

constexpr char kReplaySuffix[] = "-replay";
// Top-level sections of the source that the replay keeps as written.
constexpr const char* kCopiedSections[] = {"steady_state", "abort_when", "rollback",
                                           "expect",       "alerts",     "notify"};
constexpr const char* kCopiedMetadata[] = {"owner", "runbook", "hypothesis", "roles", "labels"};

// One fault step of the source run as the journal saw it.
struct AppliedStep {
  std::string path;
  int64_t first_applied_unix_ms = 0;
  // target group -> host names; empty for faults on the embedded agent
  std::map<std::string, std::set<std::string>> hosts;
};

// Emits `node` keeping flow/block style and which scalars were quoted
// (yaml-cpp forgets the quotes, and a quoted "5" is a string, not a number).
void Emit(const YAML::Node& node, YAML::Emitter* out) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      if (node.Style() == YAML::EmitterStyle::Flow) *out << YAML::Flow;
      *out << YAML::BeginMap;
      for (const auto& entry : node) {
        *out << YAML::Key;
        Emit(entry.first, out);
        *out << YAML::Value;
        Emit(entry.second, out);
      }
      *out << YAML::EndMap;
      return;
    case YAML::NodeType::Sequence:
      if (node.Style() == YAML::EmitterStyle::Flow) *out << YAML::Flow;
      *out << YAML::BeginSeq;
      for (const auto& item : node) Emit(item, out);
      *out << YAML::EndSeq;
      return;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") *out << YAML::DoubleQuoted;
      *out << node.Scalar();
      return;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: *out << YAML::Null; return;
  }
}

// "key: value" for a copied section, as block text ending in a newline.
std::string EmitEntry(const std::string& key, const YAML::Node& value) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << key << YAML::Value;
  Emit(value, &out);
  out << YAML::EndMap;
  return absl::StrCat(out.c_str(), "\n");
}

std::string Indent(const std::string& text, const std::string& prefix) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    absl::StrAppend(&out, prefix, line, "\n");
  }
  return out;
}

// A YAML double-quoted string (JSON's escapes are YAML's).
std::string Quoted(const std::string& s) { return nlohmann::json(s).dump(); }

std::string ReplayName(const std::string& experiment) {
  std::string base = experiment.empty() ? "run" : experiment;
  const size_t room = kMaxNameLength - (sizeof(kReplaySuffix) - 1);
  if (base.size() > room) base.resize(room);
  while (!base.empty() && base.back() == '-') base.pop_back();
  return absl::StrCat(base, kReplaySuffix);
}

// The fault step at journal path `path` ("2.1.3", 1-based) in the source
// file: method steps (through parallel/serial) for an experiment; for a
// drill, the timeline entry the built method's branch "1.<k>" came from.
absl::StatusOr<YAML::Node> SourceStep(const YAML::Node& root, bool drill, const std::string& path) {
  std::vector<int> index;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    int i = 0;
    if (!absl::SimpleAtoi(part, &i) || i < 1) {
      return absl::DataLossError(absl::StrCat("step path \"", path, "\" is malformed"));
    }
    index.push_back(i - 1);
  }
  const auto missing = [&] {
    return absl::DataLossError(
        absl::StrCat("step ", path, " is not in the experiment file the run recorded"));
  };
  if (drill) {
    const YAML::Node timeline = root["timeline"];
    if (index.size() < 2 || !timeline.IsSequence() ||
        static_cast<size_t>(index[1]) >= timeline.size()) {
      return missing();
    }
    return timeline[index[1]];
  }
  YAML::Node list = root["method"];
  for (size_t depth = 0; depth < index.size(); ++depth) {
    if (!list.IsSequence() || static_cast<size_t>(index[depth]) >= list.size()) return missing();
    YAML::Node step = list[index[depth]];
    if (depth + 1 == index.size()) {
      if (!step.IsMap() || !step["fault"]) return missing();
      return step;
    }
    if (!step.IsMap()) return missing();
    // reset(), not =: assigning to a yaml-cpp node overwrites the node it refers to.
    list.reset(step["parallel"] ? step["parallel"] : step["serial"]);
  }
  return missing();
}

double SourceSpeed(const YAML::Node& root, const std::vector<Event>& events) {
  for (const Event& e : events) {
    if (e.type == "run.started" && e.data.is_object() && e.data.contains("speed") &&
        e.data["speed"].is_number() && e.data["speed"].get<double>() > 0) {
      return e.data["speed"].get<double>();
    }
  }
  if (root["speed"] && root["speed"].IsScalar()) {
    absl::StatusOr<double> speed = ParseSpeed(root["speed"].Scalar());
    if (speed.ok()) return *speed;
  }
  return 1;
}

std::string JsonString(const nlohmann::json& data, const char* key) {
  if (!data.is_object() || !data.contains(key) || !data[key].is_string()) return "";
  return data[key].get<std::string>();
}

}  // namespace

absl::StatusOr<std::string> DrillFromRun(const RunRecord& run, const std::vector<Event>& events) {
  // What happened: the method's start, the faults applied, the hosts.
  std::optional<int64_t> method_start;
  std::optional<uint64_t> seed;
  std::map<std::string, std::string> address_of;     // host name -> agent address
  std::map<std::string, AppliedStep> steps;          // by path
  std::map<std::string, int64_t> planned_offset_ms;  // by path, from the plan
  for (const Event& e : events) {
    if (e.type == "step.started" && !method_start) method_start = e.unix_ms;
    if (e.type == "plan" && e.data.is_object()) {
      if (e.data.contains("seed") && e.data["seed"].is_number_unsigned()) {
        seed = e.data["seed"].get<uint64_t>();
      }
      if (e.data.contains("faults") && e.data["faults"].is_array()) {
        for (const nlohmann::json& fault : e.data["faults"]) {
          if (fault.is_object() && fault.contains("offset_ms") && fault["offset_ms"].is_number()) {
            planned_offset_ms[JsonString(fault, "path")] = fault["offset_ms"].get<int64_t>();
          }
        }
      }
      if (e.data.contains("hosts") && e.data["hosts"].is_array()) {
        for (const nlohmann::json& host : e.data["hosts"]) {
          address_of[JsonString(host, "name")] = JsonString(host, "address");
        }
      }
    }
    if (e.type != "fault.applied") continue;
    const std::string path = JsonString(e.data, "path");
    const std::string target = JsonString(e.data, "target");
    const std::string agent = JsonString(e.data, "agent");
    if (path.empty()) continue;
    AppliedStep& step = steps[path];
    if (step.path.empty() || e.unix_ms < step.first_applied_unix_ms) {
      step.first_applied_unix_ms = e.unix_ms;
    }
    step.path = path;
    if (target != "local" && agent != "local") step.hosts[target].insert(agent);
  }
  if (steps.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("run ", run.run_id, " applied no fault",
                                                      run.dry_run ? " (a dry run)" : "",
                                                      "; there is nothing to replay"));
  }

  YAML::Node root;
  try {
    root = YAML::Load(run.source_text);
  } catch (const YAML::Exception& e) {
    return absl::DataLossError(absl::StrCat(
        "run ", run.run_id, ": the recorded experiment is not valid YAML: ", e.what()));
  }
  if (!root.IsMap()) {
    return absl::DataLossError(
        absl::StrCat("run ", run.run_id, ": the recorded experiment is not a YAML mapping"));
  }
  const bool source_drill =
      root["kind"] && root["kind"].IsScalar() && root["kind"].Scalar() == "Drill";
  const double speed = SourceSpeed(root, events);

  std::vector<const AppliedStep*> order;
  for (const auto& [path, step] : steps) order.push_back(&step);
  std::stable_sort(order.begin(), order.end(), [](const AppliedStep* a, const AppliedStep* b) {
    return a->first_applied_unix_ms < b->first_applied_unix_ms;
  });
  // Offsets keep the spacing the faults really had, anchored where the plan
  // put the first one: the latency from the method's start to the first
  // apply is not added again on every replay. Without a plan offset, the
  // method's start is the anchor.
  const AppliedStep& first = *order.front();
  auto planned = planned_offset_ms.find(first.path);
  const int64_t start = planned != planned_offset_ms.end()
                            ? first.first_applied_unix_ms - planned->second
                            : method_start.value_or(first.first_applied_unix_ms);

  // Targets: the hosts each group actually had faults on.
  std::map<std::string, std::set<std::string>> groups;
  for (const AppliedStep* step : order) {
    for (const auto& [group, hosts] : step->hosts) groups[group].insert(hosts.begin(), hosts.end());
  }

  std::string text = absl::StrCat(
      "# Written by faultline drill-from ", run.run_id,
      ": replays that run with the same hosts, offsets, parameters and seed.\n",
      "apiVersion: faultline/v1\nkind: Drill\nmetadata:\n  name: ", ReplayName(run.experiment),
      "\n  description: ",
      Quoted(absl::StrCat(
          "Replay of run ", run.run_id, " of ", run.experiment, " (started ",
          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(run.started_unix_ms),
                           absl::UTCTimeZone()),
          ")")),
      "\n");
  const YAML::Node metadata = root["metadata"];
  if (metadata.IsMap()) {
    for (const char* key : kCopiedMetadata) {
      if (metadata[key]) absl::StrAppend(&text, Indent(EmitEntry(key, metadata[key]), "  "));
    }
  }
  if (seed) absl::StrAppend(&text, "seed: ", *seed, "\n");
  if (speed != 1) absl::StrAppend(&text, "speed: ", FormatSpeed(speed), "\n");
  if (!groups.empty()) {
    absl::StrAppend(&text, "targets:\n");
    for (const auto& [group, hosts] : groups) {
      std::vector<std::string> addresses, names;
      for (const std::string& host : hosts) {
        auto it = address_of.find(host);
        const std::string address =
            it != address_of.end() && !it->second.empty() ? it->second : host;
        addresses.push_back(Quoted(address));
        if (address != host) names.push_back(host);
      }
      absl::StrAppend(&text, "  ", group, ": {agents: [", absl::StrJoin(addresses, ", "), "]}");
      if (!names.empty()) absl::StrAppend(&text, "  # ", absl::StrJoin(names, ", "));
      absl::StrAppend(&text, "\n");
    }
  }
  for (const char* key : kCopiedSections) {
    if (root[key]) absl::StrAppend(&text, EmitEntry(key, root[key]));
  }

  absl::StrAppend(&text, "timeline:\n");
  for (const AppliedStep* step : order) {
    absl::StatusOr<YAML::Node> source = SourceStep(root, source_drill, step->path);
    if (!source.ok()) {
      return absl::DataLossError(absl::StrCat("run ", run.run_id, ": ", source.status().message()));
    }
    const int64_t offset_ms = std::llround(
        static_cast<double>(std::max<int64_t>(0, step->first_applied_unix_ms - start)) * speed);
    YAML::Emitter out;
    out << YAML::BeginSeq << YAML::BeginMap;
    out << YAML::Key << "at" << YAML::Value
        << FormatDuration(std::chrono::milliseconds(offset_ms));
    out << YAML::Key << "fault" << YAML::Value;
    Emit((*source)["fault"], &out);
    if (step->hosts.size() == 1) {
      out << YAML::Key << "target" << YAML::Value << step->hosts.begin()->first;
    } else if (step->hosts.size() > 1) {
      out << YAML::Key << "target" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& [group, hosts] : step->hosts) out << group;
      out << YAML::EndSeq;
    }
    for (const auto& entry : *source) {
      const std::string key = entry.first.Scalar();
      if (key == "at" || key == "fault" || key == "target") continue;
      out << YAML::Key << key << YAML::Value;
      Emit(entry.second, &out);
    }
    out << YAML::EndMap << YAML::EndSeq;
    absl::StrAppend(&text, "  # step ", step->path, " of the run");
    std::set<std::string> hosts;
    for (const auto& [group, names] : step->hosts) hosts.insert(names.begin(), names.end());
    if (!hosts.empty()) absl::StrAppend(&text, ", on ", absl::StrJoin(hosts, ", "));
    absl::StrAppend(&text, "\n", Indent(out.c_str(), "  "));
  }

  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> check = ParseExperiment(text, "drill-from", &diagnostics);
  if (!check.ok()) {
    return absl::InternalError(absl::StrCat("the replay drill of run ", run.run_id,
                                            " does not parse: ", check.status().message()));
  }
  return text;
}

}  // namespace faultline::controller
