// Plan: an experiment resolved into exactly what will happen — which fault goes
// to which agent, with which id, lease and TTL — before anything happens.
// Pure: no I/O. The run engine executes a Plan; `faultline run --dry-run`
// executes it with every Apply marked dry_run.
//
// Fault ids are "<run_id>.s<step path>.<host index>" (e.g. "r1.s3.2.0" for the
// first host of the second child of step 3), unique per run, so an agent can
// tell faults of different runs apart and a replayed Apply is idempotent.
//
// Blast radius: each target group is resolved once per plan (a group used by
// several steps hits the same hosts). Candidates are the inventory agents
// matching every `select` label (or the explicit `agents`), sorted by name;
// count / percent (rounded up, at least one) / all of them are taken after a
// Fisher-Yates shuffle driven by std::mt19937_64 seeded with
// seed ^ FNV-1a-64(group name), drawing indices by rejection sampling, so the
// choice depends only on the seed, the group name and the candidates'
// names - the same on every platform and standard library.
#ifndef FAULTLINE_CONTROLLER_PLAN_PLAN_H_
#define FAULTLINE_CONTROLLER_PLAN_PLAN_H_

#include <chrono>
#include <cstdint>
#include <map>
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
  // The fleet targets select from: the experiment's `inventory:` or
  // --inventory (which wins). Null when targets list agents explicitly.
  const Inventory* inventory = nullptr;
  // Seed for blast-radius choices when the experiment sets none (the caller
  // draws one at random and it is recorded in the plan and the journal).
  uint64_t default_seed = 0;
};

// A host the plan talks to.
struct PlannedAgent {
  std::string name;     // inventory name; the address for explicit agents; kEmbeddedAgent
  std::string address;  // "host:port", "unix:/path"; "" for the embedded agent
  std::map<std::string, std::string> labels;
};

struct PlannedFault {
  std::string agent;            // PlannedAgent::name
  std::string group;            // the experiment target it was chosen through ("" = local)
  v1::ApplyRequest request;     // complete: id, run, spec, duration, ttl, lease
};

struct PlannedStep {
  const Step* step = nullptr;   // points into the Experiment the plan was made from
  int index = 0;                // 1-based position among its siblings
  std::string path;             // "3" top level, "3.2" second child of step 3
  // kFault: one per chosen host (fault id "<run>.s<path>.<n>"; a ramp or
  // flap phase k is applied as "<fault id>.<k>").
  std::vector<PlannedFault> faults;
  std::vector<PlannedStep> children;  // kParallel / kSerial
  std::chrono::milliseconds offset{0};    // planned start from the method's start
  std::chrono::milliseconds duration{0};  // planned length (pause: its timeout)
  // The step is or contains a pause gate: `duration` is an upper bound
  // (someone may continue earlier).
  bool duration_is_upper_bound = false;
  // A pause gate comes before this step: `offset` is an upper bound.
  bool offset_is_upper_bound = false;
};

struct Plan {
  std::string run_id;
  uint64_t seed = 0;                 // the seed blast-radius choices used
  std::vector<std::string> agents;   // PlannedAgent names, distinct, in first-use order
  std::vector<PlannedAgent> hosts;   // same order as `agents`
  bool uses_embedded_agent = false;
  int max_targets = 0;               // the limit that was enforced (0 = none)
  std::vector<PlannedStep> steps;
  // Planned length of the whole method (sum of the top-level steps), an upper
  // bound when it contains a pause gate.
  std::chrono::milliseconds duration{0};
  bool duration_is_upper_bound = false;
};

// Resolves targets to agents (labels + blast radius, deterministic for a
// seed: same seed, inventory and experiment -> same hosts) and builds every
// ApplyRequest. InvalidArgument if a step names an unknown target, a target
// selects no agent (or fewer than its `count`), or selects from an inventory
// that is absent (the caller loads `experiment.inventory_path`);
// FailedPrecondition if the plan touches more distinct hosts than
// min(experiment max_targets, inventory max_targets) (each when > 0), naming
// the limit and the count. The Plan refers to `experiment`, which must
// outlive it. Pure.
absl::StatusOr<Plan> MakePlan(const Experiment& experiment, const std::string& run_id,
                              const PlanOptions& options);

// The address to dial for a plan agent name; "" for the embedded agent or an
// unknown name.
std::string AddressOf(const Plan& plan, const std::string& agent);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_PLAN_PLAN_H_
