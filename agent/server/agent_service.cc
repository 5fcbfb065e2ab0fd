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
#include "agent/faults/fault_factory.h"
#include "common/grpc_status.h"
#include "common/version.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace faultline::agent {
namespace {

// Copies a value or converts an error; the one shape every handler shares.
template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

AuditRecord NewRecord(const char* rpc) {
  AuditRecord record;
  record.time = absl::Now();
  record.rpc = rpc;
  return record;
}

// The fault spec as it goes into an audit line: proto3 JSON with the .proto
// field names, which are the experiment file's names too.
std::string SpecJson(const v1::FaultSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(spec, &json, options).ok()) return "";
  return json;
}

// The subject a refused client certificate claims (gRPC's handshake reads
// it even though it does not verify it), for the audit line.
std::string PresentedSubject(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return "";
  std::vector<grpc::string_ref> subject = auth->FindPropertyValues("x509_subject");
  if (subject.empty()) return "";
  return std::string(subject[0].data(), subject[0].size());
}

}  // namespace

AgentServiceImpl::AgentServiceImpl(FaultManager* manager, KindsFn kinds, AccessOptions access)
    : manager_(manager), kinds_(std::move(kinds)), access_(std::move(access)) {
  if (access_.tls != nullptr && !access_.authorization.configured()) {
    spdlog::warn(
        "no authorization rules: every client with a certificate from the tls ca may apply, "
        "revert and halt any fault");
  }
  if (access_.tls == nullptr && access_.authorization.configured()) {
    bool anonymous = false;
    for (const AuthorizationRule& rule : access_.authorization.rules()) {
      for (const std::string& identity : rule.identities) anonymous |= identity == "anonymous";
    }
    if (!anonymous) {
      spdlog::warn(
          "authorization rules name no \"anonymous\" identity but the listener has no tls: "
          "every call will be refused");
    }
  }
}

absl::Status AgentServiceImpl::Admit(const grpc::ServerContext& context, Action action,
                                     absl::string_view kind, AuditRecord* record) const {
  PeerIdentity peer;
  if (access_.tls != nullptr) {
    absl::StatusOr<PeerIdentity> verified = access_.tls->VerifyPeer(context);
    if (!verified.ok()) {
      record->identity = "unauthenticated";
      record->peer = PeerAddress(context.peer());
      record->presented_subject = PresentedSubject(context);
      return verified.status();
    }
    peer = *std::move(verified);
  } else {
    peer = AnonymousPeer(context);
  }
  record->identity = peer.Name();
  record->authenticated = peer.authenticated;
  record->peer = peer.address;
  return access_.authorization.Decide(peer, action, kind);
}

void AgentServiceImpl::Audit(AuditRecord record, const absl::Status& result) const {
  if (access_.audit == nullptr) return;
  record.elapsed = std::chrono::milliseconds(absl::ToInt64Milliseconds(absl::Now() - record.time));
  record.result = result;
  if (absl::Status written = access_.audit->Append(record); !written.ok()) {
    spdlog::error("audit line lost rpc={} identity={} code={} error={}", record.rpc,
                  record.identity, absl::StatusCodeToString(result.code()),
                  std::string(written.message()));
  }
}

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
  AuditRecord record = NewRecord("Apply");
  record.fault_id = request->fault_id();
  record.run_id = request->run_id();
  record.kind = KindName(request->spec());
  record.has_dry_run = true;
  record.dry_run = request->dry_run();
  if (access_.audit != nullptr) record.params_json = SpecJson(request->spec());
  if (absl::Status admitted = Admit(*context, Action::kApply, record.kind, &record);
      !admitted.ok()) {
    Audit(std::move(record), admitted);
    return ToGrpcStatus(admitted);
  }
  ApplyOrigin origin;
  origin.caller_address = PeerAddress(context->peer());
  origin.control_port = control_port_;
  absl::StatusOr<v1::ApplyResponse> result = manager_->Apply(*request, origin);
  Audit(std::move(record), result.status());
  return Reply(std::move(result), response);
}

grpc::Status AgentServiceImpl::Revert(grpc::ServerContext* context,
                                      const v1::RevertRequest* request,
                                      v1::RevertResponse* response) {
  AuditRecord record = NewRecord("Revert");
  record.fault_id = request->fault_id();
  if (absl::Status admitted = Admit(*context, Action::kRevert, "", &record); !admitted.ok()) {
    Audit(std::move(record), admitted);
    return ToGrpcStatus(admitted);
  }
  absl::StatusOr<v1::RevertResponse> result = manager_->Revert(request->fault_id());
  if (result.ok() && result->has_fault()) {
    record.run_id = result->fault().run_id();
    record.kind = result->fault().kind();
  }
  Audit(std::move(record), result.status());
  return Reply(std::move(result), response);
}

grpc::Status AgentServiceImpl::List(grpc::ServerContext* context, const v1::ListRequest* request,
                                    v1::ListResponse* response) {
  AuditRecord record = NewRecord("List");
  record.run_id = request->run_id();
  if (absl::Status admitted = Admit(*context, Action::kList, "", &record); !admitted.ok()) {
    Audit(std::move(record), admitted);
    return ToGrpcStatus(admitted);
  }
  *response = manager_->List(request->run_id());
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::RenewLease(grpc::ServerContext* context,
                                          const v1::RenewLeaseRequest* request,
                                          v1::RenewLeaseResponse* response) {
  // uint64 on the wire; anything beyond int64 is far above max_duration and
  // the manager rejects it.
  const uint64_t ttl_ms =
      std::min<uint64_t>(request->ttl_ms(), std::numeric_limits<int64_t>::max());
  AuditRecord record = NewRecord("RenewLease");
  record.run_id = request->run_id();
  record.ttl_ms = static_cast<int64_t>(ttl_ms);
  if (absl::Status admitted = Admit(*context, Action::kRenew, "", &record); !admitted.ok()) {
    Audit(std::move(record), admitted);
    return ToGrpcStatus(admitted);
  }
  absl::StatusOr<v1::RenewLeaseResponse> result = manager_->RenewLease(
      request->run_id(), std::chrono::milliseconds(static_cast<int64_t>(ttl_ms)));
  Audit(std::move(record), result.status());
  return Reply(std::move(result), response);
}

grpc::Status AgentServiceImpl::Capabilities(grpc::ServerContext* context,
                                            const v1::CapabilitiesRequest*,
                                            v1::CapabilitiesResponse* response) {
  AuditRecord record = NewRecord("Capabilities");
  if (absl::Status admitted = Admit(*context, Action::kCapabilities, "", &record);
      !admitted.ok()) {
    Audit(std::move(record), admitted);
    return ToGrpcStatus(admitted);
  }
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

grpc::Status AgentServiceImpl::Halt(grpc::ServerContext* context, const v1::HaltRequest* request,
                                    v1::HaltResponse* response) {
  AuditRecord record = NewRecord("Halt");
  record.reason = request->reason().empty() ? "halt" : request->reason();
  if (absl::Status admitted = Admit(*context, Action::kHalt, "", &record); !admitted.ok()) {
    Audit(std::move(record), admitted);
    return ToGrpcStatus(admitted);
  }
  *response = manager_->Halt(record.reason);
  Audit(std::move(record), absl::OkStatus());
  return grpc::Status::OK;
}

}  // namespace faultline::agent
