#include "tests/prometheus.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace faultline::testing {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string Config(const std::vector<ScrapeTarget>& targets, const PrometheusOptions& options,
                   const std::string& rules_path) {
  std::string config =
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\n  evaluation_interval: 1s\n";
  if (!options.rules.empty()) absl::StrAppend(&config, "rule_files: [\"", rules_path, "\"]\n");
  if (!options.alertmanager.empty()) {
    absl::StrAppend(&config, "alerting:\n  alertmanagers:\n    - static_configs:\n",
                    "        - targets: [\"", options.alertmanager, "\"]\n");
  }
  config += "scrape_configs:\n";
  for (const ScrapeTarget& t : targets) {
    absl::StrAppend(&config, "  - job_name: \"", t.job, "\"\n    static_configs:\n",
                    "      - targets: [\"", t.address, "\"]\n");
  }
  if (targets.empty()) config += "  []\n";
  return config;
}

}  // namespace

std::string LogTail(const std::string& text) {
  constexpr size_t kMax = 2000;
  return text.size() > kMax ? text.substr(text.size() - kMax) : text;
}

bool WaitReady(int port, Child* child, milliseconds timeout) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(milliseconds(500));
  client.set_read_timeout(milliseconds(1000));
  const auto deadline = Steady::now() + timeout;
  while (Steady::now() < deadline && child->running()) {
    auto res = client.Get("/-/ready");
    if (res && res->status == 200) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(
    const std::vector<ScrapeTarget>& targets, milliseconds ready_timeout) {
  PrometheusOptions options;
  options.ready_timeout = ready_timeout;
  return Start(targets, options);
}

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(
    const std::vector<ScrapeTarget>& targets, const PrometheusOptions& options) {
  const milliseconds ready_timeout = options.ready_timeout;
  if (access(kBinary, X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kBinary, " not found: install the Debian package prometheus"));
  }
  std::string last_log;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::unique_ptr<PrometheusServer> server(new PrometheusServer());
    const std::string config_path = server->dir_.File("prometheus.yml");
    const std::string rules_path = server->dir_.File("rules.yml");
    if (!options.rules.empty()) std::ofstream(rules_path) << options.rules;
    std::ofstream(config_path) << Config(targets, options, rules_path);
    server->port_ = FreeLoopbackPort();
    if (server->port_ == 0) return absl::UnavailableError("no free loopback port");
    server->child_ = Child({kBinary, "--config.file=" + config_path,
                            "--storage.tsdb.path=" + server->dir_.File("tsdb"),
                            absl::StrCat("--web.listen-address=127.0.0.1:", server->port_),
                            "--log.level=info"},
                           server->dir_.File("prometheus.log"));
    if (WaitReady(server->port_, &server->child_, ready_timeout)) return server;
    last_log = server->Log();
    if (server->child_.running()) {
      return absl::UnavailableError(absl::StrCat("prometheus on port ", server->port_,
                                                 " not ready within ", ready_timeout.count(),
                                                 " ms; log:\n", LogTail(last_log)));
    }
    // Exited: someone took the port between our check and its bind? Retry.
    if (last_log.find("address already in use") == std::string::npos) break;
  }
  return absl::UnavailableError(absl::StrCat("prometheus exited; log:\n", LogTail(last_log)));
}

PrometheusServer::~PrometheusServer() = default;

std::string PrometheusServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

std::string PrometheusServer::Log() const { return ReadFile(dir_.File("prometheus.log")); }

std::optional<double> PrometheusServer::Query(const std::string& promql) {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(milliseconds(1000));
  client.set_read_timeout(milliseconds(2000));
  auto res = client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
  if (!res || res->status != 200) return std::nullopt;
  nlohmann::json doc = nlohmann::json::parse(res->body, nullptr, false);
  if (doc.is_discarded() || doc.value("status", "") != "success") return std::nullopt;
  const nlohmann::json& data = doc["data"];
  const nlohmann::json* pair = nullptr;
  if (data.value("resultType", "") == "scalar") {
    pair = &data["result"];
  } else if (data.value("resultType", "") == "vector" && data["result"].size() == 1) {
    pair = &data["result"][0]["value"];
  }
  if (pair == nullptr || !pair->is_array() || pair->size() != 2 || !(*pair)[1].is_string()) {
    return std::nullopt;
  }
  try {
    return std::stod((*pair)[1].get<std::string>());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> PrometheusServer::WaitFor(const std::string& promql, milliseconds timeout,
                                                const std::function<bool(double)>& accept) {
  const auto deadline = Steady::now() + timeout;
  while (true) {
    std::optional<double> value = Query(promql);
    if (value.has_value() && (!accept || accept(*value))) return value;
    if (Steady::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(200));
  }
}

}  // namespace faultline::testing
