// CheckTlsFiles against every kind of bad file scripts/dev-certs can make,
// the local-address rule, and ServerTls over a real loopback gRPC server:
// who VerifyPeer lets in, and a reload to a new CA without restarting.
#include "common/tls.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_join.h"
#include "common/tls_testing.h"
#include "faultline/v1/agent.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// Two independent dev-certs sets (two CAs), each made on first use (ctest
// runs every test in its own process; dev-certs takes ~0.4 s).
class TlsTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    if (root_ == nullptr) return;
    fs::remove_all(*root_);
    delete root_;
    root_ = nullptr;
  }
  void SetUp() override {
    dir_ = Root() / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }

  static fs::path Root() {
    if (root_ == nullptr) {
      std::string templ = (fs::temp_directory_path() / "faultline-tls-XXXXXX").string();
      if (::mkdtemp(templ.data()) == nullptr) ADD_FAILURE() << "mkdtemp";
      root_ = new fs::path(templ);
    }
    return *root_;
  }
  static fs::path Set(const std::string& name) {
    const fs::path dir = Root() / name;
    if (!fs::exists(dir / "ca.pem")) {
      absl::Status made = MakeDevCerts(dir);
      if (!made.ok()) ADD_FAILURE() << made;
    }
    return dir;
  }
  static fs::path One() { return Set("one"); }
  static fs::path Two() { return Set("two"); }
  static void Write(const fs::path& path, const std::string& text) {
    std::ofstream(path) << text;
  }

  static fs::path* root_;
  fs::path dir_;
};
fs::path* TlsTest::root_ = nullptr;

// One test for every file check: each ctest process pays for a dev-certs run.
TEST_F(TlsTest, CheckTlsFilesNamesTheFileAndTheProblem) {
  {
    SCOPED_TRACE("GoodFilesPass");
    EXPECT_TRUE(CheckTlsFiles(DevCertFiles(One(), "agent")).ok());
    EXPECT_TRUE(CheckTlsFiles(DevCertFiles(One(), "controller")).ok());
    EXPECT_TRUE(CheckTlsFiles(DevCertFiles(One(), "dashboard")).ok());
    EXPECT_TRUE(CheckTlsFiles(DevCertFiles(One(), "serve")).ok());
  }
  {
    SCOPED_TRACE("MissingFileIsNotFoundAndNamesIt");
    TlsFiles files = DevCertFiles(One(), "agent");
    files.key = (dir_ / "absent.key").string();
    absl::Status status = CheckTlsFiles(files);
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
    EXPECT_THAT(status.message(), HasSubstr(files.key));
    files = DevCertFiles(One(), "agent");
    files.ca = "";
    EXPECT_EQ(CheckTlsFiles(files).code(), absl::StatusCode::kInvalidArgument);
  }
  {
    SCOPED_TRACE("GarbageIsInvalidArgument");
    Write(dir_ / "garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n");
    TlsFiles files = DevCertFiles(One(), "agent");
    files.cert = (dir_ / "garbage.pem").string();
    absl::Status status = CheckTlsFiles(files);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr("tls cert " + files.cert + " holds no PEM certificate"));

    files = DevCertFiles(One(), "agent");
    files.ca = (dir_ / "garbage.pem").string();
    EXPECT_THAT(CheckTlsFiles(files).message(), HasSubstr("tls ca " + files.ca));

    files = DevCertFiles(One(), "agent");
    files.key = (dir_ / "garbage.pem").string();
    status = CheckTlsFiles(files);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr("holds no unencrypted PEM private key"));
  }
  {
    SCOPED_TRACE("KeyOfAnotherCertIsRefused");
    TlsFiles files = DevCertFiles(One(), "agent");
    files.key = (One() / "controller.key").string();
    absl::Status status = CheckTlsFiles(files);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(),
                HasSubstr("tls key " + files.key + " does not match cert " + files.cert));
  }
  {
    SCOPED_TRACE("CertOfAnotherCaIsRefused");
    TlsFiles files = DevCertFiles(One(), "other-ca/controller");
    absl::Status status = CheckTlsFiles(files);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr("is not signed by ca " + files.ca));
    // Nor is a certificate of the first CA trusted by the second.
    files = DevCertFiles(One(), "agent");
    files.ca = (One() / "other-ca" / "ca.pem").string();
    EXPECT_EQ(CheckTlsFiles(files).code(), absl::StatusCode::kInvalidArgument);
  }
  {
    SCOPED_TRACE("ExpiredCertIsRefusedWithItsEndDate");
    absl::Status status = CheckTlsFiles(DevCertFiles(One(), "expired"));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr("expired at 2020-02-01T00:00:00Z"));
  }
  {
    SCOPED_TRACE("CertificateSubject");
    EXPECT_EQ(CertificateSubject((One() / "controller.pem").string()).value_or(""),
              "CN=faultline-controller,O=faultline");
    EXPECT_EQ(CertificateSubject((dir_ / "none.pem").string()).status().code(),
              absl::StatusCode::kNotFound);
  }
}

TEST(IsLocalOnlyAddressTest, LoopbackAndUnixOnly) {
  EXPECT_TRUE(IsLocalOnlyAddress("unix:/run/faultline.sock"));
  EXPECT_TRUE(IsLocalOnlyAddress("unix:///run/faultline.sock"));
  EXPECT_TRUE(IsLocalOnlyAddress("localhost:7431"));
  EXPECT_TRUE(IsLocalOnlyAddress("LOCALHOST:0"));
  EXPECT_TRUE(IsLocalOnlyAddress("127.0.0.1:7431"));
  EXPECT_TRUE(IsLocalOnlyAddress("127.1.2.3:0"));
  EXPECT_TRUE(IsLocalOnlyAddress("[::1]:7431"));
  EXPECT_FALSE(IsLocalOnlyAddress("0.0.0.0:7431"));
  EXPECT_FALSE(IsLocalOnlyAddress("[::]:7431"));
  EXPECT_FALSE(IsLocalOnlyAddress(":7431"));
  EXPECT_FALSE(IsLocalOnlyAddress("198.18.0.1:7431"));
  EXPECT_FALSE(IsLocalOnlyAddress("128.0.0.1:7431"));
  EXPECT_FALSE(IsLocalOnlyAddress("[::ffff:198.18.0.1]:7431"));
  EXPECT_FALSE(IsLocalOnlyAddress("example.org:7431"));
  EXPECT_FALSE(IsLocalOnlyAddress("localhost.example.org:7431"));
  EXPECT_FALSE(IsLocalOnlyAddress("127.0.0.1"));  // no port: not an address we accept
}

// Capabilities answers with the caller's identity: agent_version = Name(),
// hostname = its SANs; or UNAUTHENTICATED with VerifyPeer's reason.
class WhoAmI final : public v1::AgentService::Service {
 public:
  explicit WhoAmI(const ServerTls* tls) : tls_(tls) {}
  grpc::Status Capabilities(grpc::ServerContext* context, const v1::CapabilitiesRequest*,
                            v1::CapabilitiesResponse* response) override {
    absl::StatusOr<PeerIdentity> peer = tls_->VerifyPeer(*context);
    if (!peer.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(peer.status().message()));
    }
    response->set_agent_version(peer->Name());
    response->set_hostname(absl::StrJoin(peer->sans, " "));
    response->set_kernel(peer->address);
    return grpc::Status::OK;
  }

 private:
  const ServerTls* tls_;
};

class TlsServerTest : public TlsTest {
 protected:
  void SetUp() override {
    TlsTest::SetUp();
    // The server reads its files from paths of its own, so the test can
    // replace them and reload.
    fs::create_directories(dir_ / "server");
    for (const char* name : {"ca.pem", "agent.pem", "agent.key"}) {
      fs::copy_file(One() / name, dir_ / "server" / name);
    }
    absl::StatusOr<std::unique_ptr<ServerTls>> tls =
        ServerTls::Create(DevCertFiles(dir_ / "server", "agent"), (dir_ / "snapshot").string());
    ASSERT_TRUE(tls.ok()) << tls.status();
    tls_ = *std::move(tls);
    service_ = std::make_unique<WhoAmI>(tls_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", tls_->credentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  // Capabilities over a fresh channel with `credentials`.
  grpc::Status Call(std::shared_ptr<grpc::ChannelCredentials> credentials,
                    v1::CapabilitiesResponse* response,
                    const grpc::ChannelArguments& args = grpc::ChannelArguments()) {
    auto stub =
        v1::AgentService::NewStub(grpc::CreateCustomChannel(address_, credentials, args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub->Capabilities(&context, v1::CapabilitiesRequest(), response);
  }
  grpc::Status CallWith(const TlsFiles& files, v1::CapabilitiesResponse* response) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        MakeChannelCredentials(files);
    if (!credentials.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "bad files");
    return Call(*credentials, response, ChannelArgumentsFor(files));
  }
  // Client files: `name` of set `dir`, trusting `ca_dir`'s CA. Client files
  // are not checked against the client's own CA by MakeChannelCredentials
  // (they must chain to the CA they trust), so refused certificates are
  // presented through raw SslCredentials.
  std::shared_ptr<grpc::ChannelCredentials> Raw(const fs::path& ca_dir, const fs::path& dir,
                                                const std::string& name) {
    auto read = [](const fs::path& p) {
      std::ifstream in(p);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = read(ca_dir / "ca.pem");
    if (!name.empty()) {
      options.pem_cert_chain = read(dir / (name + ".pem"));
      options.pem_private_key = read(dir / (name + ".key"));
    }
    return grpc::SslCredentials(options);
  }

  std::unique_ptr<ServerTls> tls_;
  std::unique_ptr<WhoAmI> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(TlsServerTest, VerifiedClientGetsItsIdentityAndChecksTheServerName) {
  v1::CapabilitiesResponse response;
  grpc::Status status = CallWith(DevCertFiles(One(), "controller"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.agent_version(), "CN=faultline-controller,O=faultline");
  EXPECT_EQ(response.hostname(), "URI:spiffe://faultline/controller");
  EXPECT_EQ(response.kernel(), "127.0.0.1");

  // The name checked against the server certificate can be overridden.
  TlsFiles files = DevCertFiles(One(), "controller");
  files.server_name = "localhost";
  EXPECT_TRUE(CallWith(files, &response).ok());
  files.server_name = "not-in-the-cert.example";
  EXPECT_EQ(CallWith(files, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsServerTest, RefusedClientsHearWhy) {
  v1::CapabilitiesResponse response;
  grpc::Status status = Call(Raw(One(), One(), ""), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "no client certificate");

  status = Call(Raw(One(), One(), "other-ca/controller"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(),
              HasSubstr("client certificate is not signed by a trusted CA"));

  status = Call(Raw(One(), One(), "expired"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "client certificate expired at 2020-02-01T00:00:00Z");

  // A server certificate is not a client certificate (extended key usage).
  status = Call(Raw(One(), One(), "serve"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("not meant for this use"));

  // Plaintext never reaches the handler.
  status = Call(grpc::InsecureChannelCredentials(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);

  // A client trusting another CA refuses the server.
  status = Call(Raw(Two(), Two(), "controller"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsServerTest, ReloadSwitchesToTheNewCaWithoutRestarting) {
  v1::CapabilitiesResponse response;
  ASSERT_TRUE(CallWith(DevCertFiles(One(), "controller"), &response).ok());
  // The snapshot gRPC reads is private.
  EXPECT_EQ(fs::status(dir_ / "snapshot").permissions(), fs::perms::owner_all);
  EXPECT_EQ(fs::status(dir_ / "snapshot" / "current" / "key.pem").permissions(),
            fs::perms::owner_read | fs::perms::owner_write);

  // A bad set keeps the old one in force.
  Write(dir_ / "server" / "agent.key", "garbage");
  absl::Status reload = tls_->Reload();
  EXPECT_EQ(reload.code(), absl::StatusCode::kInvalidArgument) << reload;
  EXPECT_TRUE(CallWith(DevCertFiles(One(), "controller"), &response).ok());

  for (const char* name : {"ca.pem", "agent.pem", "agent.key"}) {
    fs::copy_file(Two() / name, dir_ / "server" / name, fs::copy_options::overwrite_existing);
  }
  ASSERT_TRUE(tls_->Reload().ok());
  // Clients of the old CA are refused at once (by VerifyPeer, or by the
  // handshake once the new server certificate is presented).
  EXPECT_FALSE(CallWith(DevCertFiles(One(), "controller"), &response).ok());
  // The new server certificate is presented within gRPC's watch interval.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  grpc::Status status;
  do {
    status = CallWith(DevCertFiles(Two(), "controller"), &response);
    if (status.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.agent_version(), "CN=faultline-controller,O=faultline");
}

}  // namespace
}  // namespace faultline
