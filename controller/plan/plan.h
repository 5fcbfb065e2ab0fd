// Plan: an experiment resolved into exactly what will happen — which fault goes
// to which agent, with which id, lease and TTL — before anything happens.
// Pure: no I/O. The run engine executes a Plan; `faultline run --dry-run`
// executes it with every Apply marked dry_run.
//
// Fault ids are "<run_id>.s<step>.<agent index>", unique per run, so an agent
// can tell faults of different runs apart and a replayed Apply is idempotent.
#ifndef FAULTLINE_CONTROLLER_PLAN_PLAN_H_
#define FAULTLINE_CONTROLLER_PLAN_PLAN_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/spec/experiment.h"
#include "faultline/v1/agent.pb.h"

namespace faultline::controller {

// Where the embedded local agent is reachable; used for steps with no target
// (and for every step of an experiment without `targets`).
inline constexpr char kEmbeddedAgent[] = "embedded";

struct PlanOptions {
  std::chrono::milliseconds lease_ttl{10000};
  // Hard TTL the agent enforces on top of each step's duration.
  std::chrono::milliseconds ttl_grace{30000};
  bool dry_run = false;
};

struct PlannedFault {
  std::string agent;            // agent address, or kEmbeddedAgent
  v1::ApplyRequest request;     // complete: id, run, spec, duration, ttl, lease
};

struct PlannedStep {
  const Step* step = nullptr;   // points into the Experiment the plan was made from
  int index = 0;                // 1-based, as shown to people
  std::vector<PlannedFault> faults;  // empty for a wait
};

struct Plan {
  std::string run_id;
  std::vector<std::string> agents;  // distinct, in first-use order
  bool uses_embedded_agent = false;
  std::vector<PlannedStep> steps;
};

// Resolves targets to agents and builds every ApplyRequest. InvalidArgument
// if a step names a target the experiment does not define (validation
// normally catches this first). The Plan refers to `experiment`, which must
// outlive it.
absl::StatusOr<Plan> MakePlan(const Experiment& experiment, const std::string& run_id,
                              const PlanOptions& options);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_PLAN_PLAN_H_
