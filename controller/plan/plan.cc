#include "controller/plan/plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace faultline::controller {

absl::StatusOr<Plan> MakePlan(const Experiment& experiment, const std::string& run_id,
                              const PlanOptions& options) {
  Plan plan;
  plan.run_id = run_id;
  int index = 0;
  for (const Step& step : experiment.method) {
    PlannedStep planned;
    planned.step = &step;
    planned.index = ++index;
    planned.path = std::to_string(index);
    if (step.kind == StepKind::kFault) {
      std::vector<std::string> agents;
      if (experiment.targets.empty() || step.target.empty()) {
        agents.push_back(kEmbeddedAgent);
      } else {
        auto it = experiment.targets.find(step.target);
        if (it == experiment.targets.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat("step ", index, ": unknown target \"", step.target, "\""));
        }
        agents = it->second.agents;
      }
      for (size_t i = 0; i < agents.size(); ++i) {
        PlannedFault fault;
        fault.agent = agents[i];
        v1::ApplyRequest& r = fault.request;
        r.set_fault_id(absl::StrCat(run_id, ".s", index, ".", i));
        r.set_run_id(run_id);
        *r.mutable_spec() = step.spec;
        r.set_duration_ms(static_cast<uint64_t>(step.duration.count()));
        r.set_ttl_ms(static_cast<uint64_t>((step.duration + options.ttl_grace).count()));
        r.set_lease_ttl_ms(static_cast<uint64_t>(options.lease_ttl.count()));
        r.set_dry_run(options.dry_run);
        planned.faults.push_back(std::move(fault));
        if (std::find(plan.agents.begin(), plan.agents.end(), agents[i]) == plan.agents.end()) {
          plan.agents.push_back(agents[i]);
          plan.hosts.push_back(PlannedAgent{
              agents[i], agents[i] == kEmbeddedAgent ? "" : agents[i], {}});
        }
        if (agents[i] == kEmbeddedAgent) plan.uses_embedded_agent = true;
      }
    }
    plan.steps.push_back(std::move(planned));
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
