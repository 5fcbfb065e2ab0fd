// The agent daemon: FaultManager + reaper + gRPC server, run until SIGTERM,
// SIGINT or the death of a watched parent process, then halt (revert
// everything) and exit. `faultline-agent` (agent/main.cc) is flags → AgentConfig
// → RunAgentDaemon; the controller's embedded agent runs the same binary as a
// child with --parent-pid, so a kill -9 of the controller still reverts.
//
// Start-up order: recover the state file (revert what a previous process
// left), start the reaper, bind, serve, then announce readiness: the log line
// "agent listening address=HOST:PORT" and, if asked, the ready file (one line:
// the bound address, e.g. "127.0.0.1:40123" or "unix:/run/x.sock", written
// atomically; removed again at exit).
//
// Access (issue 6): a TCP listener that other hosts can reach serves mutual
// TLS (ServerTls over config.tls; client certificates are judged per call by
// AgentServiceImpl) unless the operator passed --insecure, which is logged
// loudly at every start. Unix sockets and loopback may stay plaintext. SIGHUP
// re-reads the TLS files (ServerTls::Reload) and touches nothing else: active
// faults, leases and open connections stay as they are.
#ifndef FAULTLINE_AGENT_SERVER_AGENT_DAEMON_H_
#define FAULTLINE_AGENT_SERVER_AGENT_DAEMON_H_

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include <optional>

#include "agent/access/access.h"
#include "agent/access/authorization.h"
#include "agent/host/clock.h"
#include "agent/manager/fault_manager.h"
#include "agent/policy/policy.h"
#include "agent/server/agent_service.h"
#include "common/tls.h"
#include "grpcpp/grpcpp.h"

namespace faultline::agent {

struct AgentConfig {
  // "HOST:PORT" (port 0 = pick one) or "unix:/path" (a stale socket there is
  // removed; the new one is chmod 0600).
  std::string listen = "127.0.0.1:7431";
  std::filesystem::path state_dir = "/var/lib/faultline-agent";
  size_t max_faults = 32;
  std::chrono::milliseconds default_lease_ttl{15000};
  double memory_reserve_pct = 10.0;
  // "" = faultline-stressor next to /proc/self/exe (DefaultStressorPath()).
  std::string stressor_path;
  // Halt and exit when this process exits. 0 = none.
  pid_t parent_pid = 0;
  // Where to write the bound address once serving. "" = none.
  std::string ready_file;

  // Mutual TLS for a TCP listener: all three files or none. Required when
  // `listen` is not local-only (IsLocalOnlyAddress) unless `insecure`. Not
  // used on a unix socket (controllers never speak TLS to one).
  TlsFiles tls;
  // Serve a non-local address in plaintext (logged as a warning at start).
  bool insecure = false;
  // Audit trail (agent/access/audit_log.h). "" = <state_dir>/audit.jsonl.
  std::string audit_log;
  // Who may do what (agent config `authorization:`); default: everyone.
  Authorization authorization;
  // The operator's limits on faults (agent config `policy:`); default: none.
  Policy policy;

  // Seams for tests and later issues.
  FaultFactory factory;                          // empty = MakeFault
  AgentServiceImpl::KindsFn capabilities;        // empty = HostCapabilities
  const Clock* clock = nullptr;                  // null = the real clock
  std::chrono::milliseconds reaper_period{100};  // 0 = no reaper (tests call Tick)
  // Set: used as is instead of building one from tls / audit_log /
  // authorization (tests that bring their own ServerTls and AuditLog).
  std::optional<AccessOptions> access;
};

// faultline-stressor in the directory of /proc/self/exe ("" if unreadable).
std::string DefaultStressorPath();

// A serving agent. Start() returns it ready; Stop() or the destructor
// reverts and shuts down. Thread-safe.
class AgentServer {
 public:
  // Validates the config (InvalidArgument; also a non-local listen address
  // without TLS or --insecure, and TLS files that fail CheckTlsFiles),
  // builds the TLS state (snapshot in <state_dir>/tls) and opens the audit
  // log (errors of ServerTls::Create / AuditLog::Open), recovers the state
  // dir (errors of FaultManager::Recover except DataLoss, which is logged
  // and survived), starts the reaper, binds (Unavailable when the address
  // cannot be bound, FailedPrecondition when a non-socket file sits at a
  // unix path), serves and writes the ready file.
  static absl::StatusOr<std::unique_ptr<AgentServer>> Start(const AgentConfig& config);

  // Stop("shutdown") if not stopped yet.
  ~AgentServer();
  AgentServer(const AgentServer&) = delete;
  AgentServer& operator=(const AgentServer&) = delete;

  // Reverts every fault (revert_reason `reason`), then stops serving and
  // removes the ready file. Idempotent: later calls return an empty response.
  v1::HaltResponse Stop(const std::string& reason);

  // The bound address: "127.0.0.1:40123" (the real port) or "unix:/path".
  const std::string& address() const { return address_; }
  FaultManager& manager() { return *manager_; }
  // What Recover() reverted (or failed to) at start.
  const std::vector<v1::FaultStatus>& recovered() const { return recovered_; }

  // Re-reads the TLS files (ServerTls::Reload): the new CA judges client
  // certificates at once, the new server certificate is presented within
  // about a second. On error the previous files stay in force. Faults,
  // leases and connections are untouched. FailedPrecondition when the
  // listener is plaintext. Idempotent.
  absl::Status ReloadTls();
  bool uses_tls() const { return tls_ != nullptr; }

 private:
  AgentServer() = default;

  std::string ready_file_;
  std::string address_;
  std::vector<v1::FaultStatus> recovered_;
  std::unique_ptr<Clock> own_clock_;
  std::unique_ptr<FaultManager> manager_;
  std::shared_ptr<ServerTls> tls_;  // null = plaintext listener
  std::unique_ptr<AgentServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

// Runs the daemon until SIGTERM/SIGINT (Halt "shutdown") or the parent's exit
// (Halt "parent exited"); SIGHUP reloads the TLS files (AgentServer::ReloadTls)
// and logs the outcome. Blocks SIGTERM/SIGINT in the calling thread before
// any thread starts and waits for them on a signalfd. Logging must already be
// set up. Returns the process exit code: 0 clean (everything reverted), 1
// fatal runtime error (cannot bind, cannot create the state dir) or a fault
// that could not be reverted at exit (it stays in the state file), 2 bad
// config.
int RunAgentDaemon(const AgentConfig& config);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_SERVER_AGENT_DAEMON_H_
