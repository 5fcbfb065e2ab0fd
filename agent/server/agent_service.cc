#include "agent/server/agent_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "common/grpc_status.h"
#include "common/version.h"

namespace faultline::agent {
namespace {

// Copies a value or converts an error; the one shape every handler shares.
template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

AgentServiceImpl::AgentServiceImpl(FaultManager* manager, KindsFn kinds)
    : manager_(manager), kinds_(std::move(kinds)) {}

std::string PeerAddress(const std::string& grpc_peer) {
  absl::string_view rest = grpc_peer;
  std::string address;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    const size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) return "";
    address = std::string(rest.substr(0, colon));
  } else if (absl::ConsumePrefix(&rest, "ipv6:[")) {
    const size_t bracket = rest.find(']');
    if (bracket == absl::string_view::npos) return "";
    address = std::string(rest.substr(0, bracket));
    // A dual-stack listener reports IPv4 callers as ::ffff:a.b.c.d.
    absl::string_view mapped = address;
    if (absl::ConsumePrefix(&mapped, "::ffff:") && mapped.find('.') != absl::string_view::npos) {
      address = std::string(mapped);
    }
  } else {
    return "";
  }
  // Percent-decoded zone ids ("fe80::1%25eth0") cannot be filtered on.
  if (address.find('%') != std::string::npos) return "";
  unsigned char buffer[sizeof(in6_addr)];
  const int family = address.find(':') == std::string::npos ? AF_INET : AF_INET6;
  return inet_pton(family, address.c_str(), buffer) == 1 ? address : "";
}

grpc::Status AgentServiceImpl::Apply(grpc::ServerContext* context,
                                     const v1::ApplyRequest* request,
                                     v1::ApplyResponse* response) {
  ApplyOrigin origin;
  origin.caller_address = PeerAddress(context->peer());
  origin.control_port = control_port_;
  return Reply(manager_->Apply(*request, origin), response);
}

grpc::Status AgentServiceImpl::Revert(grpc::ServerContext*, const v1::RevertRequest* request,
                                      v1::RevertResponse* response) {
  return Reply(manager_->Revert(request->fault_id()), response);
}

grpc::Status AgentServiceImpl::List(grpc::ServerContext*, const v1::ListRequest* request,
                                    v1::ListResponse* response) {
  *response = manager_->List(request->run_id());
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::RenewLease(grpc::ServerContext*,
                                          const v1::RenewLeaseRequest* request,
                                          v1::RenewLeaseResponse* response) {
  // uint64 on the wire; anything beyond int64 is far above max_duration and
  // the manager rejects it.
  const uint64_t ttl_ms =
      std::min<uint64_t>(request->ttl_ms(), std::numeric_limits<int64_t>::max());
  return Reply(manager_->RenewLease(request->run_id(),
                                    std::chrono::milliseconds(static_cast<int64_t>(ttl_ms))),
               response);
}

grpc::Status AgentServiceImpl::Capabilities(grpc::ServerContext*, const v1::CapabilitiesRequest*,
                                            v1::CapabilitiesResponse* response) {
  response->set_agent_version(kVersion);
  char hostname[256] = {};
  if (::gethostname(hostname, sizeof(hostname) - 1) == 0) response->set_hostname(hostname);
  struct utsname uts {};
  if (::uname(&uts) == 0) response->set_kernel(uts.release);
  if (kinds_) {
    for (v1::KindCapability& kind : kinds_()) *response->add_kinds() = std::move(kind);
  }
  response->set_max_faults(static_cast<uint32_t>(manager_->options().max_faults));
  response->set_default_lease_ttl_ms(
      static_cast<uint64_t>(manager_->options().default_lease_ttl.count()));
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::Halt(grpc::ServerContext*, const v1::HaltRequest* request,
                                    v1::HaltResponse* response) {
  *response = manager_->Halt(request->reason().empty() ? "halt" : request->reason());
  return grpc::Status::OK;
}

}  // namespace faultline::agent
