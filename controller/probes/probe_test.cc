#include "controller/probes/probe.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "gtest/gtest.h"
#include "httplib.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;

class HttpProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitProbes();
    server_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
    server_.Get("/broken", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
    });
    server_.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(milliseconds(500));
      res.set_content("late", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  Probe Http(const std::string& path, int status = 200, milliseconds timeout = milliseconds(1000)) {
    Probe p;
    p.name = "p";
    p.kind = ProbeKind::kHttp;
    p.url = "http://127.0.0.1:" + std::to_string(port_) + path;
    p.expect_status = status;
    p.timeout = timeout;
    return p;
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(HttpProbeTest, PassesOnExpectedStatus) {
  ProbeResult r = RunProbe(Http("/health"));
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail, "status 200");
  EXPECT_GT(r.latency.count(), 0);
}

TEST_F(HttpProbeTest, FailsOnOtherStatus) {
  ProbeResult r = RunProbe(Http("/broken"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "expected status 200, got 503");
  EXPECT_TRUE(RunProbe(Http("/broken", 503)).ok);
}

TEST_F(HttpProbeTest, TimesOut) {
  ProbeResult r = RunProbe(Http("/slow", 200, milliseconds(100)));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("Timeout"), std::string::npos) << r.error;
  EXPECT_LT(r.latency, milliseconds(450));
}

// A loopback port with nothing listening: bind, read the port, close.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST_F(HttpProbeTest, TcpConnects) {
  Probe p{.name = "t", .kind = ProbeKind::kTcp};
  p.address = "127.0.0.1:" + std::to_string(port_);
  ProbeResult r = RunProbe(p);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail, "connected");
}

TEST(TcpProbeTest, RefusedFails) {
  Probe p{.name = "t", .kind = ProbeKind::kTcp};
  p.address = "127.0.0.1:" + std::to_string(ClosedPort());
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("Connection refused"), std::string::npos) << r.error;
}

TEST(ExecProbeTest, ExitCodeDecides) {
  Probe p{.name = "e", .kind = ProbeKind::kExec};
  p.command = "true";
  EXPECT_TRUE(RunProbe(p).ok);
  p.command = "exit 3";
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "exit 3");
  EXPECT_EQ(r.error, "command exited 3");
}

TEST(ExecProbeTest, TimeoutKillsTheCommand) {
  Probe p{.name = "e", .kind = ProbeKind::kExec};
  p.command = "sleep 5";
  p.timeout = milliseconds(200);
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "command timed out after 200ms");
  EXPECT_LT(r.latency, milliseconds(1000));
}

}  // namespace
}  // namespace faultline::controller
