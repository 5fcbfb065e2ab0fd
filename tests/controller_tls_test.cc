// Mutual TLS on the controller's side, against real processes on loopback
// with certificates from scripts/dev-certs:
//   - `faultline run` with the inventory's `tls:` pauses a process through a
//     TLS agent (the pause is observed in /proc);
//   - a controller certificate set from another CA fails before anything is
//     applied (the process is never paused), saying the TLS handshake failed;
//   - a client certificate that does not chain to the inventory's CA is
//     refused before any agent is dialled (exit 2, file and line named);
//   - a plaintext inventory against the TLS agent fails with the TLS hint;
//   - AgentClient reports a dry-run Apply to its call observer;
//   - `faultline serve` with config tls answers a CLI client with a valid
//     certificate and refuses callers without one, or with an expired one
//     (Unauthenticated, with the reason), keeps serving across a SIGHUP tls
//     reload; a non-local plaintext listen is refused unless --insecure.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "common/tls.h"
#include "common/tls_testing.h"
#include "controller/run/agent_client.h"
#include "controller/store/sqlite_store.h"
#include "faultline/v1/controller.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/serve_harness.h"
#include "tests/test_util.h"

namespace faultline::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class ControllerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    certs_ = dir_->File("certs");
    ASSERT_TRUE(MakeDevCerts(certs_).ok());
    agent_ = new AgentProcess(StartAgent(
        dir_->File("agent"), dir_->File("agent.log"),
        {"--tls-ca", certs_ + "/ca.pem", "--tls-cert", certs_ + "/agent.pem", "--tls-key",
         certs_ + "/agent.key"}));
    ASSERT_FALSE(agent_->address.empty()) << ReadAll(dir_->File("agent.log"));
  }
  static void TearDownTestSuite() {
    delete agent_;
    delete dir_;
  }

  // An inventory next to the certs dir, `tls_yaml` appended verbatim.
  std::string Inventory(const std::string& name, const std::string& tls_yaml) {
    return WriteFile(*dir_, name,
                     "agents:\n  - {name: web-1, address: \"" + agent_->address +
                         "\", labels: {role: web}}\n" + tls_yaml);
  }

  std::string PauseExperiment(pid_t pid) {
    return WriteFile(*dir_, "pause.yaml",
                     "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: tls-pause}\n"
                     "targets:\n  web: {select: {role: web}, all: true}\n"
                     "method:\n  - {fault: process.pause, params: {pid: " +
                         std::to_string(pid) + "}, duration: 1s, target: web}\n");
  }

  // `faultline run` of a 1 s pause of `victim` against `inventory`; whether
  // the victim was seen stopped (state T) while it ran.
  int Run(const std::string& inventory, Child& victim, bool* paused, std::string* out,
          std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", PauseExperiment(victim.pid()), "--inventory",
                                     inventory, "--journal", dir_->File("journal.db"), "--plain"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::atomic<bool> done{false};
    int code = -1;
    std::thread run([&] {
      code = Faultline(args, out, seconds(60));
      done = true;
    });
    bool seen = false;
    while (!done) {
      seen = seen || ProcessState(victim.pid()) == 'T';
      std::this_thread::sleep_for(milliseconds(10));
    }
    run.join();
    *paused = seen;
    return code;
  }

  static TempDir* dir_;
  static std::string certs_;
  static AgentProcess* agent_;
};

TempDir* ControllerTlsTest::dir_ = nullptr;
std::string ControllerTlsTest::certs_;
AgentProcess* ControllerTlsTest::agent_ = nullptr;

TEST_F(ControllerTlsTest, RunWithInventoryTlsPausesThroughATlsAgent) {
  Child victim = StartVictim(*dir_, "tls-victim-1");
  // Relative paths: resolved against the inventory's directory.
  std::string inventory = Inventory(
      "tls.yaml", "tls: {ca: certs/ca.pem, cert: certs/controller.pem, key: certs/controller.key}\n");
  bool paused = false;
  std::string out;
  EXPECT_EQ(Run(inventory, victim, &paused, &out), 0) << out;
  EXPECT_TRUE(paused) << out;
  EXPECT_THAT(out, HasSubstr("fault.applied"));
  EXPECT_NE(ProcessState(victim.pid()), 'T');

  // Both sides of the audit trail name the controller's certificate: the
  // controller journals each agent call (the preflight dry run, the apply, the revert),
  // the agent appends the same calls to its audit log.
  auto store = controller::OpenSqliteStore(dir_->File("journal.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  auto runs = (*store)->ListRuns(controller::RunFilter());
  ASSERT_TRUE(runs.ok() && !runs->empty());
  auto events = (*store)->Events(runs->front().run_id);
  ASSERT_TRUE(events.ok());
  std::multiset<std::string> journaled;  // "rpc dry_run code"
  for (const auto& e : *events) {
    if (e.type != "agent.call") continue;
    EXPECT_THAT(e.data.value("identity", ""), HasSubstr("CN=faultline-controller")) << e.data;
    EXPECT_EQ(e.data.value("agent", ""), "web-1") << e.data;
    journaled.insert(e.data.value("rpc", "") + (e.data.value("dry_run", false) ? " dry" : "") +
                     " " + e.data.value("code", ""));
  }
  EXPECT_EQ(journaled.count("Apply dry OK"), 1u) << out;
  EXPECT_EQ(journaled.count("Apply OK"), 1u) << out;
  EXPECT_EQ(journaled.count("Revert OK"), 1u) << out;

  std::multiset<std::string> audited;
  std::ifstream audit(dir_->File("agent") + "/audit.jsonl");
  for (std::string line; std::getline(audit, line);) {
    nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(entry.is_object()) << line;
    if (entry.value("run_id", "") != runs->front().run_id) continue;
    EXPECT_THAT(entry.value("identity", ""), HasSubstr("CN=faultline-controller")) << line;
    EXPECT_TRUE(entry.value("authenticated", false)) << line;
    audited.insert(entry.value("rpc", "") + (entry.value("dry_run", false) ? " dry" : "") + " " +
                   entry.value("code", ""));
  }
  EXPECT_EQ(audited.count("Apply dry OK"), 1u);
  EXPECT_EQ(audited.count("Apply OK"), 1u);
}

TEST_F(ControllerTlsTest, OtherCaFailsBeforeAnythingIsApplied) {
  Child victim = StartVictim(*dir_, "tls-victim-2");
  std::string inventory =
      Inventory("other.yaml",
                "tls: {ca: certs/other-ca/ca.pem, cert: certs/other-ca/controller.pem, "
                "key: certs/other-ca/controller.key}\n");
  bool paused = false;
  std::string out;
  EXPECT_EQ(Run(inventory, victim, &paused, &out), 3) << out;
  EXPECT_FALSE(paused) << out;
  EXPECT_THAT(out, HasSubstr("nothing was injected"));
  EXPECT_THAT(out, HasSubstr("certificate verify failed"));
  EXPECT_THAT(out, HasSubstr("the TLS handshake failed"));
  EXPECT_THAT(out, Not(HasSubstr("fault.applied")));
}

TEST_F(ControllerTlsTest, CertFromAnotherCaThanTheInventorysIsRefusedBeforeDialling) {
  Child victim = StartVictim(*dir_, "tls-victim-3");
  std::string inventory = Inventory("mixed.yaml",
                                    "tls:\n  ca: certs/ca.pem\n  cert: certs/other-ca/controller.pem\n"
                                    "  key: certs/other-ca/controller.key\n");
  bool paused = false;
  std::string out;
  EXPECT_EQ(Run(inventory, victim, &paused, &out), 2) << out;
  EXPECT_FALSE(paused);
  EXPECT_THAT(out, HasSubstr("mixed.yaml:4:3: tls: tls cert "));
  EXPECT_THAT(out, HasSubstr("other-ca/controller.pem is not signed by ca"));

  // The same through the flags, with an expired certificate.
  out.clear();
  EXPECT_EQ(Run(Inventory("plain-flags.yaml", ""), victim, &paused, &out,
                {"--tls-ca", certs_ + "/ca.pem", "--tls-cert", certs_ + "/expired.pem",
                 "--tls-key", certs_ + "/expired.key"}),
            2)
      << out;
  EXPECT_FALSE(paused);
  EXPECT_THAT(out, HasSubstr("--tls-ca/--tls-cert/--tls-key: tls cert"));
  EXPECT_THAT(out, HasSubstr("expired at"));
}

TEST_F(ControllerTlsTest, PlaintextInventoryAgainstTlsAgentSaysTls) {
  Child victim = StartVictim(*dir_, "tls-victim-4");
  bool paused = false;
  std::string out;
  EXPECT_EQ(Run(Inventory("plain.yaml", ""), victim, &paused, &out), 3) << out;
  EXPECT_FALSE(paused);
  EXPECT_THAT(out, HasSubstr("the agent probably requires TLS"));
}

TEST_F(ControllerTlsTest, AgentClientReportsCallsToItsObserver) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(DevCertFiles(certs_, "controller"));
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  controller::AgentTransport transport;
  transport.credentials = *credentials;
  controller::AgentClient client("web-1", agent_->address, seconds(5), transport);
  std::vector<controller::AgentCallRecord> calls;
  client.set_call_observer(
      [&](const controller::AgentCallRecord& r) { calls.push_back(r); });
  Child victim = StartVictim(*dir_, "tls-victim-5");
  v1::ApplyRequest request;
  request.set_fault_id("observer-1");
  request.set_run_id("observer-run");
  request.set_duration_ms(1000);
  request.set_dry_run(true);
  request.mutable_spec()->mutable_process_pause()->mutable_target()->set_pid(victim.pid());
  absl::StatusOr<v1::ApplyResponse> applied = client.Apply(request);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(client.List("observer-run").ok());  // not a mutating call
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].agent, "web-1");
  EXPECT_EQ(calls[0].address, agent_->address);
  EXPECT_EQ(calls[0].rpc, "Apply");
  EXPECT_EQ(calls[0].fault_id, "observer-1");
  EXPECT_EQ(calls[0].run_id, "observer-run");
  EXPECT_EQ(calls[0].kind, "process.pause");
  EXPECT_TRUE(calls[0].dry_run);
  EXPECT_TRUE(calls[0].result.ok());
  EXPECT_NE(ProcessState(victim.pid()), 'T');  // a dry run changes nothing
}

// A ControllerService call over TLS presenting `cert`/`key` ("" = none).
grpc::Status ListRuns(const std::string& address, const std::string& ca_pem,
                      const std::string& cert_pem, const std::string& key_pem) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem;
  options.pem_cert_chain = cert_pem;
  options.pem_private_key = key_pem;
  auto stub = v1::ControllerService::NewStub(
      grpc::CreateChannel(address, grpc::SslCredentials(options)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  v1::ListRunsResponse response;
  return stub->ListRuns(&context, v1::ListRunsRequest(), &response);
}

TEST_F(ControllerTlsTest, ServeWithTlsAnswersOnlyVerifiedClients) {
  const std::string config = WriteFile(
      *dir_, "serve.yaml",
      "listen: 127.0.0.1:0\njournal: serve-journal.db\n"
      "tls: {ca: certs/ca.pem, cert: certs/serve.pem, key: certs/serve.key}\n");
  ServeProcess serve = StartServe(*dir_, config, dir_->File("serve.log"));
  ASSERT_FALSE(serve.address.empty()) << ReadAll(dir_->File("serve.log"));

  std::string out;
  EXPECT_EQ(Faultline({"schedules", "--server", serve.address, "--tls-ca", certs_ + "/ca.pem",
                       "--tls-cert", certs_ + "/controller.pem", "--tls-key",
                       certs_ + "/controller.key"},
                      &out, seconds(20)),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("No schedules configured."));

  const std::string ca = ReadAll(certs_ + "/ca.pem");
  grpc::Status valid = ListRuns(serve.address, ca, ReadAll(certs_ + "/controller.pem"),
                                ReadAll(certs_ + "/controller.key"));
  EXPECT_TRUE(valid.ok()) << valid.error_message();
  grpc::Status none = ListRuns(serve.address, ca, "", "");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  EXPECT_THAT(none.error_message(), HasSubstr("no client certificate"));
  grpc::Status expired = ListRuns(serve.address, ca, ReadAll(certs_ + "/expired.pem"),
                                  ReadAll(certs_ + "/expired.key"));
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::UNAUTHENTICATED) << expired.error_message();
  EXPECT_THAT(expired.error_message(), HasSubstr("expired"));

  // SIGHUP re-reads the tls files and keeps serving (it stops serve only
  // without tls).
  serve.child.Signal(SIGHUP);
  EXPECT_TRUE(Eventually(
      [&] { return ReadAll(dir_->File("serve.log")).find("reloaded tls files") != std::string::npos; },
      seconds(5)));
  EXPECT_TRUE(serve.child.running());
  grpc::Status after_reload = ListRuns(serve.address, ca, ReadAll(certs_ + "/controller.pem"),
                                       ReadAll(certs_ + "/controller.key"));
  EXPECT_TRUE(after_reload.ok()) << after_reload.error_message();

  // A plaintext CLI is told serve wants TLS.
  out.clear();
  EXPECT_NE(Faultline({"schedules", "--server", serve.address}, &out, seconds(20)), 0);
  EXPECT_THAT(out, HasSubstr("serve probably requires TLS"));
  StopServe(serve);
}

TEST_F(ControllerTlsTest, ServeRefusesANonLocalPlaintextListen) {
  const std::string config = WriteFile(*dir_, "serve-open.yaml",
                                       "listen: 0.0.0.0:0\njournal: open-journal.db\n");
  std::string out;
  EXPECT_EQ(Faultline({"serve", "--config", config}, &out, seconds(20)), 2) << out;
  EXPECT_THAT(out, HasSubstr("serve refuses to listen on 0.0.0.0:0 without tls"));
  EXPECT_THAT(out, HasSubstr("--insecure"));
}

}  // namespace
}  // namespace faultline::testing
