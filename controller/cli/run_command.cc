#include "controller/cli/run_command.h"

#include <signal.h>
#include <string.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/program_options.hpp"
#include "common/units.h"
#include "controller/cli/cli_common.h"
#include "controller/cli/plan_command.h"
#include "controller/probes/probe.h"
#include "controller/report/report.h"
#include "controller/run/embedded_agent.h"
#include "controller/run/runner.h"
#include "controller/run/stop_signal.h"
#include "controller/spec/experiment.h"

namespace po = boost::program_options;

namespace faultline::controller {
namespace {

std::string Clock(int64_t unix_ms) {
  time_t secs = unix_ms / 1000;
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03d", t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

// Blocks the stop signals in every thread (call before any thread starts) and
// routes them to `stop` from one sigwait thread.
void RouteStopSignals(StopSignal* stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, stop] {
    int count = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (++count == 1) {
        stop->Stop(absl::StrCat("interrupted by ", sig == SIGINT ? "SIGINT (Ctrl-C)" : strsignal(sig)));
        std::cerr << "\nfaultline: stopping — reverting every active fault (Ctrl-C again will not "
                     "skip the revert)\n";
      } else {
        std::cerr << "faultline: still reverting; faults are also bounded by their TTL and lease\n";
      }
    }
  }).detach();
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string file, junit;
  bool json = false, dry_run = false;
  std::string lease_ttl_text = "10s";
  std::string inventory_flag;
  uint64_t seed_flag = 0;
  EmbeddedAgentOptions embedded;
  po::options_description options = CommonOptions(&common);
  options.add_options()
      ("file", po::value(&file), "experiment file")
      ("json", po::bool_switch(&json), "print events as JSON lines (for CI)")
      ("junit", po::value(&junit), "write a JUnit XML report to this file at the end")
      ("dry-run", po::bool_switch(&dry_run), "agents validate every fault; nothing is applied")
      ("inventory", po::value(&inventory_flag),
       "inventory file (wins over the experiment's inventory:)")
      ("seed", po::value(&seed_flag), "blast-radius seed (wins over the experiment's seed:)")
      ("lease-ttl", po::value(&lease_ttl_text)->default_value("10s"),
       "dead-man's switch: agents revert this run's faults if not renewed within this")
      ("agent-binary", po::value(&embedded.agent_binary), "faultline-agent for the embedded agent")
      ("embedded-dir", po::value(&embedded.base_dir)->default_value(embedded.base_dir),
       "state directory of embedded agents");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!ParseArgs(args, options, positional, &vm) || !InitLogs(common)) return kExitInvalid;
  if (vm.count("help") || file.empty()) {
    std::cout << "usage: faultline run FILE [--inventory FILE] [--seed N] [--journal DB] [--json] "
                 "[--junit FILE] [--dry-run]\n"
              << options;
    return file.empty() && !vm.count("help") ? kExitInvalid : 0;
  }
  auto lease_ttl = ParseDuration(lease_ttl_text);
  if (!lease_ttl.ok() || lease_ttl->count() < 1000) {
    std::cerr << "faultline: --lease-ttl must be a duration of at least 1s\n";
    return kExitInvalid;
  }
  std::vector<Diagnostic> diagnostics;
  auto experiment = LoadExperiment(file, &diagnostics);
  if (!experiment.ok()) {
    if (diagnostics.empty()) std::cerr << file << ": " << experiment.status().message() << "\n";
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
    return kExitInvalid;
  }
  auto prepared = PrepareRun(&*experiment, inventory_flag,
                             vm.count("seed") ? std::optional<uint64_t>(seed_flag) : std::nullopt,
                             &diagnostics);
  if (!prepared.ok()) {
    if (diagnostics.empty()) std::cerr << file << ": " << prepared.status().message() << "\n";
    for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
    return kExitInvalid;
  }
  auto store = OpenJournal(common);
  if (!store.ok()) {
    std::cerr << "faultline: " << store.status().message() << "\n";
    return kExitAborted;
  }

  StopSignal stop;
  RouteStopSignals(&stop);
  InitProbes();

  RunOptions run_options;
  run_options.dry_run = dry_run;
  run_options.lease_ttl = *lease_ttl;
  run_options.inventory = prepared->inventory ? &*prepared->inventory : nullptr;
  run_options.default_seed = prepared->default_seed;
  std::unique_ptr<EmbeddedAgent> agent;
  if (prepared->uses_embedded_agent) {
    auto started = EmbeddedAgent::Start(embedded);
    if (!started.ok()) {
      std::cerr << "faultline: " << started.status().message() << "\n";
      return kExitAborted;
    }
    agent = std::move(*started);
    run_options.embedded_address = agent->address();
  }

  auto print = [&](const Event& e) {
    if (json) {
      nlohmann::json line = {{"ts_unix_ms", e.unix_ms}, {"run_id", e.run_id}, {"type", e.type},
                             {"data", e.data}};
      std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
      return;
    }
    std::cout << Clock(e.unix_ms) << "  " << DescribeEvent(e) << std::endl;
  };
  Runner runner(*experiment, store->get(), &stop, run_options, print);
  auto outcome = runner.Run();
  agent.reset();  // stop the embedded agent (it reverts anything still active)
  if (!outcome.ok()) {
    std::cerr << "faultline: " << outcome.status().message() << "\n";
    return kExitAborted;
  }
  if (!junit.empty()) {
    auto run = (*store)->GetRun(outcome->run_id);
    auto events = (*store)->Events(outcome->run_id);
    if (run.ok() && events.ok()) {
      std::ofstream out(junit);
      out << RenderReport(ReportFormat::kJunit, *run, *events);
      if (!out) std::cerr << "faultline: cannot write " << junit << "\n";
    }
  }
  if (!json) {
    std::cout << "\nverdict: " << RunStatusName(outcome->status) << " — " << outcome->verdict
              << "\nrun id:  " << outcome->run_id << "   (faultline show " << outcome->run_id
              << ")\n";
  }
  return outcome->exit_code;
}

}  // namespace faultline::controller
