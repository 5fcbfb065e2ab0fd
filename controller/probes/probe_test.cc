#include "controller/probes/probe.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "controller/probes/test_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

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

class HttpProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitProbes();
    auto& s = server_.server();
    s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
    s.Get("/broken", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content(R"({"data": {"state": "down"}})", "application/json");
    });
    s.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(milliseconds(300));
      res.set_content("late", "text/plain");
    });
    s.Get("/state", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"data": {"state": "up", "items": [{"load": 0.5}, {"load": 0.9}]},
                          "version": "1.2.3", "healthy": true, "queue": 12})",
                      "application/json");
    });
    s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(5 << 20, 'x'), "text/plain");
    });
    server_.Start();
  }

  Probe Http(const std::string& path, int status = 200, milliseconds timeout = milliseconds(1000)) {
    Probe p;
    p.name = "p";
    p.kind = ProbeKind::kHttp;
    p.url = server_.Url(path);
    p.expect_status = status;
    p.timeout = timeout;
    return p;
  }

  static JsonCheck Text(const std::string& field, const std::string& text) {
    JsonCheck c;
    c.field = field;
    c.text = text;
    return c;
  }
  static JsonCheck Number(const std::string& field, Comparison op, double v, double high = 0) {
    JsonCheck c;
    c.field = field;
    c.op = op;
    c.is_number = true;
    c.number = v;
    c.number_high = high;
    return c;
  }

  LocalServer server_;
};

TEST_F(HttpProbeTest, PassesOnExpectedStatus) {
  ProbeResult r = RunProbe(Http("/health"));
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail, "status 200");
  EXPECT_EQ(r.error, "");
  EXPECT_FALSE(r.value.has_value());
  EXPECT_GT(r.latency.count(), 0);
}

TEST_F(HttpProbeTest, FailsOnOtherStatus) {
  ProbeResult r = RunProbe(Http("/broken"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "status 503");
  EXPECT_EQ(r.error, "status 503, want 200");
  EXPECT_TRUE(RunProbe(Http("/broken", 503)).ok);
}

TEST_F(HttpProbeTest, TimesOut) {
  ProbeResult r = RunProbe(Http("/slow", 200, milliseconds(100)));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "GET " + server_.Url("/slow") + ": Timeout was reached");
  EXPECT_LT(r.latency, milliseconds(290));
}

TEST_F(HttpProbeTest, BodyRegexIsSearched) {
  Probe p = Http("/health");
  p.body_regex = "^o";
  EXPECT_TRUE(RunProbe(p).ok);
  p.body_regex = "^up$";
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "body does not match \"^up$\" (body: \"ok\")");
  p.body_regex = "(";
  r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "invalid body regex \"(\": missing ): (");
}

TEST_F(HttpProbeTest, JsonChecksPass) {
  Probe p = Http("/state");
  p.json = {Text("data.state", "up"), Number("data.items[1].load", Comparison::kBetween, 0.8, 1),
            Text("healthy", "true"), Number("queue", Comparison::kLess, 100),
            Text("version", "1.2.3")};
  ProbeResult r = RunProbe(p);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail,
            "status 200, data.state=\"up\", data.items[1].load=0.9, healthy=true, queue=12, "
            "version=\"1.2.3\"");
  // The first numeric field is the probe's value.
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(*r.value, 0.9);
}

TEST_F(HttpProbeTest, JsonChecksFailWithEveryReason) {
  Probe p = Http("/state");
  p.json = {Text("data.state", "down"), Number("queue", Comparison::kLessEqual, 10),
            Number("data.items[0].load", Comparison::kGreater, 0.1),
            Text("data.items[2].load", "1")};
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error,
            "json field data.state: got \"up\", want == \"down\"; "
            "json field queue: got 12, want <= 10; "
            "json field data.items[2].load: data.items has 2 elements, no [2]");
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(*r.value, 12);
}

TEST_F(HttpProbeTest, JsonCheckOnNonJsonBody) {
  Probe p = Http("/health");
  p.json = {Text("status", "ok")};
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "body is not JSON: \"ok\"");
}

TEST_F(HttpProbeTest, WrongStatusSkipsBodyChecks) {
  Probe p = Http("/broken");
  p.json = {Text("data.state", "up")};
  p.body_regex = "^never";
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "status 503, want 200");
}

TEST_F(HttpProbeTest, MaxLatencyIsMeasured) {
  Probe p = Http("/slow", 200, milliseconds(2000));
  p.max_latency = milliseconds(100);
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  // The handler sleeps 300 ms; the measured latency is at least that.
  EXPECT_GE(r.latency, milliseconds(300));
  EXPECT_THAT(r.error, MatchesRegex("latency [0-9]+ ms > max 100 ms"));
  int reported = std::atoi(r.error.c_str() + 8);
  EXPECT_GE(reported, 300);
  EXPECT_LT(reported, 2000);
  EXPECT_EQ(reported, (r.latency.count() + 999) / 1000);

  p.max_latency = milliseconds(1500);
  r = RunProbe(p);
  EXPECT_TRUE(r.ok) << r.error;
}

TEST_F(HttpProbeTest, LatencyAndBodyFailuresAreBothReported) {
  Probe p = Http("/slow", 200, milliseconds(2000));
  p.max_latency = milliseconds(50);
  p.body_regex = "early";
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, MatchesRegex("latency [0-9]+ ms > max 50 ms; "
                                    "body does not match \"early\" \\(body: \"late\"\\)"));
}

TEST_F(HttpProbeTest, OversizedBodyFails) {
  ProbeResult r = RunProbe(Http("/big", 200, milliseconds(5000)));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "GET " + server_.Url("/big") + ": response body larger than 4 MiB");
}

TEST_F(HttpProbeTest, TcpConnects) {
  Probe p{.name = "t", .kind = ProbeKind::kTcp};
  p.address = "127.0.0.1:" + std::to_string(server_.port());
  ProbeResult r = RunProbe(p);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail, "connected");
}

TEST(TcpProbeTest, RefusedFails) {
  Probe p{.name = "t", .kind = ProbeKind::kTcp};
  p.address = "127.0.0.1:" + std::to_string(ClosedPort());
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "connect " + p.address + ": Connection refused");
}

// --- exec ---

Probe Exec(const std::string& command, milliseconds timeout = milliseconds(5000)) {
  Probe p{.name = "e", .kind = ProbeKind::kExec};
  p.command = command;
  p.timeout = timeout;
  return p;
}

TEST(ExecProbeTest, ExitCodeDecides) {
  EXPECT_TRUE(RunProbe(Exec("true")).ok);
  ProbeResult r = RunProbe(Exec("exit 3"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "exit 3");
  EXPECT_EQ(r.error, "command exited 3, want 0");
  Probe p = Exec("exit 3");
  p.expect_exit = 3;
  r = RunProbe(p);
  EXPECT_TRUE(r.ok) << r.error;
  p.command = "true";
  EXPECT_EQ(RunProbe(p).error, "command exited 0, want 3");
}

TEST(ExecProbeTest, OutputRegexSeesStdoutAndStderr) {
  Probe p = Exec("echo 'queue depth 3'; echo 'state: OK' >&2");
  p.output_regex = "depth [0-9]+\\n.*OK";
  ProbeResult r = RunProbe(p);
  EXPECT_TRUE(r.ok) << r.error;
  p.output_regex = "state: DEGRADED";
  r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "exit 0");
  EXPECT_EQ(r.error,
            "output does not match \"state: DEGRADED\" (output: \"queue depth 3\\nstate: OK\\n\")");
}

TEST(ExecProbeTest, ExitAndOutputFailuresAreBothReported) {
  Probe p = Exec("echo nope; exit 1");
  p.output_regex = "^yes";
  ProbeResult r = RunProbe(p);
  EXPECT_EQ(r.error,
            "command exited 1, want 0; output does not match \"^yes\" (output: \"nope\\n\")");
}

TEST(ExecProbeTest, LongOutputIsBoundedAndTheTailIsShown) {
  // 3 MiB of output must neither block the command nor be kept whole.
  Probe p = Exec("head -c 3145728 /dev/zero | tr '\\0' a; echo; echo END");
  p.output_regex = "^b";
  ProbeResult r = RunProbe(p);
  EXPECT_EQ(r.detail, "exit 0");
  EXPECT_EQ(r.error, "output does not match \"^b\" (output: \"..." + std::string(120, 'a') + "\")");
  p.output_regex = "END";  // past the first MiB: not seen
  EXPECT_FALSE(RunProbe(p).ok);
}

TEST(ExecProbeTest, SignalIsReported) {
  ProbeResult r = RunProbe(Exec("kill -9 $$"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "signal 9");
  EXPECT_EQ(r.error, "command killed by signal 9");
}

bool Gone(pid_t pid, milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    if (!stat || close == std::string::npos || text[close + 2] == 'Z') return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

TEST(ExecProbeTest, TimeoutKillsTheWholeProcessGroup) {
  char dir[] = "/tmp/fl-probe-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string pid_file = std::string(dir) + "/pid";
  // Long enough for the shell to start and write the pid on a loaded machine.
  Probe p = Exec("sleep 30 & echo $! > " + pid_file + "; wait", milliseconds(1500));
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "command timed out after 1500ms");
  EXPECT_GE(r.latency, milliseconds(1500));
  EXPECT_LT(r.latency, milliseconds(3000));
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(Gone(grandchild, milliseconds(2000))) << "sleep " << grandchild << " survived";
  std::filesystem::remove_all(dir);
}

TEST(ExecProbeTest, BackgroundChildDoesNotHoldTheProbe) {
  // The shell exits at once; the background sleep keeps the output pipe open.
  char dir[] = "/tmp/fl-probe-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string pid_file = std::string(dir) + "/pid";
  Probe p = Exec("sleep 5 & echo $! > " + pid_file + "; echo ready", milliseconds(4000));
  p.output_regex = "ready";
  ProbeResult r = RunProbe(p);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_LT(r.latency, milliseconds(2000));
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  if (grandchild > 0) kill(grandchild, SIGKILL);
  std::filesystem::remove_all(dir);
}

// --- prometheus against a fake HTTP API ---

class PrometheusProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitProbes();
    server_.server().Get("/api/v1/query", [this](const httplib::Request& req,
                                                 httplib::Response& res) {
      std::string query = req.get_param_value("query");
      std::lock_guard<std::mutex> lock(mu_);
      queries_.push_back(query);
      auto it = answers_.find(query);
      if (it == answers_.end()) {
        res.status = 400;
        res.set_content(R"({"status":"error","errorType":"bad_data","error":"unknown query"})",
                        "application/json");
        return;
      }
      res.status = it->second.first;
      res.set_content(it->second.second, "application/json");
    });
    server_.Start();
  }

  void Answer(const std::string& query, const std::string& body, int status = 200) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_[query] = {status, body};
  }
  static std::string Vector(const std::string& series) {
    return R"({"status":"success","data":{"resultType":"vector","result":[)" + series + "]}}";
  }
  static std::string Scalar(const std::string& value) {
    return R"({"status":"success","data":{"resultType":"scalar","result":[1700000000.5,")" +
           value + "\"]}}";
  }
  Probe Prom(const std::string& query, Comparison op, double value, double high = 0) {
    Probe p{.name = "prom", .kind = ProbeKind::kPrometheus};
    p.server = server_.Url();
    p.query = query;
    p.op = op;
    p.value = value;
    p.value_high = high;
    return p;
  }

  LocalServer server_;
  std::mutex mu_;
  std::map<std::string, std::pair<int, std::string>> answers_;
  std::vector<std::string> queries_;
};

TEST_F(PrometheusProbeTest, OneSeriesCompared) {
  Answer("up{job=\"demo\"}",
         Vector(R"({"metric":{"__name__":"up","job":"demo"},"value":[1700000000,"1"]})"));
  ProbeResult r = RunProbe(Prom("up{job=\"demo\"}", Comparison::kEqual, 1));
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail, "value 1 for up{job=\"demo\"}");
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(*r.value, 1);

  r = RunProbe(Prom("up{job=\"demo\"}", Comparison::kLess, 1));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "prometheus: got 1, want < 1");
  EXPECT_EQ(*r.value, 1);
}

TEST_F(PrometheusProbeTest, QueryIsUrlEncodedAndTrailingSlashIgnored) {
  const std::string query = "sum(rate(http_requests_total{code=~\"5..\", path=\"/a b&c\"}[1m]))";
  Answer(query, Scalar("0.25"));
  Probe p = Prom(query, Comparison::kBetween, 0, 0.5);
  p.server += "/";
  ProbeResult r = RunProbe(p);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail, "value 0.25");
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(queries_.size(), 1u);
  EXPECT_EQ(queries_[0], query);
}

TEST_F(PrometheusProbeTest, EveryComparison) {
  Answer("v", Scalar("3"));
  struct Case {
    Comparison op;
    double low, high;
    bool ok;
    std::string error;
  };
  std::vector<Case> cases = {
      {Comparison::kLess, 5, 0, true, ""},
      {Comparison::kLess, 3, 0, false, "prometheus: got 3, want < 3"},
      {Comparison::kLessEqual, 3, 0, true, ""},
      {Comparison::kLessEqual, 2.5, 0, false, "prometheus: got 3, want <= 2.5"},
      {Comparison::kGreater, 2, 0, true, ""},
      {Comparison::kGreater, 3, 0, false, "prometheus: got 3, want > 3"},
      {Comparison::kGreaterEqual, 3, 0, true, ""},
      {Comparison::kGreaterEqual, 4, 0, false, "prometheus: got 3, want >= 4"},
      {Comparison::kEqual, 3, 0, true, ""},
      {Comparison::kEqual, 4, 0, false, "prometheus: got 3, want == 4"},
      {Comparison::kBetween, 1, 5, true, ""},
      {Comparison::kBetween, 3.5, 5, false, "prometheus: got 3, want between 3.5 and 5"},
  };
  for (const Case& c : cases) {
    ProbeResult r = RunProbe(Prom("v", c.op, c.low, c.high));
    EXPECT_EQ(r.ok, c.ok) << ComparisonName(c.op) << " " << c.low;
    EXPECT_EQ(r.error, c.error);
    EXPECT_EQ(r.value, 3.0);
  }
}

TEST_F(PrometheusProbeTest, WrongNumberOfSeriesFails) {
  Answer("none", Vector(""));
  Answer("two", Vector(R"({"metric":{"i":"a"},"value":[1,"1"]},{"metric":{"i":"b"},"value":[1,"0"]})"));
  ProbeResult r = RunProbe(Prom("none", Comparison::kEqual, 1));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "prometheus: query returned 0 series, expected 1");
  EXPECT_FALSE(r.value.has_value());
  r = RunProbe(Prom("two", Comparison::kEqual, 1));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "prometheus: query returned 2 series, expected 1");
}

TEST_F(PrometheusProbeTest, NanFailsEveryComparison) {
  Answer("nan", Scalar("NaN"));
  for (Comparison op : {Comparison::kLess, Comparison::kGreaterEqual, Comparison::kEqual}) {
    ProbeResult r = RunProbe(Prom("nan", op, 1));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.detail, "value NaN");
    EXPECT_EQ(r.error, std::string("prometheus: got NaN, want ") + ComparisonName(op) +
                           " 1 (NaN never compares true)");
    EXPECT_FALSE(r.value.has_value());
  }
}

TEST_F(PrometheusProbeTest, InfinityCompares) {
  Answer("inf", Scalar("+Inf"));
  ProbeResult r = RunProbe(Prom("inf", Comparison::kGreater, 1e9));
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.detail, "value +Inf");
  EXPECT_EQ(r.value, HUGE_VAL);
}

TEST_F(PrometheusProbeTest, ErrorStatusAndBadResponses) {
  Answer("bad(",
         R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"})",
         400);
  ProbeResult r = RunProbe(Prom("bad(", Comparison::kEqual, 1));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error,
            "prometheus: query failed: bad_data: 1:5: parse error: unclosed left parenthesis");

  Answer("gateway", "<html>502 Bad Gateway</html>", 502);
  r = RunProbe(Prom("gateway", Comparison::kEqual, 1));
  EXPECT_EQ(r.error, "prometheus: HTTP 502 from " + server_.Url());

  Answer("range", R"({"status":"success","data":{"resultType":"matrix","result":[]}})");
  r = RunProbe(Prom("range", Comparison::kEqual, 1));
  EXPECT_EQ(r.error, "prometheus: query returned a matrix, expected a scalar or one series");

  Answer("garbage", "not json at all");
  r = RunProbe(Prom("garbage", Comparison::kEqual, 1));
  EXPECT_EQ(r.error, "prometheus: response is not JSON: not json at all");
}

TEST(PrometheusUnreachableTest, NamesTheServer) {
  InitProbes();
  Probe p{.name = "prom", .kind = ProbeKind::kPrometheus};
  p.server = "http://127.0.0.1:" + std::to_string(ClosedPort());
  p.query = "up";
  ProbeResult r = RunProbe(p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "prometheus: " + p.server + ": Couldn't connect to server");
}

}  // namespace
}  // namespace faultline::controller
