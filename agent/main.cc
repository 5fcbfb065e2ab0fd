// faultline-agent: config file + flags → AgentConfig → RunAgentDaemon. No
// logic here. A flag given on the command line wins over the config file.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/config/agent_config_file.h"
#include "agent/server/agent_daemon.h"
#include "boost/program_options.hpp"
#include "common/logging.h"
#include "common/units.h"
#include "common/version.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  // Debian's Abseil leaves absl::Mutex deadlock detection on; gRPC locks
  // constantly and the cycle bookkeeping costs CPU on every RPC.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  faultline::agent::AgentConfig config;
  std::string lease_ttl = "15s";
  std::string log_level = "info";
  std::string log_format = "text";
  int parent_pid = 0;
  int max_faults = static_cast<int>(config.max_faults);
  std::string config_path;

  po::options_description flags("faultline-agent: injects faults on this host for the faultline "
                                 "controller and always takes them back out.\nFlags");
  // clang-format off
  flags.add_options()
      ("listen", po::value(&config.listen)->default_value(config.listen),
       "HOST:PORT (port 0 picks one) or unix:/path")
      ("state-dir", po::value<std::string>()->default_value(config.state_dir.string()),
       "directory of the write-ahead state file")
      ("log-level", po::value(&log_level)->default_value(log_level),
       "trace, debug, info, warn, error, off")
      ("log-format", po::value(&log_format)->default_value(log_format), "text or json")
      ("max-faults", po::value(&max_faults)->default_value(max_faults),
       "most faults active at once")
      ("lease-ttl", po::value(&lease_ttl)->default_value(lease_ttl),
       "lease given to a run that names none, e.g. 15s")
      ("memory-reserve-pct",
       po::value(&config.memory_reserve_pct)->default_value(config.memory_reserve_pct),
       "memory.pressure never leaves less than this % of MemTotal available")
      ("stressor-path", po::value(&config.stressor_path),
       "faultline-stressor binary (default: next to this binary)")
      ("parent-pid", po::value(&parent_pid)->default_value(0),
       "halt and exit when this process exits (0 = none)")
      ("ready-file", po::value(&config.ready_file),
       "once serving, write the bound address to this file")
      ("config", po::value(&config_path),
       "agent config file (YAML: tls, audit_log, authorization, policy, and the flags "
       "above by their snake_case names); flags given here win")
      ("tls-ca", po::value(&config.tls.ca), "CA bundle client certificates must chain to")
      ("tls-cert", po::value(&config.tls.cert), "this agent's certificate (PEM)")
      ("tls-key", po::value(&config.tls.key), "its private key (PEM, unencrypted)")
      ("insecure", po::bool_switch(&config.insecure),
       "serve a non-loopback address without TLS (anyone who can reach it can inject faults)")
      ("version", "print the version and exit")
      ("help", "print this help and exit");
  // clang-format on

  po::variables_map vars;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).run(), vars);
    po::notify(vars);
  } catch (const po::error& e) {
    std::cerr << "faultline-agent: " << e.what() << "\n(see --help)\n";
    return 2;
  }
  if (vars.count("help")) {
    std::cout << flags << "\n";
    return 0;
  }
  if (vars.count("version")) {
    std::cout << "faultline-agent " << faultline::kVersion << "\n";
    return 0;
  }
  config.state_dir = vars["state-dir"].as<std::string>();
  if (!config_path.empty()) {
    std::vector<faultline::Diagnostic> diagnostics;
    absl::StatusOr<faultline::agent::AgentConfigFile> file =
        faultline::agent::LoadAgentConfigFile(config_path, &diagnostics);
    if (!file.ok()) {
      if (diagnostics.empty()) {
        std::cerr << "faultline-agent: " << file.status().message() << "\n";
      }
      for (const faultline::Diagnostic& diagnostic : diagnostics) {
        std::cerr << diagnostic.ToString() << "\n";
      }
      return 2;
    }
    auto from_file = [&vars](const char* flag) { return vars[flag].defaulted(); };
    if (file->listen && from_file("listen")) config.listen = *file->listen;
    if (file->state_dir && from_file("state-dir")) config.state_dir = *file->state_dir;
    if (file->max_faults && from_file("max-faults")) {
      max_faults = static_cast<int>(*file->max_faults);
    }
    if (file->lease_ttl && from_file("lease-ttl")) {
      lease_ttl = absl::StrCat(file->lease_ttl->count(), "ms");
    }
    if (file->memory_reserve_pct && from_file("memory-reserve-pct")) {
      config.memory_reserve_pct = *file->memory_reserve_pct;
    }
    if (!vars.count("tls-ca")) config.tls.ca = file->tls.ca;
    if (!vars.count("tls-cert")) config.tls.cert = file->tls.cert;
    if (!vars.count("tls-key")) config.tls.key = file->tls.key;
    config.audit_log = file->audit_log;
    if (file->authorization) config.authorization = *file->authorization;
    if (file->policy) config.policy = *file->policy;
  }
  auto ttl = faultline::ParseDuration(lease_ttl);
  if (!ttl.ok()) {
    std::cerr << "faultline-agent: --lease-ttl: " << ttl.status().message() << "\n";
    return 2;
  }
  config.default_lease_ttl = *ttl;
  if (parent_pid < 0) {
    std::cerr << "faultline-agent: --parent-pid must be >= 0, got " << parent_pid << "\n";
    return 2;
  }
  config.parent_pid = parent_pid;
  if (max_faults < 1) {
    std::cerr << "faultline-agent: --max-faults must be >= 1, got " << max_faults << "\n";
    return 2;
  }
  config.max_faults = static_cast<size_t>(max_faults);
  if (absl::Status logging = faultline::InitLogging("faultline-agent", log_level, log_format);
      !logging.ok()) {
    std::cerr << "faultline-agent: " << logging.message() << "\n";
    return 2;
  }
  return faultline::agent::RunAgentDaemon(config);
}
