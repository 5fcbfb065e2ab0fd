// AgentServiceImpl: the gRPC face of FaultManager (proto/faultline/v1/
// agent.proto). Each RPC is one manager call; absl::Status becomes
// grpc::Status through common/grpc_status.h and nothing else happens here:
// validation, idempotency, leases and logging live in the manager.
//
// Thread-safe: gRPC calls the handlers concurrently; FaultManager serialises.
#ifndef FAULTLINE_AGENT_SERVER_AGENT_SERVICE_H_
#define FAULTLINE_AGENT_SERVER_AGENT_SERVICE_H_

#include <functional>
#include <vector>

#include "agent/manager/fault_manager.h"
#include "faultline/v1/agent.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace faultline::agent {

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  // What Capabilities reports per kind (HostCapabilities in the daemon).
  using KindsFn = std::function<std::vector<v1::KindCapability>()>;

  // `manager` is not owned and must outlive the service.
  AgentServiceImpl(FaultManager* manager, KindsFn kinds);

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
  FaultManager* manager_;
  KindsFn kinds_;
};

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_SERVER_AGENT_SERVICE_H_
