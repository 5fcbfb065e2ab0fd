#include "controller/serve/fleet.h"

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/units.h"
#include "controller/run/agent_client.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// Beyond the per-agent deadline, how long we wait for a worker thread that
// has not come back (gRPC honours deadlines; this only covers a worker stuck
// outside the RPC, e.g. in name resolution).
constexpr milliseconds kGrace{500};

std::string Describe(const absl::Status& status, milliseconds deadline) {
  if (absl::IsDeadlineExceeded(status)) {
    return absl::StrCat("timed out after ", FormatDuration(deadline));
  }
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

// Shared between the caller and its workers; a worker that outlives the
// caller's wait keeps the state alive and its result is dropped.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<HostResult> results;
  std::vector<bool> done;
  size_t remaining = 0;
};

std::vector<HostResult> ForEachAgent(const std::vector<FleetAgent>& agents, milliseconds deadline,
                                     std::function<void(AgentClient&, HostResult*)> work) {
  auto shared = std::make_shared<Shared>();
  shared->results.resize(agents.size());
  shared->done.assign(agents.size(), false);
  shared->remaining = agents.size();
  const auto start = SteadyClock::now();
  for (size_t i = 0; i < agents.size(); ++i) {
    shared->results[i].host = agents[i].name;
    shared->results[i].address = agents[i].address;
    std::thread([shared, i, agent = agents[i], deadline, work, start] {
      HostResult result;
      result.host = agent.name;
      result.address = agent.address;
      AgentClient client(agent.name, agent.address, deadline, agent.transport);
      work(client, &result);
      result.elapsed = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
      std::lock_guard lock(shared->mu);
      shared->results[i] = std::move(result);
      shared->done[i] = true;
      --shared->remaining;
      shared->cv.notify_all();
    }).detach();
  }
  std::unique_lock lock(shared->mu);
  shared->cv.wait_until(lock, start + deadline + kGrace, [&] { return shared->remaining == 0; });
  std::vector<HostResult> results = shared->results;
  for (size_t i = 0; i < results.size(); ++i) {
    if (shared->done[i]) continue;
    results[i].ok = false;
    results[i].error = absl::StrCat("timed out after ", FormatDuration(deadline));
    results[i].elapsed = deadline + kGrace;
  }
  return results;
}

}  // namespace

std::vector<FleetAgent> FleetOf(const Inventory& inventory, const AgentTls& tls) {
  std::vector<FleetAgent> agents;
  for (const InventoryAgent& a : inventory.agents) {
    agents.push_back({a.name, a.address, tls.For(a.name, a.address)});
  }
  return agents;
}

void AddAgents(std::vector<FleetAgent>* agents, const std::vector<FleetAgent>& more) {
  for (const FleetAgent& a : more) {
    bool known = false;
    for (const FleetAgent& b : *agents) known = known || b.address == a.address;
    if (!known) agents->push_back(a);
  }
}

std::vector<HostResult> HaltFleet(const std::vector<FleetAgent>& agents, milliseconds deadline,
                                  const std::string& reason) {
  return ForEachAgent(agents, deadline, [reason, deadline](AgentClient& client, HostResult* r) {
    absl::StatusOr<v1::HaltResponse> response = client.Halt(reason);
    if (!response.ok()) {
      r->error = Describe(response.status(), deadline);
      return;
    }
    r->ok = response->errors().empty();
    r->reverted.assign(response->reverted().begin(), response->reverted().end());
    r->agent_errors.assign(response->errors().begin(), response->errors().end());
    if (!r->ok) r->error = absl::StrCat(response->errors_size(), " fault(s) not confirmed reverted");
  });
}

std::vector<HostResult> RevertRunOnFleet(const std::vector<FleetAgent>& agents,
                                         const std::string& run_id, milliseconds deadline) {
  return ForEachAgent(agents, deadline, [run_id, deadline](AgentClient& client, HostResult* r) {
    const auto end = SteadyClock::now() + deadline;
    absl::StatusOr<v1::ListResponse> listed = client.List(run_id);
    if (!listed.ok()) {
      r->error = Describe(listed.status(), deadline);
      return;
    }
    r->ok = true;
    for (const v1::FaultStatus& fault : listed->faults()) {
      if (fault.state() != v1::FAULT_STATE_ACTIVE) continue;
      // The remaining budget, so the whole host stays within `deadline`.
      auto left = std::chrono::duration_cast<milliseconds>(end - SteadyClock::now());
      AgentClient bounded(client.name(), client.address(), std::max(left, milliseconds(1)),
                          client.transport());
      absl::StatusOr<v1::RevertResponse> reverted = bounded.Revert(fault.fault_id());
      if (!reverted.ok()) {
        r->ok = false;
        r->agent_errors.push_back(
            absl::StrCat(fault.fault_id(), ": ", Describe(reverted.status(), deadline)));
        continue;
      }
      r->reverted.push_back(reverted->was_active() ? reverted->fault() : fault);
    }
    if (!r->ok) r->error = absl::StrCat(r->agent_errors.size(), " fault(s) not reverted");
  });
}

}  // namespace faultline::controller
