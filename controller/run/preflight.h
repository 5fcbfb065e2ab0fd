// Preflight: before a run injects anything, and for `faultline plan`, every
// remote agent is asked whether it would take each fault planned for it - a
// dry-run Apply of the planned request and, for a ramp, of every phase (the
// largest phase is the one a host's limit catches). The agent validates the
// request, checks who may apply that kind (authorization), checks the host
// owner's policy and resolves targets, and changes nothing (it audits the
// call). So a fault a host refuses is reported per host before the first
// fault of the run is applied anywhere.
//
// Data flow: Plan (controller/plan) -> AgentClient::Apply(dry_run) per fault,
// one thread per agent (FanOut) -> PreflightResult per request.
#ifndef FAULTLINE_CONTROLLER_RUN_PREFLIGHT_H_
#define FAULTLINE_CONTROLLER_RUN_PREFLIGHT_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "controller/plan/plan.h"
#include "controller/run/agent_client.h"
#include "faultline/v1/agent.pb.h"

namespace faultline::controller {

struct PreflightResult {
  std::string agent;     // plan agent name
  std::string fault_id;  // the planned id; "<id>.<k>" for ramp phase k
  std::string kind;      // "network.delay"
  absl::Status status;   // OK, or the agent's answer to the dry run
};

// The dry-run requests for one planned fault: the planned request, or one per
// ramp phase (id "<id>.<k>", that phase's spec and share of the duration).
// Pure.
std::vector<v1::ApplyRequest> DryRunRequests(const PlannedStep& step, const PlannedFault& fault);

// Dry-runs every planned fault of the agents `client_for` returns a client
// for (nullptr = skip that agent, e.g. the embedded one), agents in parallel
// (at most `max_parallel` at once), each agent's faults in plan order.
// `run_id`, when not empty, replaces the plan's run id in the requests (and
// as the prefix of their fault ids): `faultline plan` shows "<run>" but the
// agent needs a valid id. Results in plan order, with the planned ids.
// Changes nothing on any host.
std::vector<PreflightResult> DryRunPlan(
    const Plan& plan, const std::function<AgentClient*(const std::string& agent)>& client_for,
    size_t max_parallel, const std::string& run_id = "");

// A refusal by the host rather than a problem of the request or the network:
// PermissionDenied (policy, authorization) or Unauthenticated (certificate).
bool IsRefusal(const absl::Status& status);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_RUN_PREFLIGHT_H_
