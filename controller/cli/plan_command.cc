#include "controller/cli/plan_command.h"

#include <algorithm>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/program_options.hpp"
#include "common/logging.h"
#include "common/status.h"
#include "common/units.h"
#include "controller/cli/cli_common.h"
#include "controller/run/agent_client.h"
#include "controller/run/runner.h"

namespace po = boost::program_options;

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kEmbeddedHost[] = "local (embedded)";

const char* SeedSourceName(SeedSource source) {
  switch (source) {
    case SeedSource::kFlag:
      return "flag";
    case SeedSource::kExperiment:
      return "experiment";
    case SeedSource::kRandom:
      return "random";
  }
  return "random";
}

// "agent web-1 (127.0.0.1:7431): capabilities: connection refused" says the
// host twice in a table that already names it; keep what follows.
std::string ShortError(const absl::Status& status, milliseconds deadline) {
  if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::StrCat("no answer within ", FormatDuration(deadline));
  }
  std::string message(status.message());
  for (const std::string marker : {"capabilities: ", "apply: "}) {
    size_t at = message.find(marker);
    if (at != std::string::npos) return message.substr(at + marker.size());
  }
  return message;
}

std::string When(milliseconds at, bool upper_bound) {
  return absl::StrCat(upper_bound ? "<=" : "", FormatDuration(at));
}

std::string ParamsText(const Step& step) {
  // The summary already spells a ramp ("load=30..70 steps=4"); not a flap.
  std::string text = step.params_summary;
  if (step.flap) {
    absl::StrAppend(&text, text.empty() ? "" : "; ", "flap ", FormatDuration(step.flap->on),
                    " on / ", FormatDuration(step.flap->off), " off");
  }
  return text;
}

std::string StepLabel(const Step& step) {
  switch (step.kind) {
    case StepKind::kPause:
      return absl::StrCat("pause \"", step.message, "\" (on timeout: ",
                          step.on_timeout == PauseTimeout::kAbort ? "abort" : "continue", ")");
    case StepKind::kWait:
      return absl::StrCat("wait ", FormatDuration(step.duration));
    case StepKind::kParallel:
    case StepKind::kSerial:
      return absl::StrCat(StepKindName(step.kind), " (", step.steps.size(), ")");
    case StepKind::kFault:
      if (!step.label.empty()) return step.label;
      if (step.targets.empty()) return step.fault_kind;
      return absl::StrCat(step.fault_kind, " on ", absl::StrJoin(step.targets, ","));
  }
  return step.label;
}

// A fault's verdict for one host: "ok" / "unavailable" / "unreachable" /
// "not checked" / "decided at run", and the engine or the reason.
nlohmann::json FaultVerdict(const Step& step, const PlannedFault& fault, const HostCheck* check) {
  nlohmann::json out;
  if (fault.agent == kEmbeddedAgent) {
    out["status"] = "decided at run";
    out["engine"] = "decided at run";
    return out;
  }
  if (check == nullptr || !check->checked) {
    out["status"] = "not checked";
    out["engine"] = "not checked";
    return out;
  }
  if (!check->reachable) {
    out["status"] = "unreachable";
    out["engine"] = absl::StrCat("unreachable: ", check->error);
    out["reason"] = check->error;
    return out;
  }
  EngineChoice choice = ChooseEngine(check->capabilities, step.fault_kind, PinnedEngine(step.spec));
  if (!choice.available) {
    out["status"] = "unavailable";
    out["engine"] = absl::StrCat("unavailable: ", choice.reason);
    out["reason"] = choice.reason;
    return out;
  }
  // The agent's own verdict on a dry run of this fault (every ramp phase).
  const std::string& id = fault.request.fault_id();
  for (const PreflightResult& dry_run : check->dry_runs) {
    if (dry_run.status.ok()) continue;
    if (dry_run.fault_id != id && dry_run.fault_id.rfind(id + ".", 0) != 0) continue;
    const std::string reason = ShortError(dry_run.status, milliseconds(0));
    out["status"] = IsRefusal(dry_run.status) ? "refused" : "rejected";
    out["engine"] = absl::StrCat(out["status"].get<std::string>(), ": ", reason);
    out["reason"] = reason;
    out["code"] = absl::StatusCodeToString(dry_run.status.code());
    return out;
  }
  out["status"] = "ok";
  out["engine"] = choice.engine;
  return out;
}

struct Tally {
  int faults = 0;
  int runnable = 0;  // ok or decided at run
  int unchecked = 0;
  std::vector<std::string> unavailable;  // "web-2: network.delay (reason)"
  std::vector<std::string> refused;      // same, refused or rejected by the agent
};

nlohmann::json StepToJson(const PlannedStep& planned, const Plan& plan,
                          const std::vector<HostCheck>& checks, Tally* tally) {
  const Step& step = *planned.step;
  nlohmann::json out = {{"path", planned.path},
                        {"kind", StepKindName(step.kind)},
                        {"label", StepLabel(step)},
                        {"offset_ms", planned.offset.count()},
                        {"offset_is_upper_bound", planned.offset_is_upper_bound},
                        {"duration_ms", planned.duration.count()},
                        {"duration_is_upper_bound", planned.duration_is_upper_bound}};
  if (step.kind == StepKind::kPause) {
    out["message"] = step.message;
    out["on_timeout"] = step.on_timeout == PauseTimeout::kAbort ? "abort" : "continue";
  }
  if (step.kind == StepKind::kFault) {
    out["fault"] = step.fault_kind;
    out["targets"] = step.targets;
    out["params"] = ParamsText(step);
    if (std::string pinned = PinnedEngine(step.spec); !pinned.empty()) out["pinned_engine"] = pinned;
    if (step.ramp) {
      out["ramp"] = {{"param", step.ramp->param},
                     {"steps", step.ramp->specs.size()},
                     {"summaries", step.ramp->summaries}};
    }
    if (step.flap) {
      out["flap"] = {{"on_ms", step.flap->on.count()}, {"off_ms", step.flap->off.count()}};
    }
    nlohmann::json faults = nlohmann::json::array();
    for (const PlannedFault& fault : planned.faults) {
      const HostCheck* check = nullptr;
      for (const HostCheck& c : checks) {
        if (c.host.name == fault.agent) check = &c;
      }
      nlohmann::json verdict = FaultVerdict(step, fault, check);
      const bool embedded = fault.agent == kEmbeddedAgent;
      nlohmann::json entry = {{"id", fault.request.fault_id()},
                              {"host", embedded ? kEmbeddedHost : fault.agent},
                              {"address", AddressOf(plan, fault.agent)},
                              {"embedded", embedded},
                              {"group", fault.group}};
      entry.update(verdict);
      ++tally->faults;
      const std::string status = verdict["status"];
      if (status == "ok" || status == "decided at run") {
        ++tally->runnable;
      } else if (status == "not checked") {
        ++tally->unchecked;
      } else if (status == "unavailable") {
        tally->unavailable.push_back(absl::StrCat(fault.agent, ": ", step.fault_kind, " (",
                                                  verdict["reason"].get<std::string>(), ")"));
      } else if (status == "refused" || status == "rejected") {
        tally->refused.push_back(absl::StrCat(fault.agent, ": ", step.fault_kind, " (",
                                              verdict["reason"].get<std::string>(), ")"));
      }
      faults.push_back(std::move(entry));
    }
    out["faults"] = std::move(faults);
  }
  if (!planned.children.empty()) {
    nlohmann::json children = nlohmann::json::array();
    for (const PlannedStep& child : planned.children) {
      children.push_back(StepToJson(child, plan, checks, tally));
    }
    out["steps"] = std::move(children);
  }
  return out;
}

// Pads every column but the last to its widest cell.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i + 1 < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

void StepRows(const nlohmann::json& step, int depth, std::vector<std::vector<std::string>>* rows) {
  const std::string at = When(milliseconds(step["offset_ms"].get<int64_t>()),
                              step["offset_is_upper_bound"].get<bool>());
  const std::string length = When(milliseconds(step["duration_ms"].get<int64_t>()),
                                  step["duration_is_upper_bound"].get<bool>());
  const std::string what = std::string(2 * depth, ' ') + step["label"].get<std::string>();
  const std::string path = step["path"];
  if (step.contains("faults")) {
    bool first = true;
    for (const nlohmann::json& fault : step["faults"]) {
      std::string address = fault["address"];
      rows->push_back({first ? path : "", first ? at : "", first ? length : "",
                       first ? what : "", fault["host"], address.empty() ? "-" : address,
                       fault["engine"], first ? step["params"].get<std::string>() : ""});
      first = false;
    }
  } else {
    rows->push_back({path, at, length, what});
  }
  if (step.contains("steps")) {
    for (const nlohmann::json& child : step["steps"]) StepRows(child, depth + 1, rows);
  }
}

uint64_t RandomSeed() {
  std::random_device random;
  return (uint64_t{random()} << 32) ^ random();
}

}  // namespace

absl::StatusOr<std::optional<Inventory>> ResolveInventory(const Experiment& experiment,
                                                          const std::string& inventory_flag,
                                                          std::vector<Diagnostic>* diagnostics) {
  const std::string& path = inventory_flag.empty() ? experiment.inventory_path : inventory_flag;
  if (path.empty()) return std::optional<Inventory>();
  absl::StatusOr<Inventory> inventory = LoadInventory(path, diagnostics);
  if (!inventory.ok()) return inventory.status();
  return std::optional<Inventory>(*std::move(inventory));
}

absl::StatusOr<RunPreparation> PrepareRun(Experiment* experiment,
                                          const std::string& inventory_flag,
                                          std::optional<uint64_t> seed_flag,
                                          std::vector<Diagnostic>* diagnostics) {
  RunPreparation prepared;
  FL_ASSIGN_OR_RETURN(prepared.inventory,
                      ResolveInventory(*experiment, inventory_flag, diagnostics));
  if (seed_flag) experiment->seed = *seed_flag;
  prepared.default_seed = RandomSeed();
  PlanOptions options;
  options.inventory = prepared.inventory ? &*prepared.inventory : nullptr;
  options.default_seed = prepared.default_seed;
  FL_ASSIGN_OR_RETURN(Plan plan, MakePlan(*experiment, "check", options));
  prepared.uses_embedded_agent = plan.uses_embedded_agent;
  prepared.hosts = static_cast<int>(plan.hosts.size());
  return prepared;
}

std::string PinnedEngine(const v1::FaultSpec& spec) {
  switch (spec.kind_case()) {
    case v1::FaultSpec::kNetworkDelay:
      return spec.network_delay().target().engine();
    case v1::FaultSpec::kNetworkLoss:
      return spec.network_loss().target().engine();
    case v1::FaultSpec::kNetworkDuplicate:
      return spec.network_duplicate().target().engine();
    case v1::FaultSpec::kNetworkCorrupt:
      return spec.network_corrupt().target().engine();
    case v1::FaultSpec::kNetworkBandwidth:
      return spec.network_bandwidth().target().engine();
    case v1::FaultSpec::kNetworkPartition:
      return spec.network_partition().target().engine();
    default:
      return "";
  }
}

EngineChoice ChooseEngine(const v1::CapabilitiesResponse& capabilities, const std::string& kind,
                          const std::string& pinned_engine) {
  EngineChoice choice;
  for (const v1::KindCapability& offered : capabilities.kinds()) {
    if (offered.kind() != kind) continue;
    if (!offered.available()) {
      choice.reason = offered.reason().empty() ? "the agent cannot run it here" : offered.reason();
      return choice;
    }
    if (pinned_engine.empty()) {
      choice.available = true;
      choice.engine = offered.engines().empty() ? "default" : offered.engines(0);
      return choice;
    }
    if (std::find(offered.engines().begin(), offered.engines().end(), pinned_engine) !=
        offered.engines().end()) {
      choice.available = true;
      choice.engine = pinned_engine;
      return choice;
    }
    choice.reason = absl::StrCat("pinned engine ", pinned_engine, " not offered (offers: ",
                                 absl::StrJoin(offered.engines(), ", "), ")");
    return choice;
  }
  choice.reason = absl::StrCat("agent ", capabilities.agent_version(), " does not know ", kind);
  return choice;
}

std::vector<HostCheck> CheckHosts(const Plan& plan, milliseconds deadline, const AgentTls& tls) {
  std::vector<HostCheck> checks(plan.hosts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < plan.hosts.size(); ++i) {
    checks[i].host = plan.hosts[i];
    if (plan.hosts[i].name == kEmbeddedAgent) continue;
    // One thread per host: every call carries its own gRPC deadline, so the
    // whole check takes about one deadline however many hosts hang.
    threads.emplace_back([&plan, &check = checks[i], deadline, &tls] {
      const auto start = SteadyClock::now();
      AgentClient client(check.host.name, check.host.address, deadline,
                         tls.For(check.host.name, check.host.address));
      absl::StatusOr<v1::CapabilitiesResponse> answer = client.Connect();
      check.checked = true;
      check.elapsed = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
      if (answer.ok()) {
        check.reachable = true;
        check.capabilities = *std::move(answer);
        const std::string& name = check.host.name;
        // A run id of its own per check: valid on the agent, and no lease
        // or fault of a real run can share it.
        check.dry_runs = DryRunPlan(
            plan, [&](const std::string& agent) { return agent == name ? &client : nullptr; },
            1, absl::StrCat("plan-", absl::Hex(RandomSeed())));
      } else {
        check.error = ShortError(answer.status(), deadline);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  return checks;
}

nlohmann::json PlanToJson(const Experiment& experiment, const Plan& plan,
                          const std::vector<HostCheck>& checks, SeedSource seed_source,
                          const Inventory* inventory) {
  nlohmann::json hosts = nlohmann::json::array();
  int reachable = 0;
  std::vector<std::string> unreachable;
  for (const HostCheck& check : checks) {
    const bool embedded = check.host.name == kEmbeddedAgent;
    nlohmann::json host = {{"name", embedded ? kEmbeddedHost : check.host.name},
                           {"address", check.host.address},
                           {"embedded", embedded},
                           {"labels", check.host.labels}};
    if (embedded) {
      host["status"] = "embedded";
    } else if (!check.checked) {
      host["status"] = "not checked";
    } else if (check.reachable) {
      ++reachable;
      host["status"] = "ok";
      host["agent_version"] = check.capabilities.agent_version();
      host["hostname"] = check.capabilities.hostname();
      host["kernel"] = check.capabilities.kernel();
      host["elapsed_ms"] = check.elapsed.count();
    } else {
      unreachable.push_back(check.host.name);
      host["status"] = "unreachable";
      host["error"] = check.error;
      host["elapsed_ms"] = check.elapsed.count();
    }
    hosts.push_back(std::move(host));
  }
  Tally tally;
  nlohmann::json steps = nlohmann::json::array();
  for (const PlannedStep& step : plan.steps) steps.push_back(StepToJson(step, plan, checks, &tally));
  const bool ok = unreachable.empty() && tally.unavailable.empty() && tally.refused.empty();
  nlohmann::json inventory_json = nullptr;
  if (inventory != nullptr) {
    inventory_json = {{"path", inventory->path},
                      {"agents", inventory->agents.size()},
                      {"max_targets", inventory->max_targets}};
  }
  return {{"experiment", experiment.name},
          {"file", experiment.path},
          {"seed", plan.seed},
          {"seed_source", SeedSourceName(seed_source)},
          {"inventory", inventory_json},
          {"max_targets", plan.max_targets},
          {"duration_ms", plan.duration.count()},
          {"duration_is_upper_bound", plan.duration_is_upper_bound},
          {"hosts", std::move(hosts)},
          {"steps", std::move(steps)},
          {"summary",
           {{"hosts", checks.size()},
            {"reachable", reachable},
            {"unreachable", unreachable},
            {"faults", tally.faults},
            {"runnable", tally.runnable},
            {"not_checked", tally.unchecked},
            {"unavailable", tally.unavailable},
            {"refused", tally.refused}}},
          {"ok", ok}};
}

std::string PlanToText(const Experiment& experiment, const Plan& plan,
                       const std::vector<HostCheck>& checks, SeedSource seed_source,
                       const Inventory* inventory) {
  const nlohmann::json doc = PlanToJson(experiment, plan, checks, seed_source, inventory);
  std::ostringstream out;
  out << "experiment  " << experiment.name << " (" << experiment.path << ")\n";
  const bool chooses =
      std::any_of(experiment.targets.begin(), experiment.targets.end(),
                  [](const auto& entry) { return entry.second.radius != BlastRadius::kAll; });
  out << "seed        " << plan.seed;
  switch (seed_source) {
    case SeedSource::kFlag:
      out << " (--seed)\n";
      break;
    case SeedSource::kExperiment:
      out << " (from the experiment)\n";
      break;
    case SeedSource::kRandom:
      if (chooses) {
        out << " (random: a run draws its own; pass --seed " << plan.seed
            << " to run on these hosts)\n";
      } else {
        out << " (unused: no target picks by count or percent)\n";
      }
      break;
  }
  if (inventory != nullptr) {
    out << "inventory   " << inventory->path << " (" << inventory->agents.size() << " agents)\n";
  }
  out << "max_targets "
      << (plan.max_targets > 0 ? std::to_string(plan.max_targets) : std::string("none")) << "\n";
  out << "\n";

  std::vector<std::vector<std::string>> host_rows = {{"HOST", "ADDRESS", "LABELS", "AGENT"}};
  for (const nlohmann::json& host : doc["hosts"]) {
    std::vector<std::string> labels;
    for (const auto& [key, value] : host["labels"].items()) {
      labels.push_back(absl::StrCat(key, "=", value.get<std::string>()));
    }
    std::string status = host["status"];
    std::string agent;
    if (status == "ok") {
      agent = absl::StrCat("ok (faultline-agent ", host["agent_version"].get<std::string>(), " on ",
                           host["hostname"].get<std::string>(), ", ",
                           host["elapsed_ms"].get<int64_t>(), " ms)");
    } else if (status == "unreachable") {
      agent = absl::StrCat("unreachable: ", host["error"].get<std::string>());
    } else if (status == "embedded") {
      agent = "started by faultline run";
    } else {
      agent = status;
    }
    std::string address = host["address"];
    host_rows.push_back({host["name"], address.empty() ? "-" : address,
                         labels.empty() ? "-" : absl::StrJoin(labels, ","), agent});
  }
  out << Table(host_rows) << "\n";

  std::vector<std::vector<std::string>> rows = {
      {"STEP", "AT", "FOR", "WHAT", "HOST", "ADDRESS", "ENGINE", "PARAMS"}};
  for (const nlohmann::json& step : doc["steps"]) StepRows(step, 0, &rows);
  out << Table(rows) << "\n";
  out << "method lasts " << When(plan.duration, plan.duration_is_upper_bound) << "\n";

  const nlohmann::json& summary = doc["summary"];
  const auto& unreachable = summary["unreachable"];
  const auto& unavailable = summary["unavailable"];
  const int hosts = summary["hosts"];
  const int checked_hosts = hosts - (plan.uses_embedded_agent ? 1 : 0);
  out << "summary: " << hosts << (hosts == 1 ? " host" : " hosts")
      << (plan.uses_embedded_agent ? " (1 embedded)" : "");
  if (summary["not_checked"].get<int>() > 0) {
    out << ", agents not asked";
  } else if (checked_hosts > 0) {
    out << ", " << summary["reachable"].get<int>() << " of " << checked_hosts
        << (checked_hosts == 1 ? " agent" : " agents") << " reachable";
  }
  if (!unreachable.empty()) {
    out << ", unreachable: " << absl::StrJoin(unreachable.get<std::vector<std::string>>(), ", ");
  }
  const int faults = summary["faults"];
  out << "; " << faults << (faults == 1 ? " fault, " : " faults, ");
  if (summary["not_checked"].get<int>() > 0) {
    out << "engines not checked";
  } else {
    out << summary["runnable"].get<int>() << " can run";
  }
  if (!unavailable.empty()) {
    out << ", unavailable: " << absl::StrJoin(unavailable.get<std::vector<std::string>>(), "; ");
  }
  if (const auto& refused = summary["refused"]; !refused.empty()) {
    out << ", refused by the host: "
        << absl::StrJoin(refused.get<std::vector<std::string>>(), "; ");
  }
  if (!doc["ok"].get<bool>()) {
    out << " -> NOT ready (exit 3)\n";
  } else {
    out << (summary["not_checked"].get<int>() > 0 ? " -> plan ok\n" : " -> ready\n");
  }
  return out.str();
}

int PlanCommand(const std::vector<std::string>& args) {
  std::string file, inventory_flag, log_level = "warn", agent_timeout_text = "2s";
  uint64_t seed_flag = 0;
  bool json = false, no_agents = false;
  TlsFiles tls_flags;
  po::options_description options("plan options");
  options.add_options()
      ("file", po::value(&file), "experiment file")
      ("inventory", po::value(&inventory_flag),
       "inventory file (wins over the experiment's inventory:)")
      ("seed", po::value(&seed_flag), "blast-radius seed (wins over the experiment's seed:)")
      ("json", po::bool_switch(&json), "print the plan as one JSON document")
      ("no-agents", po::bool_switch(&no_agents), "do not ask the agents (engines not checked)")
      ("agent-timeout", po::value(&agent_timeout_text)->default_value("2s"),
       "deadline of each call to an agent (capabilities, dry runs)")
      ("log-level", po::value(&log_level)->default_value("warn"), "trace|debug|info|warn|error")
      ("help,h", "show help");
  options.add(TlsOptions(&tls_flags));
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "faultline: " << e.what() << "\n";
    return kExitInvalid;
  }
  if (vm.count("help") || file.empty()) {
    std::cout << "usage: faultline plan FILE [--inventory FILE] [--seed N] [--json] "
                 "[--no-agents] [--agent-timeout 2s]\n"
              << options
              << "exit codes: 0 every host can run its faults, 2 invalid input or plan refused "
                 "(max_targets), 3 some host unreachable or unable to run its fault\n";
    return file.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  if (absl::Status s = InitLogging("faultline", log_level, "text"); !s.ok()) {
    std::cerr << "faultline: " << s.message() << "\n";
    return kExitInvalid;
  }
  absl::StatusOr<milliseconds> agent_timeout = ParseDuration(agent_timeout_text);
  if (!agent_timeout.ok() || agent_timeout->count() <= 0) {
    std::cerr << "faultline: --agent-timeout must be a positive duration such as 2s\n";
    return kExitInvalid;
  }

  auto print_problems = [](const std::string& what, const absl::Status& status,
                           const std::vector<Diagnostic>& diagnostics) {
    if (diagnostics.empty()) std::cerr << what << ": " << status.message() << "\n";
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
  };
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> experiment = LoadExperiment(file, &diagnostics);
  if (!experiment.ok()) {
    print_problems(file, experiment.status(), diagnostics);
    return kExitInvalid;
  }
  absl::StatusOr<std::optional<Inventory>> inventory =
      ResolveInventory(*experiment, inventory_flag, &diagnostics);
  if (!inventory.ok()) {
    print_problems(inventory_flag.empty() ? experiment->inventory_path : inventory_flag,
                   inventory.status(), diagnostics);
    return kExitInvalid;
  }
  const Inventory* fleet = inventory->has_value() ? &**inventory : nullptr;
  absl::StatusOr<AgentTls> agent_tls = AgentTls::Create(fleet, tls_flags);
  if (!agent_tls.ok()) {
    std::cerr << "faultline: " << agent_tls.status().message() << "\n";
    return kExitInvalid;
  }

  SeedSource seed_source = SeedSource::kRandom;
  if (vm.count("seed")) {
    experiment->seed = seed_flag;
    seed_source = SeedSource::kFlag;
  } else if (experiment->seed) {
    seed_source = SeedSource::kExperiment;
  }
  PlanOptions plan_options;
  plan_options.inventory = fleet;
  plan_options.default_seed = RandomSeed();
  absl::StatusOr<Plan> plan = MakePlan(*experiment, "<run>", plan_options);
  if (!plan.ok()) {
    std::cerr << file << ": " << plan.status().message() << "\n";
    return kExitInvalid;
  }

  std::vector<HostCheck> checks;
  if (no_agents) {
    for (const PlannedAgent& host : plan->hosts) {
      HostCheck unchecked;
      unchecked.host = host;
      checks.push_back(std::move(unchecked));
    }
  } else {
    checks = CheckHosts(*plan, *agent_timeout, *agent_tls);
  }
  nlohmann::json doc = PlanToJson(*experiment, *plan, checks, seed_source, fleet);
  if (json) {
    std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << PlanToText(*experiment, *plan, checks, seed_source, fleet);
  }
  return doc["ok"].get<bool>() ? 0 : kExitAborted;
}

}  // namespace faultline::controller
