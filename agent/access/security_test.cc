// The security test: a real agent server (AgentServer::Start, in process, on
// 127.0.0.1:0, fake faults so no root is needed) with mutual TLS from
// scripts/dev-certs and an authorization config, called over real TLS
// channels by clients without a certificate, with a certificate from another
// CA, with an expired certificate, with a read-only dashboard certificate and
// with the controller's certificate. Asserts the gRPC status each one gets
// AND the audit line each refused or mutating call leaves.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/access/access.h"
#include "agent/manager/fake_fault.h"
#include "agent/server/agent_daemon.h"
#include "common/tls.h"
#include "common/tls_testing.h"
#include "faultline/v1/agent.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace faultline::agent {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::filesystem::path MakeTempDir() {
  std::string templ =
      (std::filesystem::temp_directory_path() / "faultline-security-test-XXXXXX").string();
  EXPECT_NE(::mkdtemp(templ.data()), nullptr);
  return templ;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<nlohmann::json> ReadAudit(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false));
    EXPECT_FALSE(lines.back().is_discarded()) << line;
  }
  return lines;
}

v1::ApplyRequest CpuRequest(const std::string& id) {
  v1::ApplyRequest request;
  request.set_fault_id(id);
  request.set_run_id("run1");
  request.mutable_spec()->mutable_cpu_pressure()->set_load_pct(50);
  request.set_duration_ms(60'000);
  request.set_lease_ttl_ms(10'000);
  return request;
}

constexpr char kAuthorization[] = R"(authorization:
  - name: controllers
    identities: ["CN=faultline-controller"]
    allow: [all]
    kinds: [cpu.pressure, "network.*"]
  - name: dashboards
    identities: ["CN=faultline-dashboard"]
    allow: [read]
)";

Authorization ParseRules(const std::string& text) {
  std::vector<Diagnostic> errors;
  std::optional<YamlNode> root = ParseYaml(text, "agent.yaml", &errors, "agent config");
  EXPECT_TRUE(root.has_value());
  Diagnostics diagnostics;
  std::optional<Authorization> auth = ReadAuthorization(root->entries.at(0).second, &diagnostics);
  EXPECT_TRUE(auth.has_value());
  return auth.value_or(Authorization());
}

class SecurityTest : public ::testing::Test {
 protected:
  // One certificate set for the whole suite (dev-certs takes ~0.3 s).
  static void SetUpTestSuite() {
    certs_ = new std::filesystem::path(MakeTempDir());
    absl::Status made = MakeDevCerts(*certs_);
    ASSERT_TRUE(made.ok()) << made;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*certs_);
    delete certs_;
    certs_ = nullptr;
  }

  void SetUp() override {
    dir_ = MakeTempDir();
    host_ = std::make_shared<FakeHost>();
    config_.listen = "127.0.0.1:0";
    config_.state_dir = dir_ / "state";
    config_.max_faults = 4;
    config_.factory = MakeFakeFactory(host_);
    config_.clock = &clock_;
    config_.reaper_period = milliseconds(0);
    config_.stressor_path = (dir_ / "no-such-stressor").string();
    config_.capabilities = [] { return std::vector<v1::KindCapability>(); };
    audit_path_ = dir_ / "audit" / "agent-audit.jsonl";
  }

  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->manager().active_count(), 0u);
    }
    server_.reset();
    EXPECT_TRUE(host_->applied().empty());
    std::filesystem::remove_all(dir_);
  }

  void StartServer(bool tls, Authorization authorization) {
    AccessOptions access;
    if (tls) {
      absl::StatusOr<std::unique_ptr<ServerTls>> server_tls =
          ServerTls::Create(DevCertFiles(*certs_, "agent"), (dir_ / "tls").string());
      ASSERT_TRUE(server_tls.ok()) << server_tls.status();
      access.tls = *std::move(server_tls);
    }
    access.authorization = std::move(authorization);
    absl::StatusOr<std::unique_ptr<AuditLog>> audit = AuditLog::Open(audit_path_.string());
    ASSERT_TRUE(audit.ok()) << audit.status();
    access.audit = *std::move(audit);
    config_.access = std::move(access);
    absl::StatusOr<std::unique_ptr<AgentServer>> server = AgentServer::Start(config_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // A stub over TLS that trusts the agent's CA and presents `name`'s
  // certificate ("" = none). Built from raw PEM, not MakeChannelCredentials,
  // which would refuse the foreign and expired certificates up front.
  std::unique_ptr<v1::AgentService::Stub> Client(const std::string& name) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(*certs_ / "ca.pem");
    if (!name.empty()) {
      options.pem_cert_chain = ReadFile(*certs_ / (name + ".pem"));
      options.pem_private_key = ReadFile(*certs_ / (name + ".key"));
    }
    return v1::AgentService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::SslCredentials(options)));
  }
  std::unique_ptr<v1::AgentService::Stub> PlaintextClient() {
    return v1::AgentService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  static grpc::Status List(v1::AgentService::Stub* stub) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListResponse response;
    return stub->List(&context, v1::ListRequest(), &response);
  }
  static grpc::Status Apply(v1::AgentService::Stub* stub, const v1::ApplyRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ApplyResponse response;
    return stub->Apply(&context, request, &response);
  }
  static grpc::Status Revert(v1::AgentService::Stub* stub, const std::string& id) {
    grpc::ClientContext context;
    v1::RevertRequest request;
    request.set_fault_id(id);
    v1::RevertResponse response;
    return stub->Revert(&context, request, &response);
  }
  static grpc::Status Halt(v1::AgentService::Stub* stub, v1::HaltResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::HaltRequest request;
    request.set_reason("security test");
    return stub->Halt(&context, request, response);
  }
  static grpc::Status Renew(v1::AgentService::Stub* stub) {
    grpc::ClientContext context;
    v1::RenewLeaseRequest request;
    request.set_run_id("run1");
    request.set_ttl_ms(20'000);
    v1::RenewLeaseResponse response;
    return stub->RenewLease(&context, request, &response);
  }
  static grpc::Status Capabilities(v1::AgentService::Stub* stub) {
    grpc::ClientContext context;
    v1::CapabilitiesResponse response;
    return stub->Capabilities(&context, v1::CapabilitiesRequest(), &response);
  }

  static std::filesystem::path* certs_;
  FakeClock clock_;
  std::filesystem::path dir_;
  std::filesystem::path audit_path_;
  std::shared_ptr<FakeHost> host_;
  AgentConfig config_;
  std::unique_ptr<AgentServer> server_;
};

std::filesystem::path* SecurityTest::certs_ = nullptr;

TEST_F(SecurityTest, RefusedCallersAreRejectedAndAudited) {
  StartServer(/*tls=*/true, ParseRules(kAuthorization));

  // (a) No client certificate: the handshake completes, the handler refuses.
  grpc::Status status = List(Client("").get());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "no client certificate");

  // (b) A certificate from another CA, with the controller's name on it.
  status = Apply(Client("other-ca/controller").get(), CpuRequest("b1"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(),
              StartsWith("client certificate is not signed by a trusted CA"));

  // (c) An expired certificate from the right CA.
  v1::HaltResponse halted;
  status = Halt(Client("expired").get(), &halted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), StartsWith("client certificate expired at 2020-"));

  // (d) The dashboard may read but not apply or halt.
  std::unique_ptr<v1::AgentService::Stub> dashboard = Client("dashboard");
  status = Apply(dashboard.get(), CpuRequest("d1"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "no authorization rule lets CN=faultline-dashboard,O=faultline apply cpu.pressure "
            "(rules: controllers, dashboards)");
  status = Halt(dashboard.get(), &halted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "no authorization rule lets CN=faultline-dashboard,O=faultline halt "
            "(rules: controllers, dashboards)");

  // (e) ...and List and Capabilities are allowed (and not audited).
  EXPECT_TRUE(List(dashboard.get()).ok());
  EXPECT_TRUE(Capabilities(dashboard.get()).ok());

  // (f) The controller applies, renews and reverts; a kind outside its rule
  // is refused before any fault object is made.
  std::unique_ptr<v1::AgentService::Stub> controller = Client("controller");
  status = Apply(controller.get(), CpuRequest("f1"));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(host_->IsApplied("f1"));
  EXPECT_TRUE(Renew(controller.get()).ok());
  v1::ApplyRequest kill = CpuRequest("f2");
  kill.mutable_spec()->mutable_process_kill()->set_count(1);
  status = Apply(controller.get(), kill);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "no authorization rule lets CN=faultline-controller,O=faultline apply process.kill "
            "(rules: controllers, dashboards)");
  EXPECT_EQ(host_->Count("make f2"), 0);
  ASSERT_TRUE(Revert(controller.get(), "f1").ok());

  // A plaintext client cannot even reach a handler of a TLS agent.
  status = List(PlaintextClient().get());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);

  // Nothing the refused callers sent reached the fault factory.
  for (const char* id : {"b1", "d1"}) EXPECT_EQ(host_->Count(std::string("make ") + id), 0) << id;

  std::vector<nlohmann::json> lines = ReadAudit(audit_path_);
  ASSERT_EQ(lines.size(), 9u) << ReadFile(audit_path_);
  struct Expected {
    const char* rpc;
    const char* identity;
    bool authenticated;
    const char* code;
  };
  const Expected expected[] = {
      {"List", "unauthenticated", false, "UNAUTHENTICATED"},
      {"Apply", "unauthenticated", false, "UNAUTHENTICATED"},
      {"Halt", "unauthenticated", false, "UNAUTHENTICATED"},
      {"Apply", "CN=faultline-dashboard,O=faultline", true, "PERMISSION_DENIED"},
      {"Halt", "CN=faultline-dashboard,O=faultline", true, "PERMISSION_DENIED"},
      {"Apply", "CN=faultline-controller,O=faultline", true, "OK"},
      {"RenewLease", "CN=faultline-controller,O=faultline", true, "OK"},
      {"Apply", "CN=faultline-controller,O=faultline", true, "PERMISSION_DENIED"},
      {"Revert", "CN=faultline-controller,O=faultline", true, "OK"},
  };
  for (size_t i = 0; i < std::size(expected); ++i) {
    SCOPED_TRACE(lines[i].dump());
    EXPECT_EQ(lines[i]["rpc"], expected[i].rpc);
    EXPECT_EQ(lines[i]["identity"], expected[i].identity);
    EXPECT_EQ(lines[i]["authenticated"], expected[i].authenticated);
    EXPECT_EQ(lines[i]["code"], expected[i].code);
    EXPECT_EQ(lines[i]["peer"], "127.0.0.1");
    EXPECT_THAT(lines[i]["time"].get<std::string>(), StartsWith("20"));
    EXPECT_GE(lines[i]["elapsed_ms"].get<int64_t>(), 0);
  }
  EXPECT_EQ(lines[0]["message"], "no client certificate");
  EXPECT_EQ(lines[1]["presented_subject"], "CN=faultline-controller,O=faultline");
  EXPECT_EQ(lines[1]["fault_id"], "b1");
  EXPECT_THAT(lines[2]["message"].get<std::string>(), HasSubstr("expired"));
  EXPECT_EQ(lines[3]["kind"], "cpu.pressure");
  EXPECT_EQ(lines[3]["params"]["cpu_pressure"]["load_pct"], 50);
  EXPECT_EQ(lines[3]["dry_run"], false);
  EXPECT_EQ(lines[5]["fault_id"], "f1");
  EXPECT_EQ(lines[5]["run_id"], "run1");
  EXPECT_EQ(lines[6]["ttl_ms"], 20'000);
  EXPECT_EQ(lines[7]["kind"], "process.kill");
}

TEST_F(SecurityTest, RevertAndHaltByTheControllerAreAudited) {
  StartServer(/*tls=*/true, ParseRules(kAuthorization));
  std::unique_ptr<v1::AgentService::Stub> controller = Client("controller");
  v1::ApplyRequest dry = CpuRequest("f1");
  dry.set_dry_run(true);
  ASSERT_TRUE(Apply(controller.get(), dry).ok());
  ASSERT_TRUE(Apply(controller.get(), CpuRequest("f1")).ok());
  ASSERT_TRUE(Revert(controller.get(), "f1").ok());
  ASSERT_TRUE(Apply(controller.get(), CpuRequest("f2")).ok());
  v1::HaltResponse halted;
  ASSERT_TRUE(Halt(controller.get(), &halted).ok());
  EXPECT_EQ(halted.reverted_size(), 1);
  EXPECT_TRUE(List(controller.get()).ok());

  std::vector<nlohmann::json> lines = ReadAudit(audit_path_);
  ASSERT_EQ(lines.size(), 5u) << ReadFile(audit_path_);
  EXPECT_EQ(lines[0]["rpc"], "Apply");
  EXPECT_EQ(lines[0]["dry_run"], true);
  EXPECT_EQ(lines[1]["dry_run"], false);
  EXPECT_EQ(lines[2]["rpc"], "Revert");
  EXPECT_EQ(lines[2]["fault_id"], "f1");
  EXPECT_EQ(lines[2]["kind"], "cpu.pressure");
  EXPECT_EQ(lines[2]["code"], "OK");
  EXPECT_EQ(lines[4]["rpc"], "Halt");
  EXPECT_EQ(lines[4]["reason"], "security test");
  for (const nlohmann::json& line : lines) {
    EXPECT_EQ(line["identity"], "CN=faultline-controller,O=faultline");
  }
}

// Without rules a TLS agent lets every client whose certificate chains to
// its CA do everything, and still refuses the others.
TEST_F(SecurityTest, WithoutRulesEveryVerifiedClientIsAllowed) {
  StartServer(/*tls=*/true, Authorization());
  v1::HaltResponse halted;
  EXPECT_TRUE(Halt(Client("dashboard").get(), &halted).ok());
  EXPECT_EQ(List(Client("expired").get()).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  std::vector<nlohmann::json> lines = ReadAudit(audit_path_);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["rpc"], "Halt");
  EXPECT_EQ(lines[0]["code"], "OK");
  EXPECT_EQ(lines[1]["rpc"], "List");
  EXPECT_EQ(lines[1]["code"], "UNAUTHENTICATED");
}

// On a plaintext listener callers are "anonymous": rules can grant them
// actions by that name, and refuse everything else.
TEST_F(SecurityTest, PlaintextCallersAreAnonymous) {
  StartServer(/*tls=*/false, ParseRules(R"(authorization:
  - name: local
    identities: [anonymous]
    allow: [read, apply]
    kinds: [cpu.pressure]
)"));
  std::unique_ptr<v1::AgentService::Stub> stub = PlaintextClient();
  EXPECT_TRUE(List(stub.get()).ok());
  ASSERT_TRUE(Apply(stub.get(), CpuRequest("f1")).ok());
  grpc::Status status = Revert(stub.get(), "f1");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "no authorization rule lets anonymous revert (rules: local)");
  std::vector<nlohmann::json> lines = ReadAudit(audit_path_);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["identity"], "anonymous");
  EXPECT_EQ(lines[0]["authenticated"], false);
  EXPECT_EQ(lines[1]["rpc"], "Revert");
  EXPECT_EQ(lines[1]["code"], "PERMISSION_DENIED");
  EXPECT_EQ(server_->Stop("test").reverted_size(), 1);
}

}  // namespace
}  // namespace faultline::agent
