// A real Prometheus server for tests: the Debian `prometheus` binary started
// on 127.0.0.1 with a free port, a temporary TSDB directory and a generated
// configuration that scrapes the given targets every second (scrape timeout
// 800 ms, so a target that stops answering shows up=0 within about 2 s),
// optionally with alerting rules (evaluated every second) and an
// Alertmanager to send firing alerts to (tests/alertmanager.h).
//
// Tests use it to check PromQL probes against the real query API and to watch
// a fault break a metric. Everything it starts is stopped by the destructor:
// the process is killed by pid and the directory removed. Not thread-safe;
// Query/WaitFor may be called from one thread at a time.
#ifndef FAULTLINE_TESTS_PROMETHEUS_H_
#define FAULTLINE_TESTS_PROMETHEUS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/test_util.h"

namespace faultline::testing {

struct ScrapeTarget {
  std::string job{};      // job label, e.g. "demo"
  std::string address{};  // "127.0.0.1:PORT", scraped at /metrics
};

// Optional parts of the generated configuration (for alerting tests).
struct PrometheusOptions {
  // Content of one rule file (`groups: [...]`), evaluated every second; "" =
  // no rules.
  std::string rules{};
  // "127.0.0.1:PORT" of an Alertmanager that firing alerts are sent to; "" =
  // none.
  std::string alertmanager{};
  std::chrono::milliseconds ready_timeout{std::chrono::seconds(30)};
};

// A loopback port the kernel considers free right now (bind port 0, read it
// back, release it); 0 if none. A server started on it may still lose a race
// with another process: callers retry on "address already in use".
int FreeLoopbackPort();

// Polls GET http://127.0.0.1:`port`/-/ready (Prometheus and Alertmanager
// both answer it) every 50 ms until it answers 200 (true), `child` exits or
// `timeout` passes (false).
bool WaitReady(int port, Child* child, std::chrono::milliseconds timeout);

// The last 2000 characters of a server log, for error messages.
std::string LogTail(const std::string& text);

class PrometheusServer {
 public:
  // Where the binary lives (Debian package `prometheus`).
  static constexpr const char* kBinary = "/usr/bin/prometheus";

  // As below, with rules and an Alertmanager from `options`.
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(
      const std::vector<ScrapeTarget>& targets, const PrometheusOptions& options);

  // Starts Prometheus and waits until GET /-/ready answers 200. A port taken
  // between choosing and binding is retried with another (up to 5 times).
  // FailedPrecondition when the binary is missing; Unavailable when it exits
  // or is not ready within `ready_timeout` (the message has the log's tail).
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(
      const std::vector<ScrapeTarget>& targets,
      std::chrono::milliseconds ready_timeout = std::chrono::seconds(30));

  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT"
  int port() const { return port_; }
  pid_t pid() const { return child_.pid(); }
  std::string Log() const;  // Prometheus' own log so far

  // One instant query: the value when the result is a scalar or a vector of
  // exactly one series; nullopt otherwise (error, no series, several).
  std::optional<double> Query(const std::string& promql);

  // Polls Query every 200 ms until it returns a value `accept` takes (any
  // value by default) or `timeout` passes; returns that value or nullopt.
  std::optional<double> WaitFor(const std::string& promql, std::chrono::milliseconds timeout,
                                const std::function<bool(double)>& accept = nullptr);

 private:
  PrometheusServer() = default;

  TempDir dir_;  // config, TSDB and log; removed after child_ is killed
  Child child_;
  int port_ = 0;
};

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_PROMETHEUS_H_
