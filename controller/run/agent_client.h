// AgentClient: the controller's handle on one agent, over gRPC. Every call has
// a deadline so one hung host cannot stall a run; transport failures come back
// as Unavailable / DeadlineExceeded, agent refusals with the agent's code.
//
// Thread-safe (gRPC stubs are); one client per agent address.
#ifndef FAULTLINE_CONTROLLER_RUN_AGENT_CLIENT_H_
#define FAULTLINE_CONTROLLER_RUN_AGENT_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "faultline/v1/agent.grpc.pb.h"

namespace faultline::controller {

class AgentClient {
 public:
  // `address` is "host:port" or "unix:/path". No I/O until the first call.
  AgentClient(std::string name, std::string address, std::chrono::milliseconds deadline);

  const std::string& name() const { return name_; }
  const std::string& address() const { return address_; }

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

  std::string name_;
  std::string address_;
  std::chrono::milliseconds deadline_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
};

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_RUN_AGENT_CLIENT_H_
