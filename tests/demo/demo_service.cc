// faultline-demo: the small HTTP service the quickstart and the end-to-end
// tests inject faults around. GET /health answers 200 "ok"; GET /metrics
// exposes Prometheus text counters. It does nothing else, on purpose: when a
// probe against it fails, the fault is the reason.
//
// With --backend URL it also plays a "worker" that depends on a backend (for
// example another faultline-demo acting as the database): a background thread
// GETs URL every 250 ms (2 s timeout) and exports
//   demo_backend_latency_seconds  gauge: the last request's latency (the
//                                 timeout when it failed); while a request is
//                                 still in flight and has taken longer than
//                                 that, the time it has taken so far, so a
//                                 stalled backend shows at the next scrape
//                                 instead of only after the timeout
//   demo_backend_up               gauge: 1 if the last request got a 2xx, else 0
//   demo_backend_errors_total     counter: failed requests (error or non-2xx)
// Drill tests alert on the latency of a worker whose backend is paused.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace {

httplib::Server* g_server = nullptr;

void Stop(int) {
  if (g_server != nullptr) g_server->stop();
}

constexpr auto kBackendInterval = std::chrono::milliseconds(250);
constexpr auto kBackendTimeout = std::chrono::seconds(2);

// Polls the backend on its own thread; Metrics() is safe from any thread.
class BackendPoller {
 public:
  // `url` is "http://host:port/path" (path defaults to "/").
  explicit BackendPoller(std::string url) : url_(std::move(url)) {}
  ~BackendPoller() { StopPolling(); }

  bool Start() {
    const std::string scheme = "http://";
    if (url_.rfind(scheme, 0) != 0) return false;
    size_t slash = url_.find('/', scheme.size());
    origin_ = url_.substr(0, slash);
    path_ = slash == std::string::npos ? "/" : url_.substr(slash);
    thread_ = std::thread([this] { Loop(); });
    return true;
  }

  void StopPolling() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::string Metrics() {
    std::lock_guard<std::mutex> lock(mu_);
    double latency = last_latency_s_;
    if (in_flight_) {
      double so_far = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                    in_flight_since_)
                          .count();
      if (so_far > latency) latency = so_far;
    }
    return absl::StrCat(
        "# HELP demo_backend_latency_seconds Latency of the last backend request "
        "(the timeout when it failed; the in-flight time when larger).\n",
        "# TYPE demo_backend_latency_seconds gauge\ndemo_backend_latency_seconds ", latency,
        "\n# HELP demo_backend_up 1 if the last backend request succeeded.\n",
        "# TYPE demo_backend_up gauge\ndemo_backend_up ", up_ ? 1 : 0,
        "\n# HELP demo_backend_errors_total Failed backend requests.\n",
        "# TYPE demo_backend_errors_total counter\ndemo_backend_errors_total ", errors_, "\n");
  }

 private:
  void Loop() {
    httplib::Client client(origin_);
    client.set_connection_timeout(kBackendTimeout);
    client.set_read_timeout(kBackendTimeout);
    client.set_write_timeout(kBackendTimeout);
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      in_flight_ = true;
      in_flight_since_ = std::chrono::steady_clock::now();
      lock.unlock();
      auto start = std::chrono::steady_clock::now();
      auto result = client.Get(path_.c_str());
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                           .count();
      bool ok = result && result->status >= 200 && result->status < 300;
      lock.lock();
      in_flight_ = false;
      up_ = ok;
      last_latency_s_ = ok ? elapsed
                           : std::chrono::duration<double>(kBackendTimeout).count();
      if (!ok) ++errors_;
      cv_.wait_for(lock, kBackendInterval, [this] { return stopping_; });
    }
  }

  const std::string url_;
  std::string origin_;
  std::string path_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool in_flight_ = false;
  std::chrono::steady_clock::time_point in_flight_since_{};
  double last_latency_s_ = 0;
  bool up_ = false;
  uint64_t errors_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8080";
  std::string backend;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--listen" && i + 1 < argc) {
      listen = argv[++i];
    } else if (arg == "--backend" && i + 1 < argc) {
      backend = argv[++i];
    } else {
      std::cerr << "usage: faultline-demo [--listen HOST:PORT] [--backend http://HOST:PORT/PATH]\n";
      return 2;
    }
  }
  size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    std::cerr << "faultline-demo: --listen must be HOST:PORT, got " << listen << "\n";
    return 2;
  }
  std::string host = listen.substr(0, colon);

  std::unique_ptr<BackendPoller> poller;
  if (!backend.empty()) {
    poller = std::make_unique<BackendPoller>(backend);
    if (!poller->Start()) {
      std::cerr << "faultline-demo: --backend must be http://HOST:PORT[/PATH], got " << backend
                << "\n";
      return 2;
    }
  }

  std::atomic<uint64_t> requests{0};
  httplib::Server server;
  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    ++requests;
    res.set_content("ok\n", "text/plain");
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(absl::StrCat("# HELP demo_requests_total Health requests served.\n",
                                 "# TYPE demo_requests_total counter\n",
                                 "demo_requests_total ", requests.load(), "\n",
                                 "# HELP demo_up Always 1 while serving.\n",
                                 "# TYPE demo_up gauge\ndemo_up 1\n",
                                 poller ? poller->Metrics() : std::string()),
                    "text/plain; version=0.0.4");
  });
  g_server = &server;
  std::signal(SIGTERM, Stop);
  std::signal(SIGINT, Stop);
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) {
    std::cerr << "faultline-demo: cannot listen on " << listen << "\n";
    return 1;
  }
  std::printf("faultline-demo listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  server.listen_after_bind();
  return 0;
}
