#include "tests/alertmanager.h"

#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "tests/prometheus.h"

namespace faultline::testing {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string Config(const std::string& webhook_url) {
  const std::string receiver = webhook_url.empty() ? "null" : "webhook";
  std::string config = absl::StrCat(
      "route:\n  receiver: \"", receiver, "\"\n  group_by: [\"alertname\"]\n",
      "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n",
      "receivers:\n  - name: \"null\"\n");
  if (!webhook_url.empty()) {
    absl::StrAppend(&config, "  - name: \"webhook\"\n    webhook_configs:\n",
                    "      - url: \"", webhook_url, "\"\n        send_resolved: true\n");
  }
  return config;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AlertmanagerServer>> AlertmanagerServer::Start(
    const std::string& webhook_url, milliseconds ready_timeout) {
  if (access(kBinary, X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kBinary, " not found: install the Debian package prometheus-alertmanager"));
  }
  std::string last_log;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::unique_ptr<AlertmanagerServer> server(new AlertmanagerServer());
    const std::string config_path = server->dir_.File("alertmanager.yml");
    std::ofstream(config_path) << Config(webhook_url);
    server->port_ = FreeLoopbackPort();
    if (server->port_ == 0) return absl::UnavailableError("no free loopback port");
    server->child_ = Child({kBinary, "--config.file=" + config_path,
                            "--storage.path=" + server->dir_.File("data"),
                            absl::StrCat("--web.listen-address=127.0.0.1:", server->port_),
                            "--cluster.listen-address=", "--log.level=info"},
                           server->dir_.File("alertmanager.log"));
    if (WaitReady(server->port_, &server->child_, ready_timeout)) return server;
    last_log = server->Log();
    if (server->child_.running()) {
      return absl::UnavailableError(absl::StrCat("alertmanager on port ", server->port_,
                                                 " not ready within ", ready_timeout.count(),
                                                 " ms; log:\n", LogTail(last_log)));
    }
    if (last_log.find("address already in use") == std::string::npos) break;
  }
  return absl::UnavailableError(absl::StrCat("alertmanager exited; log:\n", LogTail(last_log)));
}

AlertmanagerServer::~AlertmanagerServer() = default;

std::string AlertmanagerServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

std::string AlertmanagerServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string AlertmanagerServer::Log() const { return ReadFile(dir_.File("alertmanager.log")); }

}  // namespace faultline::testing
