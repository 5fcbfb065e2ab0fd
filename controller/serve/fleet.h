// Fleet-wide operations that must finish in bounded time however many hosts
// hang: halt every agent (`faultline halt`, standalone or through serve) and
// revert one run's faults on every agent (serve's recovery of runs a dead
// controller left behind). Each agent gets its own thread and its own
// deadline; the call returns once every agent answered or its deadline (plus
// a small grace for the thread to notice) passed, so one hung host (SIGSTOPped
// agent, blackholed network) never delays the others.
//
// Thread-safe (no shared state); the calls block.
#ifndef FAULTLINE_CONTROLLER_SERVE_FLEET_H_
#define FAULTLINE_CONTROLLER_SERVE_FLEET_H_

#include <chrono>
#include <string>
#include <vector>

#include "controller/run/agent_client.h"
#include "controller/spec/experiment.h"
#include "faultline/v1/agent.pb.h"

namespace faultline::controller {

// An agent to reach: its inventory name (or address for explicit agents).
struct FleetAgent {
  std::string name;
  std::string address;
  AgentTransport transport{};  // plaintext unless set (AgentTls::For)
};

// The agents of `inventory`, in file order, each with its transport from
// `tls` (AgentTls::Create of this inventory).
std::vector<FleetAgent> FleetOf(const Inventory& inventory, const AgentTls& tls = AgentTls());

// Appends `more` to `agents`, skipping addresses already present.
void AddAgents(std::vector<FleetAgent>* agents, const std::vector<FleetAgent>& more);

struct HostResult {
  std::string host;
  std::string address;
  bool ok = false;
  // "timed out after 2s", or the agent's error with its code.
  std::string error;
  std::vector<v1::FaultStatus> reverted;  // faults that were active and are now reverted
  std::vector<std::string> agent_errors;  // faults the agent could not confirm reverted
  std::chrono::milliseconds elapsed{0};
};

// Sends Halt(reason) to every agent in parallel, each with `deadline`.
// Results in `agents` order. Never fails as a whole: each host says.
std::vector<HostResult> HaltFleet(const std::vector<FleetAgent>& agents,
                                  std::chrono::milliseconds deadline, const std::string& reason);

// On every agent in parallel: List(run_id), then Revert each fault still
// active, all within `deadline` per agent. `reverted` lists what was still
// active. Idempotent (Revert of a reverted fault succeeds).
std::vector<HostResult> RevertRunOnFleet(const std::vector<FleetAgent>& agents,
                                         const std::string& run_id,
                                         std::chrono::milliseconds deadline);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SERVE_FLEET_H_
