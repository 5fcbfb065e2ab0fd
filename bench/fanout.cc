// Fan-out to a fleet: how long until one fault is active on every agent, and
// how long `faultline halt --inventory` takes to take it back out everywhere.
//
// For each fleet size N (default 10, 50, 200) the driver starts N real
// faultline-agent processes on 127.0.0.1:<kernel-chosen port>, each with its
// own state directory, writes an inventory of all of them (label
// role=bench) and an experiment whose single step pauses one victim process
// (`/bin/sleep` copied as fl-fanout-vic; one per agent, each agent in its own
// PID namespace so that it sees only its own) on target
// `{select: {role: bench}, all: true}`. Then, `reps` times each:
//
//   run     `faultline run` of that experiment; from its journal, the time
//           from the step's "step.started" event to the last "fault.applied"
//           (each Apply returns once the fault is active on its host).
//   dry-run the controller's own fan-out (run/fan_out.h FanOut + AgentClient,
//           as the Runner uses them, at most 256 calls in flight) from this
//           process: N Apply calls with dry_run over warm channels until the
//           last returned - gRPC and the fan-out, with no host change.
//   apply   the same, for real: the run figure without process start,
//           capability checks and journal writes.
//   halt    with the fault active on all N agents (applied as in `apply`):
//           (a) the controller's halt fan-out (serve/fleet.h HaltFleet, what
//           `faultline halt` calls) from this process, until every agent
//           answered; (b) the wall-clock time of a `faultline halt
//           --inventory` process (adds its start, reading the inventory,
//           new connections to every agent). After each, every agent lists
//           nothing active and no victim is stopped.
//
// Prints a table of p50/p99 per N (p99 of few repetitions is close to the
// maximum). Run as root; needs build/bin/{faultline,faultline-agent}.
// Usage: faultline-bench-fanout [SIZES=10,50,200] [REPS=10]
//        (FANOUT_STATE_DIR=/dev/shm puts the agents' state dirs on a tmpfs)
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controller/run/agent_client.h"
#include "controller/run/fan_out.h"
#include "controller/serve/fleet.h"
#include "controller/store/sqlite_store.h"
#include "tests/test_util.h"

namespace {

using faultline::controller::AgentClient;
using faultline::controller::FanOut;
using faultline::controller::HaltFleet;
using faultline::testing::BinDir;
using faultline::testing::Child;
using faultline::testing::TempDir;
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

constexpr char kVictim[] = "fl-fanout-vic";
constexpr size_t kMaxParallel = 256;  // RunOptions::max_parallel_calls default

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string Cell(const std::vector<double>& v) {
  if (v.empty()) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f / %.0f", Percentile(v, 50), Percentile(v, 99));
  return buf;
}

struct Fleet {
  std::vector<Child> agents;
  std::vector<std::string> addresses;
};

// Starts every agent at once, then waits for each one's ready file.
bool StartFleet(const std::string& base, int n, const std::string& victim, Fleet* fleet) {
  for (int i = 0; i < n; ++i) {
    std::string state = base + "/agent-" + std::to_string(i);
    std::filesystem::create_directories(state);
    // Each agent is a "host" with its own victim: a PID namespace with its
    // own /proc holding the agent and one sleeping fl-fanout-vic. (On one
    // host the agents would all see the same process, and an agent refuses
    // to pause a process somebody else stopped.) --kill-child: the agent
    // gets SIGTERM when unshare dies.
    fleet->agents.emplace_back(
        std::vector<std::string>{"/usr/bin/unshare", "--pid", "--fork", "--mount-proc",
                                 "--kill-child=SIGTERM", "/bin/sh", "-c",
                                 "\"$0\" 600 & exec \"$@\"", victim,
                                 BinDir() + "/faultline-agent", "--listen", "127.0.0.1:0",
                                 "--state-dir", state, "--ready-file", state + "/ready",
                                 "--log-level", "warn"},
        state + "/agent.log");
  }
  for (int i = 0; i < n; ++i) {
    std::string state = base + "/agent-" + std::to_string(i);
    std::string address = faultline::testing::WaitForFile(state + "/ready", std::chrono::seconds(60));
    if (address.empty()) {
      std::fprintf(stderr, "agent %d did not start:\n%s\n", i,
                   faultline::testing::ReadFile(state + "/agent.log").c_str());
      return false;
    }
    fleet->addresses.push_back(address);
  }
  return true;
}

// unshare blocks SIGTERM while it waits for its child, so it is killed;
// --kill-child then sends the agent SIGTERM (it halts and exits cleanly).
// Waits (bounded) until every agent is gone before the state dirs go.
void StopFleet(Fleet* fleet) {
  std::vector<pid_t> agents;
  for (Child& unshare : fleet->agents) {
    std::string children = faultline::testing::ReadFile(
        "/proc/" + std::to_string(unshare.pid()) + "/task/" + std::to_string(unshare.pid()) +
        "/children");
    if (!children.empty()) agents.push_back(std::atoi(children.c_str()));
  }
  for (Child& unshare : fleet->agents) unshare.Signal(SIGKILL);
  for (Child& unshare : fleet->agents) unshare.Wait(std::chrono::seconds(5));
  auto deadline = Steady::now() + std::chrono::seconds(20);
  for (pid_t pid : agents) {
    while (kill(pid, 0) == 0 && faultline::testing::ProcessState(pid) != '\0' &&
           Steady::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

std::string Name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "h%03d", i);
  return buf;
}

// step.started -> last fault.applied of the newest run in `journal`, or -1.
double JournalApplyMs(const std::string& journal) {
  auto store = faultline::controller::OpenSqliteStore(journal);
  if (!store.ok()) return -1;
  faultline::controller::RunFilter filter;
  filter.limit = 1;
  auto runs = (*store)->ListRuns(filter);
  if (!runs.ok() || runs->empty()) return -1;
  auto events = (*store)->Events(runs->front().run_id);
  if (!events.ok()) return -1;
  int64_t start = -1, last = -1;
  for (const auto& e : *events) {
    if (e.type == "step.started" && start < 0) start = e.unix_ms;
    if (e.type == "fault.applied") last = std::max(last, e.unix_ms);
  }
  return start < 0 || last < 0 ? -1 : static_cast<double>(last - start);
}

// Victims (any namespace) in state T.
int StoppedVictims() {
  int stopped = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string comm = faultline::testing::ReadFile("/proc/" + pid + "/comm");
    if (comm.rfind(kVictim, 0) != 0) continue;
    stopped += faultline::testing::ProcessState(std::stoi(pid)) == 'T';
  }
  return stopped;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  {
    std::stringstream list(argc > 1 ? argv[1] : "10,50,200");
    std::string item;
    while (std::getline(list, item, ',')) sizes.push_back(std::atoi(item.c_str()));
  }
  const int reps = argc > 2 ? std::atoi(argv[2]) : 10;

  std::printf("fan-out of one process.pause fault, %d repetitions per size, times in ms "
              "(p50 / p99)\n\n", reps);
  std::printf("| agents | run: step start -> all applied (journal) | dry-run fan-out | "
              "apply fan-out | halt fan-out | faultline halt --inventory (process) |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int n : sizes) {
    TempDir dir;
    const std::string victim = dir.File(kVictim);
    std::filesystem::copy_file("/bin/sleep", victim);
    // FANOUT_STATE_DIR (e.g. a tmpfs) holds the agents' state dirs instead of
    // the temp dir, to separate the cost of their fsyncs.
    const char* state_base = std::getenv("FANOUT_STATE_DIR");
    std::string base = dir.path();
    if (state_base != nullptr) {
      base = std::string(state_base) + "/fanout-" + std::to_string(getpid()) + "-" +
             std::to_string(n);
    }
    Fleet fleet;
    if (!StartFleet(base, n, victim, &fleet)) return 1;

    std::string inventory = dir.File("inventory.yaml");
    {
      std::ofstream out(inventory);
      out << "agents:\n";
      for (int i = 0; i < n; ++i) {
        out << "  - {name: " << Name(i) << ", address: \"" << fleet.addresses[i]
            << "\", labels: {role: bench}}\n";
      }
    }
    std::string experiment = dir.File("fanout.yaml");
    std::ofstream(experiment)
        << "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: fanout-" << n << "}\n"
        << "inventory: inventory.yaml\n"
        << "targets:\n  all: {select: {role: bench}, all: true}\n"
        << "method:\n  - {fault: process.pause, target: all, params: {name: " << kVictim
        << "}, duration: 300ms}\n";

    std::vector<std::unique_ptr<AgentClient>> clients;
    for (int i = 0; i < n; ++i) {
      clients.push_back(std::make_unique<AgentClient>(Name(i), fleet.addresses[i],
                                                      std::chrono::seconds(10)));
    }
    FanOut(n, kMaxParallel, [&](size_t i) { (void)clients[i]->Capabilities(); });  // warm up

    std::vector<faultline::controller::FleetAgent> agents;
    for (int i = 0; i < n; ++i) agents.push_back({Name(i), fleet.addresses[i]});
    std::vector<double> run_ms, dry_ms, apply_ms, halt_fleet_ms, halt_ms;
    int failures = 0;
    for (int rep = 0; rep < reps; ++rep) {
      // 1. faultline run
      std::string journal = dir.File("journal-" + std::to_string(rep) + ".db");
      std::string out;
      int code = faultline::testing::RunCommand(
          {BinDir() + "/faultline", "run", experiment, "--journal", journal}, &out,
          std::chrono::seconds(120));
      double ms = code == 0 ? JournalApplyMs(journal) : -1;
      if (ms >= 0) {
        run_ms.push_back(ms);
      } else {
        ++failures;
        std::fprintf(stderr, "run failed (exit %d):\n%s\n", code, out.c_str());
      }

      // 2. in-process fan-out; the faults stay active for 3.
      const std::string run_id = "bench-" + std::to_string(n) + "-" + std::to_string(rep);
      auto apply_all = [&](const std::string& id, bool dry_run) {
        std::atomic<int> errors{0};
        auto start = Steady::now();
        FanOut(n, kMaxParallel, [&](size_t i) {
          faultline::v1::ApplyRequest request;
          request.set_fault_id(id + "." + std::to_string(i));
          request.set_run_id(id);
          request.mutable_spec()->mutable_process_pause()->mutable_target()->set_name(kVictim);
          request.set_duration_ms(60000);
          request.set_lease_ttl_ms(60000);
          request.set_dry_run(dry_run);
          if (!clients[i]->Apply(request).ok()) errors.fetch_add(1);
        });
        if (errors.load() > 0) {
          ++failures;
          std::fprintf(stderr, "%d of %d in-process applies failed\n", errors.load(), n);
        }
        return Ms(Steady::now() - start);
      };
      // Every agent lists nothing active for `id` and no victim is stopped;
      // otherwise reports, cleans up and returns false.
      auto all_reverted = [&](const std::string& id, const std::string& what) {
        std::atomic<int> still_active{0};
        FanOut(n, kMaxParallel, [&](size_t i) {
          auto listed = clients[i]->List(id);
          if (!listed.ok()) {
            still_active.fetch_add(1);
            return;
          }
          for (const auto& fault : listed->faults()) {
            if (fault.state() == faultline::v1::FAULT_STATE_ACTIVE) still_active.fetch_add(1);
          }
        });
        const int stopped = StoppedVictims();
        if (still_active.load() == 0 && stopped == 0) return true;
        ++failures;
        std::fprintf(stderr, "%s: %d faults still active, %d victims stopped\n", what.c_str(),
                     still_active.load(), stopped);
        FanOut(n, kMaxParallel, [&](size_t i) {
          (void)clients[i]->Revert(id + "." + std::to_string(i));
        });
        return false;
      };
      dry_ms.push_back(apply_all(run_id + "-dry", /*dry_run=*/true));
      apply_ms.push_back(apply_all(run_id, /*dry_run=*/false));

      // 3. the controller's own halt fan-out (serve/fleet.h), in-process.
      auto start = Steady::now();
      auto hosts = HaltFleet(agents, std::chrono::seconds(2), "bench");
      double halt = Ms(Steady::now() - start);
      bool hosts_ok = std::all_of(hosts.begin(), hosts.end(),
                                  [](const faultline::controller::HostResult& h) { return h.ok; });
      if (all_reverted(run_id, "HaltFleet") && hosts_ok) halt_fleet_ms.push_back(halt);

      // 4. faultline halt --inventory, a process.
      apply_all(run_id + "-b", /*dry_run=*/false);
      start = Steady::now();
      code = faultline::testing::RunCommand(
          {BinDir() + "/faultline", "halt", "--inventory", inventory}, &out,
          std::chrono::seconds(120));
      halt = Ms(Steady::now() - start);
      if (all_reverted(run_id + "-b", "faultline halt") && code == 0) {
        halt_ms.push_back(halt);
      } else if (code != 0) {
        ++failures;
        std::fprintf(stderr, "faultline halt exit %d:\n%s\n", code, out.c_str());
      }
    }
    const std::string failed = failures > 0 ? " " + std::to_string(failures) + " failed" : "";
    std::printf("| %d | %s | %s | %s | %s | %s |%s\n", n, Cell(run_ms).c_str(),
                Cell(dry_ms).c_str(), Cell(apply_ms).c_str(), Cell(halt_fleet_ms).c_str(),
                Cell(halt_ms).c_str(), failed.c_str());
    std::fflush(stdout);
    clients.clear();
    StopFleet(&fleet);
    if (state_base != nullptr) std::filesystem::remove_all(base);
  }
  return 0;
}
