#include "controller/run/agent_client.h"

#include <algorithm>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "google/protobuf/descriptor.h"

namespace faultline::controller {

namespace {

// "network_delay" (the FaultSpec oneof field) -> "network.delay".
std::string KindOf(const v1::FaultSpec& spec) {
  const google::protobuf::OneofDescriptor* oneof =
      spec.GetDescriptor()->FindOneofByName("kind");
  const google::protobuf::FieldDescriptor* field =
      oneof == nullptr ? nullptr : spec.GetReflection()->GetOneofFieldDescriptor(spec, oneof);
  if (field == nullptr) return "";
  std::string kind = field->name();
  if (const size_t underscore = kind.find('_'); underscore != std::string::npos) {
    kind[underscore] = '.';
  }
  return kind;
}

bool Mentions(absl::string_view message, std::initializer_list<absl::string_view> words) {
  const std::string lower = absl::AsciiStrToLower(message);
  for (absl::string_view w : words) {
    if (absl::StrContains(lower, w)) return true;
  }
  return false;
}

// What a transport failure most likely means when the two sides disagree
// about TLS, "" when the error does not look like that.
std::string TlsHint(const absl::Status& status, const AgentTransport& transport,
                    const std::string& address) {
  if (status.code() != absl::StatusCode::kUnavailable &&
      status.code() != absl::StatusCode::kInternal &&
      status.code() != absl::StatusCode::kUnknown) {
    return "";
  }
  if (absl::StartsWith(address, "unix:")) return "";
  const absl::string_view m = status.message();
  if (!transport.tls()) {
    // A TLS server drops a plaintext HTTP/2 preface without a word: the
    // connection was accepted, then closed.
    if (Mentions(m, {"socket closed", "connection reset", "end of tcp stream", "broken pipe",
                     "eof", "handshake"})) {
      return "; the connection was accepted and then dropped: the agent probably requires TLS "
             "(set tls: {ca, cert, key} in the inventory or pass --tls-ca/--tls-cert/--tls-key)";
    }
    return "";
  }
  if (Mentions(m, {"wrong_version_number", "wrong version number", "http_request",
                   "record layer failure"})) {
    return "; the TLS handshake failed: the agent probably does not use TLS (it listens in "
           "plaintext); start it with its tls files or drop tls from the inventory";
  }
  if (Mentions(m, {"ssl", "handshake", "certificate", "tls", "socket closed", "connection reset"})) {
    return absl::StrCat(
        "; the TLS handshake failed: check that the agent uses TLS, that its certificate chains "
        "to the configured tls ca and that it names ",
        transport.server_name.empty() ? "the address's host" : transport.server_name,
        " (server_name)");
  }
  return "";
}

}  // namespace

AgentClient::AgentClient(std::string name, std::string address,
                         std::chrono::milliseconds deadline, AgentTransport transport)
    : name_(std::move(name)),
      address_(std::move(address)),
      deadline_(deadline),
      transport_(std::move(transport)) {
  NewChannel();
}

void AgentClient::NewChannel() {
  std::shared_ptr<grpc::Channel> channel;
  if (transport_.tls()) {
    TlsFiles names;
    names.server_name = transport_.server_name;
    channel = grpc::CreateCustomChannel(address_, transport_.credentials,
                                        ChannelArgumentsFor(names));
  } else {
    channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  }
  stub_ = v1::AgentService::NewStub(channel);
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
    absl::Status error = FromGrpcStatus(status);
    const std::string hint = TlsHint(error, transport_, address_);
    if (!hint.empty()) error = absl::Status(error.code(), absl::StrCat(error.message(), hint));
    return Annotate(error, absl::StrCat("agent ", name_, " (", address_, "): ", what));
  }
  return response;
}

void AgentClient::Observe(const char* rpc, const std::string& fault_id,
                          const std::string& run_id, const std::string& kind, bool dry_run,
                          const absl::Status& result,
                          std::chrono::steady_clock::time_point start) const {
  if (!observer_) return;
  AgentCallRecord record;
  record.agent = name_;
  record.address = address_;
  record.rpc = rpc;
  record.fault_id = fault_id;
  record.run_id = run_id;
  record.kind = kind;
  record.dry_run = dry_run;
  record.result = result;
  record.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  observer_(record);
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
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<v1::ApplyResponse> response = Call<v1::ApplyRequest, v1::ApplyResponse>(
      "apply", request, &v1::AgentService::Stub::Apply);
  Observe("Apply", request.fault_id(), request.run_id(), KindOf(request.spec()),
          request.dry_run(), response.status(), start);
  return response;
}

absl::StatusOr<v1::RevertResponse> AgentClient::Revert(const std::string& fault_id) {
  const auto start = std::chrono::steady_clock::now();
  v1::RevertRequest request;
  request.set_fault_id(fault_id);
  absl::StatusOr<v1::RevertResponse> response = Call<v1::RevertRequest, v1::RevertResponse>(
      "revert", request, &v1::AgentService::Stub::Revert);
  Observe("Revert", fault_id, response.ok() ? response->fault().run_id() : "",
          response.ok() ? response->fault().kind() : "", false, response.status(), start);
  return response;
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
  const auto start = std::chrono::steady_clock::now();
  // A renewal slower than a third of the TTL is as good as lost.
  absl::StatusOr<v1::RenewLeaseResponse> response =
      Call<v1::RenewLeaseRequest, v1::RenewLeaseResponse>(
          "renew lease", request, &v1::AgentService::Stub::RenewLease,
          std::min(deadline_, std::max(std::chrono::milliseconds(100), ttl / 3)));
  Observe("RenewLease", "", run_id, "", false, response.status(), start);
  return response;
}

absl::StatusOr<v1::HaltResponse> AgentClient::Halt(const std::string& reason) {
  const auto start = std::chrono::steady_clock::now();
  v1::HaltRequest request;
  request.set_reason(reason);
  absl::StatusOr<v1::HaltResponse> response =
      Call<v1::HaltRequest, v1::HaltResponse>("halt", request, &v1::AgentService::Stub::Halt);
  Observe("Halt", "", "", "", false, response.status(), start);
  return response;
}

absl::StatusOr<AgentTls> AgentTls::Create(const Inventory* inventory, const TlsFiles& flags) {
  AgentTls tls;
  tls.flag_server_name_ = flags.server_name;
  if (inventory != nullptr) {
    tls.inventory_server_name_ = inventory->tls.server_name;
    for (const InventoryAgent& agent : inventory->agents) {
      if (!agent.server_name.empty()) tls.agent_server_names_[agent.name] = agent.server_name;
    }
  }
  TlsFiles files;
  std::string origin;
  if (!flags.ca.empty() || !flags.cert.empty() || !flags.key.empty()) {
    if (flags.ca.empty() || flags.cert.empty() || flags.key.empty()) {
      return absl::InvalidArgumentError(
          "--tls-ca, --tls-cert and --tls-key must be given together");
    }
    files = flags;
    origin = "--tls-ca/--tls-cert/--tls-key";
  } else if (inventory != nullptr && inventory->tls.enabled()) {
    files.ca = inventory->tls.ca;
    files.cert = inventory->tls.cert;
    files.key = inventory->tls.key;
    const SourceLocation& at = inventory->tls.where;
    origin = at.line > 0 ? absl::StrCat(at.file, ":", at.line, ":", at.column, ": tls")
                         : absl::StrCat("inventory ", inventory->path, ": tls");
  } else {
    return tls;
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(files);
  if (!credentials.ok()) return Annotate(credentials.status(), origin);
  tls.credentials_ = std::move(*credentials);
  absl::StatusOr<std::string> subject = CertificateSubject(files.cert);
  tls.identity_ = subject.ok() ? *subject : files.cert;
  return tls;
}

AgentTransport AgentTls::For(const std::string& inventory_name, const std::string& address) const {
  AgentTransport transport;
  if (credentials_ == nullptr || absl::StartsWith(address, "unix:")) return transport;
  transport.credentials = credentials_;
  if (!flag_server_name_.empty()) {
    transport.server_name = flag_server_name_;
  } else if (auto it = agent_server_names_.find(inventory_name); it != agent_server_names_.end()) {
    transport.server_name = it->second;
  } else {
    transport.server_name = inventory_server_name_;
  }
  return transport;
}

}  // namespace faultline::controller
