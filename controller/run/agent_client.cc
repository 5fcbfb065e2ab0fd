#include "controller/run/agent_client.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace faultline::controller {

AgentClient::AgentClient(std::string name, std::string address,
                         std::chrono::milliseconds deadline)
    : name_(std::move(name)), address_(std::move(address)), deadline_(deadline) {
  NewChannel();
}

void AgentClient::NewChannel() {
  // TLS arrives with the security issue; the channel is the only place to change.
  stub_ = v1::AgentService::NewStub(
      grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> AgentClient::Call(const char* what, const Request& request,
                                           Method method, std::chrono::milliseconds deadline) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       (deadline.count() > 0 ? deadline : deadline_));
  Response response;
  grpc::Status status = ((*stub_).*method)(&context, request, &response);
  if (!status.ok()) {
    return Annotate(FromGrpcStatus(status),
                    absl::StrCat("agent ", name_, " (", address_, "): ", what));
  }
  return response;
}

absl::StatusOr<v1::CapabilitiesResponse> AgentClient::Capabilities() {
  return Call<v1::CapabilitiesRequest, v1::CapabilitiesResponse>(
      "capabilities", v1::CapabilitiesRequest(), &v1::AgentService::Stub::Capabilities);
}

absl::StatusOr<v1::CapabilitiesResponse> AgentClient::Connect() {
  using std::chrono::milliseconds;
  const auto start = std::chrono::steady_clock::now();
  const auto spent = [&] {
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  };
  absl::StatusOr<v1::CapabilitiesResponse> answer = Capabilities();
  for (int attempt = 2; attempt <= 3; ++attempt) {
    if (answer.ok() || answer.status().code() != absl::StatusCode::kUnavailable ||
        spent() >= deadline_ / 2) {
      break;
    }
    std::this_thread::sleep_for(std::min(milliseconds(50 * (attempt - 1)), deadline_ / 10));
    // A fresh channel: the failed one sits in its reconnect backoff (1 s).
    NewChannel();
    answer = Call<v1::CapabilitiesRequest, v1::CapabilitiesResponse>(
        "capabilities", v1::CapabilitiesRequest(), &v1::AgentService::Stub::Capabilities,
        std::max(milliseconds(1), deadline_ - spent()));
  }
  return answer;
}

absl::StatusOr<v1::ApplyResponse> AgentClient::Apply(const v1::ApplyRequest& request) {
  return Call<v1::ApplyRequest, v1::ApplyResponse>("apply", request,
                                                   &v1::AgentService::Stub::Apply);
}

absl::StatusOr<v1::RevertResponse> AgentClient::Revert(const std::string& fault_id) {
  v1::RevertRequest request;
  request.set_fault_id(fault_id);
  return Call<v1::RevertRequest, v1::RevertResponse>("revert", request,
                                                     &v1::AgentService::Stub::Revert);
}

absl::StatusOr<v1::ListResponse> AgentClient::List(const std::string& run_id) {
  v1::ListRequest request;
  request.set_run_id(run_id);
  return Call<v1::ListRequest, v1::ListResponse>("list", request, &v1::AgentService::Stub::List);
}

absl::StatusOr<v1::RenewLeaseResponse> AgentClient::RenewLease(const std::string& run_id,
                                                               std::chrono::milliseconds ttl) {
  v1::RenewLeaseRequest request;
  request.set_run_id(run_id);
  request.set_ttl_ms(static_cast<uint64_t>(ttl.count()));
  // A renewal slower than a third of the TTL is as good as lost.
  return Call<v1::RenewLeaseRequest, v1::RenewLeaseResponse>(
      "renew lease", request, &v1::AgentService::Stub::RenewLease,
      std::min(deadline_, std::max(std::chrono::milliseconds(100), ttl / 3)));
}

absl::StatusOr<v1::HaltResponse> AgentClient::Halt(const std::string& reason) {
  v1::HaltRequest request;
  request.set_reason(reason);
  return Call<v1::HaltRequest, v1::HaltResponse>("halt", request, &v1::AgentService::Stub::Halt);
}

}  // namespace faultline::controller
