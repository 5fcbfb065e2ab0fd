// `faultline plan FILE`: shows, before anything happens, exactly what a run of
// an experiment would do - which fault goes to which host (inventory name and
// address), when (offset from the method's start), for how long, with which
// parameters, and the engine each host will use - and whether every host can
// do it. Data flow: spec/ (experiment + inventory) -> plan/ (MakePlan) ->
// Capabilities of every planned host in parallel (run/agent_client.h) ->
// a table or JSON on stdout. Nothing is applied anywhere.
//
// Also home of the pieces `faultline run` shares with it: which inventory an
// experiment runs against, and which engine a host will pick for a step.
//
// Exit codes: 0 every host answered and would take its faults; 2 invalid
// input, usage, or a plan refused (max_targets, unknown target, no match); 3
// some host is unreachable, cannot run its fault, or refuses it (policy,
// authorization) or rejects it (e.g. no such interface); the summary line
// says which.
#ifndef FAULTLINE_CONTROLLER_CLI_PLAN_COMMAND_H_
#define FAULTLINE_CONTROLLER_CLI_PLAN_COMMAND_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/plan/plan.h"
#include "controller/run/agent_client.h"
#include "controller/run/preflight.h"
#include "controller/spec/experiment.h"
#include "faultline/v1/agent.pb.h"
#include "nlohmann/json.hpp"

namespace faultline::controller {

// Entry point of `faultline plan` (args after the command name); prints to
// stdout/stderr and returns the exit code above.
int PlanCommand(const std::vector<std::string>& args);

// The inventory `experiment` runs against: `inventory_flag` (--inventory,
// relative to the working directory) when not empty, else the experiment's
// `inventory:` (already resolved against the experiment's directory), else
// none (nullopt). Errors are LoadInventory's (NotFound, PermissionDenied,
// InvalidArgument with every problem appended to `diagnostics`). Reads one
// file; changes nothing.
absl::StatusOr<std::optional<Inventory>> ResolveInventory(const Experiment& experiment,
                                                          const std::string& inventory_flag,
                                                          std::vector<Diagnostic>* diagnostics);

// What `faultline run` settles before it starts anything (and journals via
// RunOptions): the inventory, the seed and whether the embedded agent is
// needed - from one MakePlan, so a plan that would be refused (max_targets,
// unknown target, no match) is refused before any agent is touched.
struct RunPreparation {
  std::optional<Inventory> inventory;  // RunOptions::inventory points here
  uint64_t default_seed = 0;           // RunOptions::default_seed (drawn at random)
  bool uses_embedded_agent = false;
  int hosts = 0;                       // distinct hosts the plan touches
};

// Loads the inventory (ResolveInventory), sets experiment->seed to `seed_flag`
// when given (--seed wins over the experiment's seed:), draws a random
// default seed, and makes the plan once. Errors: ResolveInventory's (with
// `diagnostics`), MakePlan's InvalidArgument / FailedPrecondition. Changes
// only *experiment.
absl::StatusOr<RunPreparation> PrepareRun(Experiment* experiment,
                                          const std::string& inventory_flag,
                                          std::optional<uint64_t> seed_flag,
                                          std::vector<Diagnostic>* diagnostics);

// The engine a fault spec pins (network kinds' target.engine), "" if none.
std::string PinnedEngine(const v1::FaultSpec& spec);

// What one host will do with one fault step, from its Capabilities.
struct EngineChoice {
  bool available = false;
  std::string engine;  // when available: the pinned engine, else the kind's first engine
  std::string reason;  // when not: why ("kernel has no sch_netem", "engine x not offered ...")
};
EngineChoice ChooseEngine(const v1::CapabilitiesResponse& capabilities, const std::string& kind,
                          const std::string& pinned_engine);

// One planned host and what its agent said.
struct HostCheck {
  PlannedAgent host;
  bool checked = false;    // false: embedded agent, or --no-agents
  bool reachable = false;  // when checked
  std::string error;       // when checked and unreachable
  v1::CapabilitiesResponse capabilities;  // when reachable
  std::chrono::milliseconds elapsed{0};
  // When reachable: the agent's answer to a dry run of each of its faults
  // (ramp phases separately), in plan order.
  std::vector<PreflightResult> dry_runs;
};

// Asks every non-embedded host of `plan` for Capabilities and then dry-runs
// its faults (DryRunPlan), all hosts at once, each call bounded by
// `deadline` (a connect refused at once is retried once inside it). Results
// in plan.hosts order. Changes nothing on the agents (they audit the dry
// runs). Each agent is dialled as `tls` says (AgentTls::For).
std::vector<HostCheck> CheckHosts(const Plan& plan, std::chrono::milliseconds deadline,
                                  const AgentTls& tls);

// Where the seed of a plan came from, for the output.
enum class SeedSource { kFlag, kExperiment, kRandom };

// The plan and host checks as the JSON document `faultline plan --json`
// prints ({experiment, file, seed, seed_source, inventory, max_targets,
// duration_ms, hosts[], steps[], summary{}, ok}), and as a table. Pure.
nlohmann::json PlanToJson(const Experiment& experiment, const Plan& plan,
                          const std::vector<HostCheck>& checks, SeedSource seed_source,
                          const Inventory* inventory);
std::string PlanToText(const Experiment& experiment, const Plan& plan,
                       const std::vector<HostCheck>& checks, SeedSource seed_source,
                       const Inventory* inventory);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_CLI_PLAN_COMMAND_H_
