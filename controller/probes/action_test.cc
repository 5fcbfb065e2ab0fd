#include "controller/probes/action.h"

#include <filesystem>
#include <fstream>
#include <mutex>

#include "controller/probes/test_server.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

RollbackAction Exec(const std::string& command, milliseconds timeout = milliseconds(5000)) {
  RollbackAction a;
  a.kind = RollbackAction::Kind::kExec;
  a.name = "exec";
  a.command = command;
  a.timeout = timeout;
  return a;
}

TEST(ExecActionTest, RunsTheCommandForReal) {
  char dir[] = "/tmp/fl-action-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string marker = std::string(dir) + "/restarted";
  ProbeResult r = RunAction(Exec("echo web > " + marker));
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail, "exit 0");
  std::string content;
  std::ifstream(marker) >> content;
  EXPECT_EQ(content, "web");
  std::filesystem::remove_all(dir);
}

TEST(ExecActionTest, NonZeroExitFailsWithOutput) {
  ProbeResult r = RunAction(Exec("echo 'unit web.service not found' >&2; exit 5"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "exit 5");
  EXPECT_EQ(r.error, "command exited 5 (output: \"unit web.service not found\\n\")");
  EXPECT_EQ(RunAction(Exec("exit 1")).error, "command exited 1");
}

TEST(ExecActionTest, TimeoutKillsIt) {
  ProbeResult r = RunAction(Exec("sleep 10", milliseconds(200)));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "command timed out after 200ms");
  EXPECT_LT(r.latency, milliseconds(1500));
}

class HttpActionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitProbes();
    auto record = [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(req.method + " " + req.path + " [" + req.get_header_value("Content-Type") +
                      "] " + req.body);
      res.status = 204;
    };
    auto& s = server_.server();
    s.Post("/reset", record);
    s.Put("/reset", record);
    s.Delete("/reset", record);
    s.Get("/reset", record);
    s.Post("/fail", [](const httplib::Request&, httplib::Response& res) { res.status = 500; });
    server_.Start();
  }

  RollbackAction Http(const std::string& method, const std::string& path,
                      const std::string& body = "") {
    RollbackAction a;
    a.kind = RollbackAction::Kind::kHttp;
    a.method = method;
    a.url = server_.Url(path);
    a.body = body;
    a.timeout = milliseconds(2000);
    return a;
  }

  LocalServer server_;
  std::mutex mu_;
  std::vector<std::string> seen_;
};

TEST_F(HttpActionTest, SendsMethodAndBody) {
  for (const auto& [method, body] : std::vector<std::pair<std::string, std::string>>{
           {"POST", R"({"mode": "normal"})"}, {"PUT", "plain text"}, {"DELETE", ""}, {"GET", ""},
           {"POST", ""}}) {
    ProbeResult r = RunAction(Http(method, "/reset", body));
    EXPECT_TRUE(r.ok) << method << ": " << r.error;
    EXPECT_EQ(r.detail, "status 204");
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> expected = {
      "POST /reset [application/json] {\"mode\": \"normal\"}", "PUT /reset [text/plain] plain text",
      "DELETE /reset [] ", "GET /reset [] ", "POST /reset [] "};
  EXPECT_EQ(seen_, expected);
}

TEST_F(HttpActionTest, Non2xxFails) {
  ProbeResult r = RunAction(Http("POST", "/fail", "{}"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "status 500");
  EXPECT_EQ(r.error, "POST " + server_.Url("/fail") + ": status 500");
  r = RunAction(Http("POST", "/missing"));
  EXPECT_EQ(r.error, "POST " + server_.Url("/missing") + ": status 404");
}

}  // namespace
}  // namespace faultline::controller
