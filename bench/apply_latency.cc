// Apply-to-active latency of a real faultline-agent over loopback gRPC.
//
// Starts the agent built next to this binary on 127.0.0.1:<kernel-chosen
// port> with a throwaway state directory, then for each fault kind applies
// and reverts a fault `--iterations` times, timing the Apply RPC (it returns
// once the fault is active on the host: the process is stopped, the stressor
// runs in its cgroup). Prints a table of p50/p99/max. Run as root.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "controller/run/agent_client.h"
#include "tests/test_util.h"

namespace {

using faultline::controller::AgentClient;
using Steady = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  faultline::testing::TempDir dir;
  faultline::testing::Child victim = faultline::testing::StartVictim(dir, "fl-bench-vic");
  auto agent = faultline::testing::StartAgent(dir.File("state"), dir.File("agent.log"));
  if (agent.address.empty()) {
    std::fprintf(stderr, "agent did not start:\n%s\n",
                 faultline::testing::ReadFile(dir.File("agent.log")).c_str());
    return 1;
  }
  AgentClient client("bench", agent.address, std::chrono::seconds(5));

  struct Case {
    const char* kind;
    faultline::v1::FaultSpec spec;
  };
  std::vector<Case> cases(2);
  cases[0].kind = "process.pause";
  cases[0].spec.mutable_process_pause()->mutable_target()->set_pid(victim.pid());
  cases[1].kind = "cpu.pressure";
  cases[1].spec.mutable_cpu_pressure()->set_load_pct(10);
  cases[1].spec.mutable_cpu_pressure()->set_workers(1);

  std::printf("apply-to-active latency, loopback gRPC, %d iterations per kind\n", iterations);
  std::printf("%-16s %8s %10s %10s %10s\n", "kind", "n", "p50 ms", "p99 ms", "max ms");
  int id = 0;
  for (const Case& c : cases) {
    std::vector<double> ms;
    for (int i = 0; i < iterations + 5; ++i) {
      faultline::v1::ApplyRequest request;
      request.set_fault_id("bench." + std::to_string(++id));
      request.set_run_id("bench");
      request.set_duration_ms(60000);
      *request.mutable_spec() = c.spec;
      auto start = Steady::now();
      auto applied = client.Apply(request);
      double elapsed =
          std::chrono::duration<double, std::milli>(Steady::now() - start).count();
      if (!applied.ok()) {
        std::fprintf(stderr, "apply %s: %s\n", c.kind, applied.status().ToString().c_str());
        return 1;
      }
      if (!client.Revert(request.fault_id()).ok()) return 1;
      if (i >= 5) ms.push_back(elapsed);  // the first few warm up the channel
    }
    std::printf("%-16s %8zu %10.3f %10.3f %10.3f\n", c.kind, ms.size(), Percentile(ms, 50),
                Percentile(ms, 99), *std::max_element(ms.begin(), ms.end()));
  }
  agent.child.Signal(SIGTERM);
  agent.child.Wait(std::chrono::seconds(10));
  return 0;
}
