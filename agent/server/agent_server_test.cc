// AgentServer in-process on 127.0.0.1:0 (and a unix socket) with fake
// faults, exercised over a real gRPC channel: status codes and messages must
// cross the wire intact.
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/access/authorization.h"
#include "agent/manager/fake_fault.h"
#include "agent/server/agent_daemon.h"
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
      (std::filesystem::temp_directory_path() / "faultline-server-test-XXXXXX").string();
  EXPECT_NE(::mkdtemp(templ.data()), nullptr);
  return templ;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

v1::ApplyRequest Request(const std::string& id, const std::string& run = "run1") {
  v1::ApplyRequest request;
  request.set_fault_id(id);
  request.set_run_id(run);
  request.mutable_spec()->mutable_cpu_pressure()->set_load_pct(50);
  request.set_duration_ms(60'000);
  request.set_lease_ttl_ms(10'000);
  return request;
}

class AgentServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    host_ = std::make_shared<FakeHost>();
    config_.listen = "127.0.0.1:0";
    config_.state_dir = dir_ / "state";
    config_.max_faults = 2;
    config_.factory = MakeFakeFactory(host_);
    config_.clock = &clock_;
    config_.reaper_period = milliseconds(0);  // the test calls Tick
    config_.ready_file = (dir_ / "ready").string();
    config_.stressor_path = (dir_ / "no-such-stressor").string();
  }

  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->manager().active_count(), 0u);
    }
    server_.reset();
    EXPECT_TRUE(host_->applied().empty());
    std::filesystem::remove_all(dir_);
  }

  void StartServer() {
    absl::StatusOr<std::unique_ptr<AgentServer>> server = AgentServer::Start(config_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::AgentService::NewStub(channel_);
  }

  grpc::Status Apply(const v1::ApplyRequest& request, v1::ApplyResponse* response = nullptr) {
    grpc::ClientContext context;
    v1::ApplyResponse ignored;
    return stub_->Apply(&context, request, response != nullptr ? response : &ignored);
  }
  grpc::Status Revert(const std::string& id, v1::RevertResponse* response) {
    grpc::ClientContext context;
    v1::RevertRequest request;
    request.set_fault_id(id);
    return stub_->Revert(&context, request, response);
  }
  v1::ListResponse List(const std::string& run = "") {
    grpc::ClientContext context;
    v1::ListRequest request;
    request.set_run_id(run);
    v1::ListResponse response;
    EXPECT_TRUE(stub_->List(&context, request, &response).ok());
    return response;
  }
  grpc::Status Renew(const std::string& run, uint64_t ttl_ms, v1::RenewLeaseResponse* response) {
    grpc::ClientContext context;
    v1::RenewLeaseRequest request;
    request.set_run_id(run);
    request.set_ttl_ms(ttl_ms);
    return stub_->RenewLease(&context, request, response);
  }
  v1::HaltResponse Halt(const std::string& reason) {
    grpc::ClientContext context;
    v1::HaltRequest request;
    request.set_reason(reason);
    v1::HaltResponse response;
    EXPECT_TRUE(stub_->Halt(&context, request, &response).ok());
    return response;
  }

  FakeClock clock_;
  std::filesystem::path dir_;
  std::shared_ptr<FakeHost> host_;
  AgentConfig config_;
  std::unique_ptr<AgentServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
};

TEST_F(AgentServerTest, ReadyFileHoldsTheBoundAddress) {
  StartServer();
  EXPECT_THAT(server_->address(), StartsWith("127.0.0.1:"));
  EXPECT_NE(server_->address(), "127.0.0.1:0");
  EXPECT_EQ(ReadFile(dir_ / "ready"), server_->address() + "\n");
  server_->Stop("shutdown");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "ready"));
}

TEST_F(AgentServerTest, ApplyListRenewRevertOverTheWire) {
  StartServer();
  v1::ApplyResponse applied;
  ASSERT_TRUE(Apply(Request("f1"), &applied).ok());
  EXPECT_EQ(applied.fault().state(), v1::FAULT_STATE_ACTIVE);
  EXPECT_FALSE(applied.already_active());
  EXPECT_TRUE(host_->IsApplied("f1"));

  ASSERT_TRUE(Apply(Request("f1"), &applied).ok());
  EXPECT_TRUE(applied.already_active());

  v1::ListResponse listed = List();
  ASSERT_EQ(listed.faults_size(), 1);
  EXPECT_EQ(listed.faults(0).observed().at("fake_load_pct"), 42.0);
  EXPECT_EQ(List("other").faults_size(), 0);

  v1::RenewLeaseResponse renewed;
  ASSERT_TRUE(Renew("run1", 20'000, &renewed).ok());
  EXPECT_EQ(renewed.active_faults(), 1u);
  EXPECT_EQ(renewed.expires_unix_ms(), ToUnixMillis(clock_.Now()) + 20'000);

  v1::RevertResponse reverted;
  ASSERT_TRUE(Revert("f1", &reverted).ok());
  EXPECT_TRUE(reverted.was_active());
  EXPECT_EQ(reverted.fault().state(), v1::FAULT_STATE_REVERTED);
  EXPECT_EQ(reverted.fault().revert_reason(), "request");
  ASSERT_TRUE(Revert("f1", &reverted).ok());
  EXPECT_FALSE(reverted.was_active());
  EXPECT_EQ(List().faults_size(), 0);
}

TEST_F(AgentServerTest, StatusCodesCrossTheWireIntact) {
  StartServer();
  ASSERT_TRUE(Apply(Request("f1")).ok());

  v1::ApplyRequest changed = Request("f1");
  changed.mutable_spec()->mutable_cpu_pressure()->set_load_pct(80);
  grpc::Status status = Apply(changed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr("fault f1 is already active"));

  ASSERT_TRUE(Apply(Request("f2")).ok());
  status = Apply(Request("f3"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), "agent fault cap reached: 2 active (max_faults)");

  v1::ApplyRequest bad = Request("f4");
  bad.set_duration_ms(0);
  status = Apply(bad);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "fault f4: duration_ms must be > 0");

  v1::RevertResponse reverted;
  ASSERT_TRUE(Revert("f2", &reverted).ok());
  host_->FailPrepare("f5", absl::NotFoundError("no process named worker"));
  status = Apply(Request("f5"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "prepare cpu.pressure id=f5: no process named worker");

  // The lease of run1 (10s) runs out: the run's faults go, and the run is
  // refused from then on.
  clock_.Advance(milliseconds(10'000));
  std::vector<v1::FaultStatus> ticked = server_->manager().Tick();
  ASSERT_EQ(ticked.size(), 1u);
  EXPECT_EQ(ticked[0].revert_reason(), "lease");
  v1::RenewLeaseResponse renewed;
  status = Renew("run1", 0, &renewed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "lease for run run1 expired; its faults were reverted");
  status = Renew("run2", UINT64_MAX, &renewed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  host_->FailRevert("f9", absl::OkStatus());
  ASSERT_TRUE(Apply(Request("f9", "run9")).ok());
  host_->FailRevert("f9", absl::UnavailableError("cgroup busy"));
  status = Revert("f9", &reverted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "revert cpu.pressure id=f9: cgroup busy");
  host_->FailRevert("f9", absl::OkStatus());
  ASSERT_TRUE(Revert("f9", &reverted).ok());
}

TEST_F(AgentServerTest, HaltRevertsEverythingAndReportsErrors) {
  StartServer();
  ASSERT_TRUE(Apply(Request("f1", "run1")).ok());
  ASSERT_TRUE(Apply(Request("f2", "run2")).ok());
  host_->FailRevert("f2", absl::InternalError("stuck"));
  v1::HaltResponse halted = Halt("operator pressed stop");
  ASSERT_EQ(halted.reverted_size(), 1);
  EXPECT_EQ(halted.reverted(0).fault_id(), "f1");
  EXPECT_EQ(halted.reverted(0).revert_reason(), "operator pressed stop");
  ASSERT_EQ(halted.errors_size(), 1);
  EXPECT_EQ(halted.errors(0), "revert cpu.pressure id=f2: stuck");

  host_->FailRevert("f2", absl::OkStatus());
  halted = Halt("");
  ASSERT_EQ(halted.reverted_size(), 1);
  EXPECT_EQ(halted.reverted(0).revert_reason(), "halt");
  EXPECT_EQ(List().faults_size(), 0);
}

TEST_F(AgentServerTest, CapabilitiesDescribeTheAgent) {
  StartServer();
  grpc::ClientContext context;
  v1::CapabilitiesResponse caps;
  ASSERT_TRUE(stub_->Capabilities(&context, v1::CapabilitiesRequest(), &caps).ok());
  EXPECT_EQ(caps.agent_version(), "0.1.0");
  EXPECT_FALSE(caps.hostname().empty());
  EXPECT_FALSE(caps.kernel().empty());
  EXPECT_EQ(caps.max_faults(), 2u);
  EXPECT_EQ(caps.default_lease_ttl_ms(), 15'000u);
  ASSERT_EQ(caps.kinds_size(), static_cast<int>(KnownKinds().size()));
  EXPECT_EQ(caps.kinds(0).kind(), "cpu.pressure");
  EXPECT_EQ(caps.kinds(1).kind(), "memory.pressure");
  EXPECT_EQ(caps.kinds(2).kind(), "process.kill");
  EXPECT_EQ(caps.kinds(3).kind(), "process.pause");
  // No stressor at the configured path: the stressor kinds say so.
  EXPECT_FALSE(caps.kinds(0).available());
  EXPECT_THAT(caps.kinds(0).reason(), HasSubstr("no-such-stressor"));
  ASSERT_GT(caps.kinds(0).engines_size(), 0);
  EXPECT_EQ(caps.kinds(0).engines(caps.kinds(0).engines_size() - 1), "stressor");
  EXPECT_EQ(caps.kinds(2).engines(0), "pidfd");
  // Network kinds report what this kernel offers (detected at start).
  EXPECT_EQ(caps.kinds(8).kind(), "network.bandwidth");
  EXPECT_TRUE(caps.kinds(8).available()) << caps.kinds(8).reason();
  EXPECT_THAT(caps.kinds(8).engines(), ::testing::Contains("htb"));
}

TEST_F(AgentServerTest, StopRevertsAndStopsServing) {
  StartServer();
  ASSERT_TRUE(Apply(Request("f1")).ok());
  v1::HaltResponse halted = server_->Stop("shutdown");
  ASSERT_EQ(halted.reverted_size(), 1);
  EXPECT_EQ(halted.reverted(0).revert_reason(), "shutdown");
  EXPECT_FALSE(host_->IsApplied("f1"));
  EXPECT_EQ(server_->Stop("shutdown").reverted_size(), 0);  // idempotent

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::CapabilitiesResponse caps;
  grpc::Status status = stub_->Capabilities(&context, v1::CapabilitiesRequest(), &caps);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AgentServerTest, DestructorRevertsEverything) {
  StartServer();
  ASSERT_TRUE(Apply(Request("f1")).ok());
  server_.reset();
  EXPECT_FALSE(host_->IsApplied("f1"));
}

TEST_F(AgentServerTest, RecoversAStateFileAtStart) {
  StartServer();
  ASSERT_TRUE(Apply(Request("f1")).ok());
  std::filesystem::path state2 = dir_ / "state2";
  std::filesystem::create_directories(state2);
  std::filesystem::copy_file(config_.state_dir / "state.json", state2 / "state.json");
  server_.reset();

  auto host2 = std::make_shared<FakeHost>();
  AgentConfig config2 = config_;
  config2.state_dir = state2;
  config2.factory = MakeFakeFactory(host2);
  config2.ready_file.clear();
  absl::StatusOr<std::unique_ptr<AgentServer>> server2 = AgentServer::Start(config2);
  ASSERT_TRUE(server2.ok()) << server2.status();
  ASSERT_EQ((*server2)->recovered().size(), 1u);
  EXPECT_EQ((*server2)->recovered()[0].state(), v1::FAULT_STATE_REVERTED);
  EXPECT_EQ(host2->Count("revert f1"), 1);
}

TEST_F(AgentServerTest, CorruptStateFileIsSurvived) {
  std::filesystem::create_directories(config_.state_dir);
  std::ofstream(config_.state_dir / "state.json") << "garbage";
  StartServer();
  EXPECT_TRUE(std::filesystem::exists(config_.state_dir / "state.json.corrupt-1700000000"));
  ASSERT_TRUE(Apply(Request("f1")).ok());
  v1::RevertResponse reverted;
  ASSERT_TRUE(Revert("f1", &reverted).ok());
}

TEST_F(AgentServerTest, RefusesASecondAgentOnTheSameStateDirOrPort) {
  StartServer();
  AgentConfig same_dir = config_;
  same_dir.ready_file.clear();
  EXPECT_EQ(AgentServer::Start(same_dir).status().code(), absl::StatusCode::kFailedPrecondition);

  AgentConfig same_port = config_;
  same_port.state_dir = dir_ / "other-state";
  same_port.ready_file.clear();
  same_port.listen = server_->address();
  absl::StatusOr<std::unique_ptr<AgentServer>> second = AgentServer::Start(same_port);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(server_->address()));
}

TEST_F(AgentServerTest, BadConfigIsInvalidArgument) {
  AgentConfig bad = config_;
  bad.listen = "localhost";
  EXPECT_EQ(AgentServer::Start(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = config_;
  bad.max_faults = 0;
  EXPECT_EQ(AgentServer::Start(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = config_;
  bad.memory_reserve_pct = 100;
  EXPECT_EQ(AgentServer::Start(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunAgentDaemon(bad), 2);
}

TEST_F(AgentServerTest, ServesOnAUnixSocketReplacingAStaleOne) {
  const std::string path = (dir_ / "agent.sock").string();
  {
    // A socket file left by a dead agent: bound, never listening, closed.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  config_.listen = "unix:" + path;
  StartServer();
  EXPECT_EQ(server_->address(), "unix:" + path);
  EXPECT_EQ(ReadFile(dir_ / "ready"), "unix:" + path + "\n");
  auto perms = std::filesystem::status(path).permissions() & std::filesystem::perms::all;
  EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ASSERT_TRUE(Apply(Request("f1")).ok());
  EXPECT_EQ(List().faults_size(), 1);

  // A live agent's socket is never taken over.
  AgentConfig second = config_;
  second.state_dir = dir_ / "other-state";
  second.ready_file.clear();
  EXPECT_EQ(AgentServer::Start(second).status().code(), absl::StatusCode::kFailedPrecondition);
  v1::RevertResponse reverted;
  ASSERT_TRUE(Revert("f1", &reverted).ok());
}

TEST_F(AgentServerTest, RefusesToReplaceAFileThatIsNotASocket) {
  const std::string path = (dir_ / "not-a-socket").string();
  std::ofstream(path) << "keep me";
  config_.listen = "unix:" + path;
  absl::StatusOr<std::unique_ptr<AgentServer>> server = AgentServer::Start(config_);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadFile(path), "keep me");
}

TEST(PeerAddressTest, KeepsOnlyTheIpAddress) {
  EXPECT_EQ(PeerAddress("ipv4:127.0.0.1:40312"), "127.0.0.1");
  EXPECT_EQ(PeerAddress("ipv6:[2001:db8::1]:443"), "2001:db8::1");
  EXPECT_EQ(PeerAddress("ipv6:[::ffff:198.18.0.1]:5000"), "198.18.0.1");
  EXPECT_EQ(PeerAddress("ipv6:[::1]:7431"), "::1");
  EXPECT_EQ(PeerAddress("unix:/run/faultline/agent.sock"), "");
  EXPECT_EQ(PeerAddress("unix:"), "");
  EXPECT_EQ(PeerAddress("ipv4:not-an-ip:1"), "");
  EXPECT_EQ(PeerAddress("ipv6:[fe80::1%25eth0]:1"), "");
  EXPECT_EQ(PeerAddress(""), "");
}

// Network faults exempt the control channel: Apply hands the caller's
// address and the bound TCP port to the fault's context (and nothing on a
// unix socket).
TEST_F(AgentServerTest, ApplyPassesTheCallerAndControlPortToTheFault) {
  auto seen = std::make_shared<std::vector<FaultContext>>();
  FaultFactory fake = config_.factory;
  config_.factory = [seen, fake](const v1::FaultSpec& spec, const FaultContext& context) {
    seen->push_back(context);
    return fake(spec, context);
  };
  StartServer();
  ASSERT_TRUE(Apply(Request("f1")).ok());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].caller_address, "127.0.0.1");
  const std::string& address = server_->address();
  EXPECT_EQ(std::to_string((*seen)[0].control_port), address.substr(address.rfind(':') + 1));
  EXPECT_TRUE((*seen)[0].network.detected) << "the agent detects network engines at start";
  EXPECT_EQ(Halt("test").reverted_size(), 1);
  server_.reset();

  seen->clear();
  config_.listen = "unix:" + (dir_ / "agent.sock").string();
  StartServer();
  ASSERT_TRUE(Apply(Request("f2")).ok());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].caller_address, "");
  EXPECT_EQ((*seen)[0].control_port, 0);
  EXPECT_EQ(Halt("test").reverted_size(), 1);
}

std::vector<nlohmann::json> AuditLines(const std::filesystem::path& path) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// Without a config the agent audits mutating calls to <state_dir>/audit.jsonl
// and lets every (anonymous, plaintext) caller do everything.
TEST_F(AgentServerTest, AuditsMutatingCallsInTheStateDirByDefault) {
  StartServer();
  ASSERT_TRUE(Apply(Request("f1")).ok());
  EXPECT_EQ(List().faults_size(), 1);
  EXPECT_EQ(Halt("done").reverted_size(), 1);
  std::vector<nlohmann::json> lines = AuditLines(config_.state_dir / "audit.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["rpc"], "Apply");
  EXPECT_EQ(lines[0]["identity"], "anonymous");
  EXPECT_EQ(lines[0]["peer"], "127.0.0.1");
  EXPECT_EQ(lines[0]["code"], "OK");
  EXPECT_EQ(lines[1]["rpc"], "Halt");
  EXPECT_EQ(lines[1]["reason"], "done");
}

// The config's rules and audit path reach the service: a plaintext caller is
// "anonymous" and gets only what a rule grants.
TEST_F(AgentServerTest, ConfiguredRulesRefuseAndAudit) {
  config_.audit_log = (dir_ / "log" / "audit.jsonl").string();
  config_.authorization = Authorization({AuthorizationRule{
      .name = "local",
      .identities = {"anonymous"},
      .allow = {Action::kApply, Action::kRevert, Action::kList},
      .kinds = {"cpu.*"}}});
  StartServer();
  ASSERT_TRUE(Apply(Request("f1")).ok());
  grpc::ClientContext context;
  v1::HaltResponse halted;
  grpc::Status status = stub_->Halt(&context, v1::HaltRequest(), &halted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "no authorization rule lets anonymous halt (rules: local)");
  EXPECT_TRUE(host_->IsApplied("f1"));
  v1::RevertResponse reverted;
  ASSERT_TRUE(Revert("f1", &reverted).ok());

  std::vector<nlohmann::json> lines = AuditLines(config_.audit_log);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["rpc"], "Apply");
  EXPECT_EQ(lines[1]["rpc"], "Halt");
  EXPECT_EQ(lines[1]["code"], "PERMISSION_DENIED");
  EXPECT_EQ(lines[2]["rpc"], "Revert");
  EXPECT_FALSE(std::filesystem::exists(config_.state_dir / "audit.jsonl"));
}

}  // namespace
}  // namespace faultline::agent
