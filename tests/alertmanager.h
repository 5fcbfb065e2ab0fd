// A real Alertmanager for tests: the Debian `prometheus-alertmanager` binary
// started on 127.0.0.1 with a free port, a temporary --storage.path, gossip
// disabled (--cluster.listen-address=) and a generated configuration that
// routes every alert to a null receiver, or to a webhook when one is given
// (group_wait 0s, group_interval 1s, so a new alert is notified at once).
//
// Drill tests point a PrometheusServer (tests/prometheus.h, option
// `alertmanager`) at it and read firing alerts through its v2 API. The
// destructor kills the process by pid and removes the directory. Not
// thread-safe.
#ifndef FAULTLINE_TESTS_ALERTMANAGER_H_
#define FAULTLINE_TESTS_ALERTMANAGER_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/test_util.h"

namespace faultline::testing {

class AlertmanagerServer {
 public:
  static constexpr const char* kBinary = "/usr/bin/prometheus-alertmanager";

  // Starts Alertmanager and waits until GET /-/ready answers 200 (a port
  // lost to another process is retried up to 5 times). `webhook_url` ""
  // = the null receiver only. FailedPrecondition when the binary is missing;
  // Unavailable when it exits or is not ready in `ready_timeout` (the message
  // has the log's tail).
  static absl::StatusOr<std::unique_ptr<AlertmanagerServer>> Start(
      const std::string& webhook_url = "",
      std::chrono::milliseconds ready_timeout = std::chrono::seconds(30));

  ~AlertmanagerServer();
  AlertmanagerServer(const AlertmanagerServer&) = delete;
  AlertmanagerServer& operator=(const AlertmanagerServer&) = delete;

  std::string url() const;      // "http://127.0.0.1:PORT"
  std::string address() const;  // "127.0.0.1:PORT", for Prometheus' config
  int port() const { return port_; }
  pid_t pid() const { return child_.pid(); }
  std::string Log() const;

 private:
  AlertmanagerServer() = default;

  TempDir dir_;  // config, storage and log; removed after child_ is killed
  Child child_;
  int port_ = 0;
};

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_ALERTMANAGER_H_
