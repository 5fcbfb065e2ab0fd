#include "controller/plan/plan.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

// FNV-1a, 64 bit: a documented hash whose value is the same everywhere
// (std::hash is not), so seeds mean the same hosts on every build.
uint64_t Fnv1a64(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// Uniform in [0, bound) from raw 64-bit draws by rejection; unlike
// std::uniform_int_distribution the sequence is fixed by the standard
// (mt19937_64's output is), not by the library.
uint64_t Below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  while (true) {
    uint64_t draw = rng();
    if (draw < limit) return draw % bound;
  }
}

std::string DescribeSelect(const std::map<std::string, std::string>& select) {
  if (select.empty()) return "{} (every agent)";
  std::vector<std::string> parts;
  for (const auto& [key, value] : select) parts.push_back(absl::StrCat(key, ": ", value));
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

class Planner {
 public:
  Planner(const Experiment& experiment, const std::string& run_id, const PlanOptions& options,
          Plan* plan)
      : experiment_(experiment), run_id_(run_id), options_(options), plan_(plan) {}

  // Plans `steps` (siblings) one after another from `offset`; returns their
  // total duration.
  absl::Status PlanSerial(const std::vector<Step>& steps, const std::string& parent_path,
                          milliseconds offset, bool offset_bound, std::vector<PlannedStep>* out,
                          milliseconds* duration, bool* duration_bound) {
    milliseconds cursor = offset;
    bool cursor_bound = offset_bound;
    *duration_bound = false;
    int index = 0;
    for (const Step& step : steps) {
      PlannedStep planned;
      FL_RETURN_IF_ERROR(PlanStep(step, ++index, parent_path, cursor, cursor_bound, &planned));
      cursor += planned.duration;
      cursor_bound = cursor_bound || planned.duration_is_upper_bound;
      *duration_bound = *duration_bound || planned.duration_is_upper_bound;
      out->push_back(std::move(planned));
    }
    *duration = cursor - offset;
    return absl::OkStatus();
  }

 private:
  absl::Status PlanStep(const Step& step, int index, const std::string& parent_path,
                        milliseconds offset, bool offset_bound, PlannedStep* planned) {
    planned->step = &step;
    planned->index = index;
    planned->path = parent_path.empty() ? std::to_string(index)
                                        : absl::StrCat(parent_path, ".", index);
    planned->offset = offset;
    planned->offset_is_upper_bound = offset_bound;
    switch (step.kind) {
      case StepKind::kFault:
        planned->duration = step.duration;
        return PlanFaults(step, planned);
      case StepKind::kWait:
        planned->duration = step.duration;
        return absl::OkStatus();
      case StepKind::kPause:
        planned->duration = step.duration;
        planned->duration_is_upper_bound = true;
        return absl::OkStatus();
      case StepKind::kSerial:
        return PlanSerial(step.steps, planned->path, offset, offset_bound, &planned->children,
                          &planned->duration, &planned->duration_is_upper_bound);
      case StepKind::kParallel: {
        int child_index = 0;
        for (const Step& child : step.steps) {
          PlannedStep planned_child;
          FL_RETURN_IF_ERROR(
              PlanStep(child, ++child_index, planned->path, offset, offset_bound, &planned_child));
          planned->duration = std::max(planned->duration, planned_child.duration);
          planned->duration_is_upper_bound =
              planned->duration_is_upper_bound || planned_child.duration_is_upper_bound;
          planned->children.push_back(std::move(planned_child));
        }
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

  absl::Status PlanFaults(const Step& step, PlannedStep* planned) {
    // The hosts of every group, a host once, attributed to the first group
    // that chose it.
    std::vector<std::pair<PlannedAgent, std::string>> hosts;
    if (experiment_.targets.empty() || step.targets.empty()) {
      hosts.push_back({PlannedAgent{kEmbeddedAgent, "", {}}, ""});
    } else {
      std::set<std::string> seen;
      for (const std::string& group : step.targets) {
        auto chosen = Resolve(group);
        if (!chosen.ok()) {
          return absl::Status(chosen.status().code(),
                              absl::StrCat("step ", planned->path, " (", step.label, "): ",
                                           chosen.status().message()));
        }
        for (const PlannedAgent& host : **chosen) {
          if (seen.insert(host.name).second) hosts.push_back({host, group});
        }
      }
    }
    for (size_t n = 0; n < hosts.size(); ++n) {
      const PlannedAgent& host = hosts[n].first;
      PlannedFault fault;
      fault.agent = host.name;
      fault.group = hosts[n].second;
      v1::ApplyRequest& r = fault.request;
      r.set_fault_id(absl::StrCat(run_id_, ".s", planned->path, ".", n));
      r.set_run_id(run_id_);
      *r.mutable_spec() = step.spec;
      r.set_duration_ms(static_cast<uint64_t>(step.duration.count()));
      r.set_ttl_ms(static_cast<uint64_t>((step.duration + options_.ttl_grace).count()));
      r.set_lease_ttl_ms(static_cast<uint64_t>(options_.lease_ttl.count()));
      r.set_dry_run(options_.dry_run);
      planned->faults.push_back(std::move(fault));
      if (std::find(plan_->agents.begin(), plan_->agents.end(), host.name) ==
          plan_->agents.end()) {
        plan_->agents.push_back(host.name);
        plan_->hosts.push_back(host);
      }
      if (host.name == kEmbeddedAgent) plan_->uses_embedded_agent = true;
    }
    return absl::OkStatus();
  }

  // The hosts target `group` stands for, sorted by name; computed once.
  absl::StatusOr<const std::vector<PlannedAgent>*> Resolve(const std::string& group) {
    auto cached = resolved_.find(group);
    if (cached != resolved_.end()) return &cached->second;
    auto it = experiment_.targets.find(group);
    if (it == experiment_.targets.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown target \"", group, "\""));
    }
    const Target& target = it->second;
    std::vector<PlannedAgent> candidates;
    if (!target.agents.empty()) {
      for (const std::string& address : target.agents) {
        PlannedAgent host{address, address, {}};
        // An address the inventory knows is shown by its inventory name.
        if (options_.inventory != nullptr) {
          for (const InventoryAgent& agent : options_.inventory->agents) {
            if (agent.address == address) {
              host = PlannedAgent{agent.name, agent.address, agent.labels};
              break;
            }
          }
        }
        if (std::none_of(candidates.begin(), candidates.end(),
                         [&](const PlannedAgent& c) { return c.name == host.name; })) {
          candidates.push_back(std::move(host));
        }
      }
    } else {
      if (options_.inventory == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "target \"", group, "\" selects agents by label but there is no inventory "
            "(set inventory: in the experiment or pass --inventory)"));
      }
      for (const InventoryAgent& agent : options_.inventory->agents) {
        bool match = std::all_of(target.select.begin(), target.select.end(), [&](const auto& kv) {
          auto label = agent.labels.find(kv.first);
          return label != agent.labels.end() && label->second == kv.second;
        });
        if (match) candidates.push_back(PlannedAgent{agent.name, agent.address, agent.labels});
      }
      if (candidates.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("target \"", group, "\": no agent of inventory ",
                         options_.inventory->path, " matches ", DescribeSelect(target.select)));
      }
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const PlannedAgent& a, const PlannedAgent& b) { return a.name < b.name; });

    const size_t n = candidates.size();
    size_t take = n;
    switch (target.radius) {
      case BlastRadius::kAll:
        break;
      case BlastRadius::kCount:
        if (target.count < 1 || static_cast<size_t>(target.count) > n) {
          return absl::InvalidArgumentError(absl::StrCat(
              "target \"", group, "\": count ", target.count, " but ", n,
              n == 1 ? " agent matches " : " agents match ",
              target.agents.empty() ? DescribeSelect(target.select) : "its agents list"));
        }
        take = static_cast<size_t>(target.count);
        break;
      case BlastRadius::kPercent: {
        // Rounded up; the epsilon keeps 100/3 % of 3 hosts at exactly one.
        double exact = target.percent * static_cast<double>(n) / 100.0;
        take = static_cast<size_t>(std::ceil(exact - 1e-9));
        take = std::clamp<size_t>(take, 1, n);
        break;
      }
    }
    if (take < n) {
      std::mt19937_64 rng(plan_->seed ^ Fnv1a64(group));
      for (size_t i = n - 1; i > 0; --i) {
        std::swap(candidates[i], candidates[Below(rng, i + 1)]);
      }
      candidates.resize(take);
      std::sort(candidates.begin(), candidates.end(),
                [](const PlannedAgent& a, const PlannedAgent& b) { return a.name < b.name; });
    }
    return &(resolved_[group] = std::move(candidates));
  }

  const Experiment& experiment_;
  const std::string& run_id_;
  const PlanOptions& options_;
  Plan* plan_;
  std::map<std::string, std::vector<PlannedAgent>> resolved_;
};

}  // namespace

absl::StatusOr<Plan> MakePlan(const Experiment& experiment, const std::string& run_id,
                              const PlanOptions& options) {
  Plan plan;
  plan.run_id = run_id;
  plan.seed = experiment.seed.value_or(options.default_seed);
  Planner planner(experiment, run_id, options, &plan);
  absl::Status planned = planner.PlanSerial(experiment.method, "", milliseconds(0), false,
                                            &plan.steps, &plan.duration,
                                            &plan.duration_is_upper_bound);
  if (!planned.ok()) return planned;

  // The tightest limit wins; the message says where it comes from.
  int limit = 0;
  std::string source;
  if (experiment.max_targets > 0) {
    limit = experiment.max_targets;
    source = experiment.path.empty() ? "experiment" : absl::StrCat("experiment ", experiment.path);
  }
  if (options.inventory != nullptr && options.inventory->max_targets > 0 &&
      (limit == 0 || options.inventory->max_targets < limit)) {
    limit = options.inventory->max_targets;
    source = absl::StrCat("inventory ", options.inventory->path);
  }
  plan.max_targets = limit;
  const int hosts = static_cast<int>(plan.hosts.size());
  if (limit > 0 && hosts > limit) {
    return absl::FailedPreconditionError(absl::StrCat("plan touches ", hosts,
                                                      " hosts, more than max_targets ", limit,
                                                      " (", source, ")"));
  }
  return plan;
}

std::string AddressOf(const Plan& plan, const std::string& agent) {
  for (const PlannedAgent& host : plan.hosts) {
    if (host.name == agent) return host.address;
  }
  return "";
}

}  // namespace faultline::controller
