// AgentServiceImpl: the gRPC face of FaultManager (proto/faultline/v1/
// agent.proto). Every handler runs the same four steps:
//   1. identity: ServerTls::VerifyPeer when the listener uses TLS (a missing,
//      foreign or expired client certificate ends the call: Unauthenticated
//      with the reason), else AnonymousPeer;
//   2. authorization: Authorization::Decide for the RPC's action (and, for
//      Apply, the fault kind): PermissionDenied naming the rules;
//   3. the one manager call; absl::Status becomes grpc::Status through
//      common/grpc_status.h;
//   4. audit: a line for every Apply (dry runs too), Revert, RenewLease and
//      Halt whatever the result, and for every refused call of any RPC.
// Validation, idempotency, leases and fault logging live in the manager.
//
// Thread-safe: gRPC calls the handlers concurrently; FaultManager serialises.
#ifndef FAULTLINE_AGENT_SERVER_AGENT_SERVICE_H_
#define FAULTLINE_AGENT_SERVER_AGENT_SERVICE_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/access/access.h"
#include "agent/manager/fault_manager.h"
#include "faultline/v1/agent.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace faultline::agent {

// The IP address in a gRPC peer string: "1.2.3.4" for "ipv4:1.2.3.4:5678",
// "2001:db8::1" for "ipv6:[2001:db8::1]:5678", "1.2.3.4" for an IPv4-mapped
// "ipv6:[::ffff:1.2.3.4]:5678"; "" for "unix:..." and anything else.
std::string PeerAddress(const std::string& grpc_peer);

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  // What Capabilities reports per kind (HostCapabilities in the daemon).
  using KindsFn = std::function<std::vector<v1::KindCapability>()>;

  // `manager` is not owned and must outlive the service. `access` defaults
  // to plaintext, no rules, no audit (today's loopback/unix behaviour). Logs
  // a warning when the configuration lets more callers in than it seems to:
  // TLS without rules (every certificate from the CA may do everything), or
  // rules on a plaintext listener that name no "anonymous" identity (every
  // call refused).
  AgentServiceImpl(FaultManager* manager, KindsFn kinds, AccessOptions access = {});

  // The TCP port the server listens on (0 for a unix socket), known once
  // bound; Apply passes it and the caller's address (PeerAddress) to the
  // manager so network faults exempt the control channel.
  void set_control_port(int port) { control_port_ = port; }

  grpc::Status Apply(grpc::ServerContext* context, const v1::ApplyRequest* request,
                     v1::ApplyResponse* response) override;
  grpc::Status Revert(grpc::ServerContext* context, const v1::RevertRequest* request,
                      v1::RevertResponse* response) override;
  grpc::Status List(grpc::ServerContext* context, const v1::ListRequest* request,
                    v1::ListResponse* response) override;
  grpc::Status RenewLease(grpc::ServerContext* context, const v1::RenewLeaseRequest* request,
                          v1::RenewLeaseResponse* response) override;
  // Version, hostname, kernel release, kinds, max_faults, default lease.
  grpc::Status Capabilities(grpc::ServerContext* context, const v1::CapabilitiesRequest* request,
                            v1::CapabilitiesResponse* response) override;
  // Reverts everything; revert_reason is the request's reason, "halt" if empty.
  grpc::Status Halt(grpc::ServerContext* context, const v1::HaltRequest* request,
                    v1::HaltResponse* response) override;

 private:
  // Steps 1 and 2 for one call; fills the identity fields of `record`.
  // Unauthenticated or PermissionDenied when refused.
  absl::Status Admit(const grpc::ServerContext& context, Action action, absl::string_view kind,
                     AuditRecord* record) const;
  // Step 4: writes `record` with `result` and the time since `record.time`.
  // A failed write is logged (the call's outcome stands).
  void Audit(AuditRecord record, const absl::Status& result) const;

  FaultManager* manager_;
  KindsFn kinds_;
  std::atomic<int> control_port_{0};
  const AccessOptions access_;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_SERVER_AGENT_SERVICE_H_
