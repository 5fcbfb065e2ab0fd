#include "agent/server/agent_daemon.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/access/audit_log.h"
#include "agent/faults/fault_factory.h"
#include "agent/faults/network/support.h"
#include "agent/manager/state_file.h"
#include "common/status.h"
#include "common/tls.h"
#include "common/unique_fd.h"
#include "spdlog/spdlog.h"

namespace faultline::agent {
namespace {

constexpr absl::string_view kUnixPrefix = "unix:";
// Largest request the agent accepts; an ApplyRequest is a few hundred bytes.
constexpr int kMaxReceiveBytes = 1 << 20;

// "unix:/p" and "unix:///p" both name /p.
std::string UnixPath(absl::string_view listen) {
  absl::string_view path = listen.substr(kUnixPrefix.size());
  if (absl::StartsWith(path, "//")) path.remove_prefix(2);
  return std::string(path);
}

absl::Status ValidateConfig(const AgentConfig& config) {
  if (config.listen.empty()) return absl::InvalidArgumentError("listen address is empty");
  if (absl::StartsWith(config.listen, kUnixPrefix)) {
    if (UnixPath(config.listen).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("listen address \"", config.listen, "\" names no socket path"));
    }
  } else if (config.listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address \"", config.listen, "\" must be HOST:PORT or unix:/path"));
  }
  if (config.state_dir.empty()) return absl::InvalidArgumentError("state dir is empty");
  if (config.max_faults == 0) return absl::InvalidArgumentError("max_faults must be >= 1");
  if (config.default_lease_ttl.count() <= 0) {
    return absl::InvalidArgumentError("lease ttl must be > 0");
  }
  if (!(config.memory_reserve_pct >= 0 && config.memory_reserve_pct < 100)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory reserve must be 0..<100 percent, got ", config.memory_reserve_pct));
  }
  if (config.parent_pid < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent pid must be > 0, got ", config.parent_pid));
  }
  if (config.access.has_value()) return absl::OkStatus();
  if (!config.tls.empty()) {
    std::vector<std::string> missing;
    if (config.tls.ca.empty()) missing.push_back("ca");
    if (config.tls.cert.empty()) missing.push_back("cert");
    if (config.tls.key.empty()) missing.push_back("key");
    if (!missing.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tls needs all three of ca, cert and key; missing: ", absl::StrJoin(missing, ", ")));
    }
    if (absl::StartsWith(config.listen, kUnixPrefix)) return absl::OkStatus();
    if (absl::Status files = CheckTlsFiles(config.tls); !files.ok()) {
      // Whatever the file's problem, it is a configuration error.
      return absl::InvalidArgumentError(files.message());
    }
  } else if (!config.insecure && !IsLocalOnlyAddress(config.listen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to listen on ", config.listen,
        " without tls: other hosts could inject faults here; give --tls-ca, --tls-cert and "
        "--tls-key (or tls: in --config), listen on loopback or a unix socket, or pass "
        "--insecure to accept the risk"));
  }
  return absl::OkStatus();
}

// The TLS state, audit log and rules of a config that brings no prebuilt
// AccessOptions.
absl::StatusOr<AccessOptions> BuildAccess(const AgentConfig& config,
                                          std::shared_ptr<ServerTls>* tls) {
  AccessOptions access;
  const bool unix_socket = absl::StartsWith(config.listen, kUnixPrefix);
  if (!config.tls.empty() && unix_socket) {
    spdlog::warn("tls files ignored: {} is a unix socket, which controllers reach in plaintext",
                 config.listen);
  } else if (!config.tls.empty()) {
    FL_ASSIGN_OR_RETURN(std::unique_ptr<ServerTls> created,
                        ServerTls::Create(config.tls, (config.state_dir / "tls").string()));
    *tls = std::move(created);
    access.tls = *tls;
    absl::StatusOr<std::string> subject = CertificateSubject(config.tls.cert);
    spdlog::info("tls on ca={} cert={} subject=\"{}\"", config.tls.ca, config.tls.cert,
                 subject.ok() ? *subject : std::string("?"));
  } else if (!unix_socket && !IsLocalOnlyAddress(config.listen)) {
    spdlog::warn("INSECURE: listening on {} in PLAINTEXT (--insecure): anyone who can reach "
                 "this port can inject faults on this host and nobody is authenticated",
                 config.listen);
  }
  access.authorization = config.authorization;
  const std::string audit_path = config.audit_log.empty()
                                     ? (config.state_dir / "audit.jsonl").string()
                                     : config.audit_log;
  FL_ASSIGN_OR_RETURN(std::unique_ptr<AuditLog> audit, AuditLog::Open(audit_path));
  access.audit = std::move(audit);
  spdlog::info("audit log path={} authorization_rules={}", audit_path,
               config.authorization.rules().size());
  return access;
}

// Removes a socket file left by a dead agent. A live one (accepting
// connections) or a file that is not a socket is never removed.
absl::Status RemoveStaleSocket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to replace ", path, ": not a socket"));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (probe.valid() &&
      ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another process is serving on ", path));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, absl::StrCat("remove stale socket ", path));
  }
  return absl::OkStatus();
}

}  // namespace

std::string DefaultStressorPath() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return (self.parent_path() / "faultline-stressor").string();
}

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(const AgentConfig& config) {
  FL_RETURN_IF_ERROR(ValidateConfig(config));
  std::unique_ptr<AgentServer> agent(new AgentServer());
  AccessOptions access;
  if (config.access.has_value()) {
    access = *config.access;
    // Every ServerTls is made non-const by ServerTls::Create; the service
    // only needs a const view, the reload path the mutable one.
    agent->tls_ = std::const_pointer_cast<ServerTls>(access.tls);
  } else {
    FL_ASSIGN_OR_RETURN(access, BuildAccess(config, &agent->tls_));
  }

  const Clock* clock = config.clock;
  if (clock == nullptr) {
    agent->own_clock_ = std::make_unique<RealClock>();
    clock = agent->own_clock_.get();
  }
  ManagerOptions options;
  options.state_dir = config.state_dir;
  options.max_faults = config.max_faults;
  options.default_lease_ttl = config.default_lease_ttl;
  options.fault_context.stressor_path =
      config.stressor_path.empty() ? DefaultStressorPath() : config.stressor_path;
  options.fault_context.memory_reserve_pct = config.memory_reserve_pct;
  if (config.parent_pid > 0) options.fault_context.protected_pids.push_back(config.parent_pid);
  options.policy = config.policy;
  // Once per start, before any fault is built (recovery included).
  options.fault_context.network = DetectNetworkSupport();
  {
    const NetworkSupport& n = options.fault_context.network;
    spdlog::info("network engines netem={} htb={} tbf={} u32={} ifb={} nftables={} nfqueue={}{}",
                 n.netem, n.htb, n.tbf, n.u32, n.ifb, n.nftables, n.nfqueue,
                 n.missing.empty() ? "" : absl::StrCat(" missing=\"", n.missing, "\""));
  }
  agent->manager_ = std::make_unique<FaultManager>(
      options, clock, config.factory ? config.factory : FaultFactory(MakeFault));

  absl::StatusOr<std::vector<v1::FaultStatus>> recovered = agent->manager_->Recover();
  if (recovered.ok()) {
    agent->recovered_ = *std::move(recovered);
  } else if (recovered.status().code() == absl::StatusCode::kDataLoss) {
    // The corrupt file is kept for people to inspect; refusing to serve would
    // only stop Halt and new runs from working.
    spdlog::error("state recovery failed error=\"{}\" (serving anyway)",
                  std::string(recovered.status().message()));
  } else {
    return Annotate(recovered.status(), "recover agent state");
  }
  if (!agent->recovered_.empty()) {
    size_t failed = 0;
    for (const v1::FaultStatus& status : agent->recovered_) {
      failed += status.state() != v1::FAULT_STATE_REVERTED;
    }
    spdlog::info("recovery done reverted={} failed={}", agent->recovered_.size() - failed,
                 failed);
  }
  if (config.reaper_period.count() > 0) agent->manager_->StartReaper(config.reaper_period);

  AgentServiceImpl::KindsFn kinds = config.capabilities;
  if (!kinds) {
    FaultContext context = options.fault_context;
    kinds = [context] { return HostCapabilities(context); };
  }
  agent->service_ = std::make_unique<AgentServiceImpl>(agent->manager_.get(), std::move(kinds),
                                                       std::move(access));

  const bool unix_socket = absl::StartsWith(config.listen, kUnixPrefix);
  if (unix_socket) FL_RETURN_IF_ERROR(RemoveStaleSocket(UnixPath(config.listen)));
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second agent bind
  // the same port silently and split the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  int port = 0;
  builder.AddListeningPort(config.listen,
                           agent->tls_ ? agent->tls_->credentials()
                                       : grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(agent->service_.get());
  agent->server_ = builder.BuildAndStart();
  if (agent->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen));
  }
  if (unix_socket) {
    const std::string path = UnixPath(config.listen);
    if (::chmod(path.c_str(), 0600) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("chmod ", path));
    }
    agent->address_ = config.listen;
  } else {
    agent->address_ =
        absl::StrCat(config.listen.substr(0, config.listen.rfind(':')), ":", port);
    agent->service_->set_control_port(port);
  }
  spdlog::info("agent listening address={}", agent->address_);

  if (!config.ready_file.empty()) {
    FL_RETURN_IF_ERROR(Annotate(
        WriteFileAtomically(config.ready_file, absl::StrCat(agent->address_, "\n"), 0644),
        "write ready file"));
    agent->ready_file_ = config.ready_file;
  }
  return agent;
}

absl::Status AgentServer::ReloadTls() {
  if (tls_ == nullptr) return absl::FailedPreconditionError("the listener does not use tls");
  return tls_->Reload();
}

AgentServer::~AgentServer() {
  v1::HaltResponse halted = Stop("shutdown");
  for (const std::string& error : halted.errors()) {
    spdlog::error("fault revert failed at shutdown error=\"{}\"", error);
  }
}

v1::HaltResponse AgentServer::Stop(const std::string& reason) {
  std::lock_guard lock(stop_mu_);
  if (stopped_) return v1::HaltResponse();
  stopped_ = true;
  v1::HaltResponse halted;
  // Revert first: that is what matters most when we are being stopped. An
  // Apply that slips in before the server stops is reverted by the
  // manager's destructor.
  if (manager_ != nullptr) halted = manager_->Halt(reason);
  if (server_ != nullptr) {
    // In-flight calls get a short grace to answer. The deadline is also what
    // bounds the wait for idle client connections (a controller holds its
    // channel open), so it stays well under the controller's stop timeout.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  if (manager_ != nullptr) manager_->StopReaper();
  if (!ready_file_.empty()) {
    std::error_code ec;
    std::filesystem::remove(ready_file_, ec);
  }
  return halted;
}

int RunAgentDaemon(const AgentConfig& config) {
  if (absl::Status valid = ValidateConfig(config); !valid.ok()) {
    spdlog::error("bad agent config error=\"{}\"", std::string(valid.message()));
    return 2;
  }
  // Block the stop signals before any thread exists so every thread inherits
  // the mask and they reach only the signalfd below: no code runs in a
  // signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // SIGHUP's default action would kill the agent without reverting (a
  // dropped ssh session that started it). It is consumed here and leaves
  // active faults alone; certificate reload will hang off it.
  sigaddset(&stop_signals, SIGHUP);
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
  absl::Cleanup restore_mask = [&previous] { pthread_sigmask(SIG_SETMASK, &previous, nullptr); };
  UniqueFd signal_fd(::signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (!signal_fd.valid()) {
    spdlog::error("agent failed to start error=\"{}\"",
                  ErrnoToStatus(errno, "signalfd").ToString());
    return 1;
  }

  // The parent is watched through a pidfd: it becomes readable when the
  // process exits, whatever killed it. If the pid was already reused before
  // we got here we would watch a stranger; callers pass their own pid right
  // after spawning us, which keeps that window tiny.
  UniqueFd parent_fd;
  if (config.parent_pid > 0) {
    parent_fd.Reset(static_cast<int>(::syscall(SYS_pidfd_open, config.parent_pid, 0)));
    if (!parent_fd.valid()) {
      if (errno == ESRCH) {
        spdlog::warn("parent exited before the agent started pid={}; exiting",
                     config.parent_pid);
        return 0;
      }
      spdlog::error("agent failed to start error=\"{}\"",
                    ErrnoToStatus(errno, absl::StrCat("pidfd_open ", config.parent_pid))
                        .ToString());
      return 1;
    }
  }

  absl::StatusOr<std::unique_ptr<AgentServer>> server = AgentServer::Start(config);
  if (!server.ok()) {
    spdlog::error("agent failed to start error=\"{}\"", std::string(server.status().message()));
    return server.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }

  std::string reason;
  while (reason.empty()) {
    pollfd fds[2] = {{signal_fd.get(), POLLIN, 0}, {parent_fd.get(), POLLIN, 0}};
    const int nfds = parent_fd.valid() ? 2 : 1;
    if (::poll(fds, nfds, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("agent wait failed error=\"{}\"", ErrnoToStatus(errno, "poll").ToString());
      reason = "shutdown";
      break;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(signal_fd.get(), &info, sizeof(info)) != sizeof(info)) continue;
      if (info.ssi_signo == SIGHUP) {
        if (!(*server)->uses_tls()) {
          spdlog::info("signal received signal=SIGHUP; nothing to reload, faults kept");
        } else if (absl::Status reloaded = (*server)->ReloadTls(); reloaded.ok()) {
          spdlog::info("signal received signal=SIGHUP; tls reloaded ca={} cert={}, faults kept",
                       config.tls.ca, config.tls.cert);
        } else {
          spdlog::error("signal received signal=SIGHUP; tls reload failed error=\"{}\" "
                        "(the previous certificates stay in force, faults kept)",
                        std::string(reloaded.message()));
        }
        continue;
      }
      spdlog::info("signal received signal={}; halting", ::strsignal(info.ssi_signo));
      reason = "shutdown";
    } else if (nfds == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      spdlog::warn("parent exited pid={}; halting", config.parent_pid);
      reason = "parent exited";
    }
  }

  v1::HaltResponse halted = (*server)->Stop(reason);
  for (const std::string& error : halted.errors()) {
    spdlog::error("fault revert failed at exit error=\"{}\" (kept in the state file)", error);
  }
  server->reset();
  spdlog::info("agent stopped reason=\"{}\" reverted={} failed={}", reason,
               halted.reverted_size(), halted.errors_size());
  return halted.errors_size() == 0 ? 0 : 1;
}

}  // namespace faultline::agent
