#include "controller/run/preflight.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controller/run/fan_out.h"

namespace faultline::controller {
namespace {

// Depth-first, in plan order: every fault step with the faults on `agent`.
void Collect(const std::vector<PlannedStep>& steps,
             std::vector<std::pair<const PlannedStep*, const PlannedFault*>>* out) {
  for (const PlannedStep& step : steps) {
    for (const PlannedFault& fault : step.faults) out->emplace_back(&step, &fault);
    Collect(step.children, out);
  }
}

}  // namespace

std::vector<v1::ApplyRequest> DryRunRequests(const PlannedStep& step, const PlannedFault& fault) {
  std::vector<v1::ApplyRequest> requests;
  const Step* spec = step.step;
  if (spec == nullptr || !spec->ramp || spec->ramp->specs.empty()) {
    requests.push_back(fault.request);
    requests.back().set_dry_run(true);
    return requests;
  }
  const auto& phases = spec->ramp->specs;
  const uint64_t n = phases.size();
  const uint64_t grace = fault.request.ttl_ms() > fault.request.duration_ms()
                             ? fault.request.ttl_ms() - fault.request.duration_ms()
                             : 0;
  const uint64_t share = std::max<uint64_t>(1, fault.request.duration_ms() / n);
  for (uint64_t k = 0; k < n; ++k) {
    v1::ApplyRequest request = fault.request;
    request.set_fault_id(absl::StrCat(fault.request.fault_id(), ".", k));
    *request.mutable_spec() = phases[k];
    request.set_duration_ms(share);
    request.set_ttl_ms(share + grace);
    request.set_dry_run(true);
    requests.push_back(std::move(request));
  }
  return requests;
}

std::vector<PreflightResult> DryRunPlan(
    const Plan& plan, const std::function<AgentClient*(const std::string& agent)>& client_for,
    size_t max_parallel, const std::string& run_id) {
  std::vector<std::pair<const PlannedStep*, const PlannedFault*>> faults;
  Collect(plan.steps, &faults);

  // Results are laid out in plan order up front; each agent's thread fills
  // only its own slots.
  std::vector<PreflightResult> results;
  std::map<std::string, std::vector<std::pair<size_t, v1::ApplyRequest>>> by_agent;
  for (const auto& [step, fault] : faults) {
    if (client_for(fault->agent) == nullptr) continue;
    for (v1::ApplyRequest& request : DryRunRequests(*step, *fault)) {
      PreflightResult result;
      result.agent = fault->agent;
      result.fault_id = request.fault_id();
      result.kind = step->step != nullptr ? step->step->fault_kind : "";
      if (!run_id.empty()) {
        if (request.fault_id().rfind(plan.run_id, 0) == 0) {
          request.set_fault_id(run_id + request.fault_id().substr(plan.run_id.size()));
        }
        request.set_run_id(run_id);
      }
      by_agent[fault->agent].emplace_back(results.size(), std::move(request));
      results.push_back(std::move(result));
    }
  }
  std::vector<const std::string*> agents;
  for (const auto& entry : by_agent) agents.push_back(&entry.first);
  FanOut(agents.size(), std::max<size_t>(1, max_parallel), [&](size_t i) {
    AgentClient* client = client_for(*agents[i]);
    for (const auto& [slot, request] : by_agent.at(*agents[i])) {
      absl::StatusOr<v1::ApplyResponse> answer = client->Apply(request);
      results[slot].status = answer.status();
    }
  });
  return results;
}

bool IsRefusal(const absl::Status& status) {
  return status.code() == absl::StatusCode::kPermissionDenied ||
         status.code() == absl::StatusCode::kUnauthenticated;
}

}  // namespace faultline::controller
