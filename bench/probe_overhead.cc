// Controller overhead per probe evaluation: what one RunProbe costs the
// controller, for each probe kind, against services on loopback that answer
// at once (so the figure is the controller's own work plus one loopback round
// trip, not the service's). Google Benchmark; "Time" is wall time per
// evaluation, "CPU" the calling thread's CPU per evaluation (the servers run
// on their own threads and are not counted).
//
//   faultline-bench-probes [--benchmark_min_time=1]
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "benchmark/benchmark.h"
#include "controller/probes/probe.h"
#include "controller/probes/test_server.h"

namespace faultline::controller {
namespace {

// The demo service's health answer and a Prometheus instant-query answer.
constexpr const char* kHealth = R"({"status":"ok","queue":{"depth":3,"oldest_ms":12}})";
constexpr const char* kPromAnswer =
    R"({"status":"success","data":{"resultType":"vector","result":[)"
    R"({"metric":{"job":"demo"},"value":[1764252000.123,"0.25"]}]}})";

LocalServer& Server() {
  static LocalServer* server = [] {
    auto* s = new LocalServer();
    s->server().Get("/health", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(kHealth, "application/json");
    });
    s->server().Get("/api/v1/query", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(kPromAnswer, "application/json");
    });
    s->Start();
    return s;
  }();
  return *server;
}

// A TCP listener that accepts and closes at once, with a deep backlog: the
// tcp probe only connects, and an HTTP server would park every silent
// connection on a worker until its read timeout.
class AcceptAndClose {
 public:
  AcceptAndClose() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(fd_, 4096) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      std::abort();
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) ::close(client);
        if (client < 0 && stop_) return;
      }
    });
  }
  ~AcceptAndClose() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept4
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void Evaluate(benchmark::State& state, const Probe& probe) {
  InitProbes();
  std::string error;
  for (auto _ : state) {
    ProbeResult result = RunProbe(probe);
    if (!result.ok && error.empty()) error = "a probe failed (the figure would be meaningless): " + result.error;
    benchmark::DoNotOptimize(result);
  }
  if (!error.empty()) state.SkipWithError(error.c_str());
  state.SetItemsProcessed(state.iterations());
}

void BM_HttpStatusOnly(benchmark::State& state) {
  Probe probe;
  probe.kind = ProbeKind::kHttp;
  probe.url = Server().Url("/health");
  Evaluate(state, probe);
}
BENCHMARK(BM_HttpStatusOnly)->UseRealTime();

void BM_HttpRegexJsonLatency(benchmark::State& state) {
  Probe probe;
  probe.kind = ProbeKind::kHttp;
  probe.url = Server().Url("/health");
  probe.body_regex = R"("status":\s*"ok")";
  JsonCheck up;
  up.field = "status";
  up.text = "ok";
  JsonCheck depth;
  depth.field = "queue.depth";
  depth.op = Comparison::kLess;
  depth.is_number = true;
  depth.number = 100;
  probe.json = {up, depth};
  probe.max_latency = std::chrono::milliseconds(500);
  Evaluate(state, probe);
}
BENCHMARK(BM_HttpRegexJsonLatency)->UseRealTime();

void BM_Tcp(benchmark::State& state) {
  AcceptAndClose listener;
  Probe probe;
  probe.kind = ProbeKind::kTcp;
  probe.address = "127.0.0.1:" + std::to_string(listener.port());
  Evaluate(state, probe);
}
BENCHMARK(BM_Tcp)->UseRealTime();

void BM_Prometheus(benchmark::State& state) {
  Probe probe;
  probe.kind = ProbeKind::kPrometheus;
  probe.server = Server().Url();
  probe.query = "rate(demo_errors_total[1m])";
  probe.op = Comparison::kLess;
  probe.value = 1;
  Evaluate(state, probe);
}
BENCHMARK(BM_Prometheus)->UseRealTime();

void BM_ExecTrue(benchmark::State& state) {
  Probe probe;
  probe.kind = ProbeKind::kExec;
  probe.command = "true";
  Evaluate(state, probe);
}
BENCHMARK(BM_ExecTrue)->UseRealTime();

void BM_ExecOutputRegex(benchmark::State& state) {
  Probe probe;
  probe.kind = ProbeKind::kExec;
  probe.command = "echo queue depth 3";
  probe.output_regex = R"(depth [0-9]+)";
  Evaluate(state, probe);
}
BENCHMARK(BM_ExecOutputRegex)->UseRealTime();

}  // namespace
}  // namespace faultline::controller

BENCHMARK_MAIN();
