// AgentClient: the controller's handle on one agent, over gRPC. Every call has
// a deadline so one hung host cannot stall a run; transport failures come back
// as Unavailable / DeadlineExceeded, agent refusals with the agent's code.
//
// Connections are plaintext or mutual TLS (AgentTransport). Which one an
// agent gets is decided once per fleet by AgentTls, from the inventory's
// `tls:` section and the CLI's --tls-* flags: TCP agents use TLS when either
// configures it, unix-socket agents never do. A plaintext client meeting a
// TLS agent (or the reverse) fails with an error that says TLS is the likely
// cause.
//
// Thread-safe (gRPC stubs are); one client per agent address.
#ifndef FAULTLINE_CONTROLLER_RUN_AGENT_CLIENT_H_
#define FAULTLINE_CONTROLLER_RUN_AGENT_CLIENT_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/tls.h"
#include "controller/spec/experiment.h"
#include "faultline/v1/agent.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace faultline::controller {

// How to dial one agent. Cheap to copy (the credentials are shared).
struct AgentTransport {
  // Null = plaintext; else the controller's certificate and the CA agents'
  // certificates must chain to (MakeChannelCredentials).
  std::shared_ptr<grpc::ChannelCredentials> credentials{};
  // The server-name override (ChannelArgumentsFor) when set.
  std::string server_name{};

  bool tls() const { return credentials != nullptr; }
};

// One mutating agent call, after it returned (for the controller's journal).
struct AgentCallRecord {
  std::string agent, address, rpc /*Apply|Revert|RenewLease|Halt*/, fault_id, run_id, kind;
  bool dry_run = false;
  absl::Status result;
  std::chrono::milliseconds elapsed{0};
};

class AgentClient {
 public:
  // `address` is "host:port" or "unix:/path". No I/O until the first call.
  AgentClient(std::string name, std::string address, std::chrono::milliseconds deadline,
              AgentTransport transport = {});

  const std::string& name() const { return name_; }
  const std::string& address() const { return address_; }
  const AgentTransport& transport() const { return transport_; }

  // Called after every Apply, Revert, RenewLease and Halt (whatever the
  // result), on the calling thread. Set it before other threads share the
  // client; null = none.
  void set_call_observer(std::function<void(const AgentCallRecord&)> observer) {
    observer_ = std::move(observer);
  }

  // Each returns the agent's answer or its error: the agent's canonical code,
  // or Unavailable / DeadlineExceeded when it cannot be reached in time. The
  // message names the agent: "agent local (unix:/run/...): ...".
  absl::StatusOr<v1::CapabilitiesResponse> Capabilities();

  // The first call of a run or plan: Capabilities, but a connect refused at
  // once (Unavailable well inside the deadline) is retried on a fresh channel
  // after a short pause, up to three attempts within the deadline. With many
  // agents on one host a first connect now and then fails transiently; a host
  // that is really down still fails within one deadline. Not thread-safe:
  // call it before other threads share the client.
  absl::StatusOr<v1::CapabilitiesResponse> Connect();
  absl::StatusOr<v1::ApplyResponse> Apply(const v1::ApplyRequest& request);
  absl::StatusOr<v1::RevertResponse> Revert(const std::string& fault_id);
  absl::StatusOr<v1::ListResponse> List(const std::string& run_id);
  absl::StatusOr<v1::RenewLeaseResponse> RenewLease(const std::string& run_id,
                                                    std::chrono::milliseconds ttl);
  absl::StatusOr<v1::HaltResponse> Halt(const std::string& reason);

 private:
  template <typename Request, typename Response, typename Method>
  absl::StatusOr<Response> Call(const char* what, const Request& request, Method method,
                                std::chrono::milliseconds deadline = std::chrono::milliseconds(0));

  void NewChannel();
  void Observe(const char* rpc, const std::string& fault_id, const std::string& run_id,
               const std::string& kind, bool dry_run, const absl::Status& result,
               std::chrono::steady_clock::time_point start) const;

  std::string name_;
  std::string address_;
  std::chrono::milliseconds deadline_;
  AgentTransport transport_;
  std::function<void(const AgentCallRecord&)> observer_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
};

// The transports of one fleet's agents: the inventory's `tls:` (may be
// absent) with the CLI's --tls-* flags on top. Built once per run, plan or
// halt; cheap to copy.
class AgentTls {
 public:
  // `flags`: --tls-ca/--tls-cert/--tls-key (all three or none; when set they
  // replace the inventory's files) and --tls-server-name (replaces every
  // server name). Reads and checks the files (CheckTlsFiles) so a bad file is
  // reported before any agent is dialled. Errors: InvalidArgument when the
  // flags are incomplete; CheckTlsFiles's codes otherwise, the message
  // prefixed with where the files were named ("fleet.yaml:4:6: tls: ..." or
  // "--tls-*: ..."). Changes nothing.
  static absl::StatusOr<AgentTls> Create(const Inventory* inventory, const TlsFiles& flags);

  // Plaintext for every agent.
  AgentTls() = default;

  // True when TCP agents get TLS.
  bool enabled() const { return credentials_ != nullptr; }

  // Who the agents see: the subject of the client certificate
  // ("CN=faultline-controller,O=faultline"); "" when TLS is off.
  const std::string& identity() const { return identity_; }

  // The transport for the agent at `address`, named `inventory_name` in the
  // inventory ("" for explicit addresses): plaintext for unix sockets and
  // when TLS is off; else TLS with the flag's, the agent's, or the
  // inventory's server name, in that order.
  AgentTransport For(const std::string& inventory_name, const std::string& address) const;

 private:
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string identity_;
  std::string flag_server_name_;
  std::string inventory_server_name_;
  std::map<std::string, std::string> agent_server_names_;  // inventory name -> server_name
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_RUN_AGENT_CLIENT_H_
